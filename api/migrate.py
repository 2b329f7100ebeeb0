"""Alembic, driven from code: upgrade to the heads, and tell whether the database is current."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from api.dbroles import grant_runtime, role_of
from domain.shared.db import normalise_database_url

MIGRATIONS_DIR = Path(migrations.__file__).parent


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalise_database_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, runtime_url: str | None = None) -> None:
    """Upgrade to every head (contexts keep their own branches) as the owner, `database_url`, then
    grant the runtime role (the user of `runtime_url`, when another) its privileges on every
    table. Runs its own event loop: call it from a thread when one is already running."""
    command.upgrade(alembic_config(database_url), "heads")
    if runtime_url is not None and role_of(runtime_url) != role_of(database_url):
        asyncio.run(grant_runtime(database_url, role_of(runtime_url)))


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
