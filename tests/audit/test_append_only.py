from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from domain.shared.db import asyncpg_dsn
from domain.shared.settings import Settings
from tests.audit.conftest import write_events


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET reason = 'covered up'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "UPDATE audit_seals SET row_count = 0",
    "DELETE FROM audit_seals",
    "TRUNCATE audit_seals",
])
async def test_trigger_refuses_changes_even_for_the_owner(session_factory: Any, statement: str) -> None:
    await write_events(session_factory, 1)
    with pytest.raises(DBAPIError, match="append-only"):
        async with session_factory() as session, session.begin():
            await session.execute(text(statement))
    async with session_factory() as session:
        assert await session.scalar(text("SELECT count(*) FROM audit_events WHERE reason IS NULL")) == 1


async def test_public_has_no_update_delete_or_truncate(settings: Settings) -> None:
    assert settings.database_url
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        granted = await conn.fetch(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = 'PUBLIC' AND table_name IN ('audit_events', 'audit_seals')")
        acl = await conn.fetchval("SELECT relacl::text FROM pg_class WHERE relname = 'audit_events'")
    finally:
        await conn.close()
    assert granted == []
    # The ACL was made explicit by REVOKE; no "=<privs>/" entry (PUBLIC) remains.
    assert acl is not None and not any(item.startswith("=") for item in acl.strip("{}").split(","))
