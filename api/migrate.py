"""Alembic, driven from code: upgrade to the heads, and tell whether the database is current."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from domain.shared.db import normalise_database_url

MIGRATIONS_DIR = Path(migrations.__file__).parent


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalise_database_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str) -> None:
    """Upgrade to every head (contexts keep their own branches). Runs its own event loop: call
    it from a thread when one is already running."""
    command.upgrade(alembic_config(database_url), "heads")


def expected_heads() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config("postgresql+asyncpg://unused/unused"))
    return set(script.get_heads())


async def applied_revisions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
        if not exists:
            return set()
        rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
        return {r[0] for r in rows}


async def is_current(engine: AsyncEngine) -> bool:
    return await applied_revisions(engine) == expected_heads()
