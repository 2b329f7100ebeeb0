"""Idempotent start-up data: built-in roles follow the permission catalogue."""

from __future__ import annotations

from domain.identity.roles import ensure_builtin_roles
from domain.shared.db import create_engine, create_session_factory
from domain.shared.settings import Settings


async def seed(settings: Settings, database_url: str) -> None:
    engine = create_engine(database_url, settings, pool_size=1)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            await ensure_builtin_roles(session)
    finally:
        await engine.dispose()
