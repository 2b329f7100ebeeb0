from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.dbroles import RUNTIME_ROLE, runtime_role_problems
from domain.shared.db import asyncpg_dsn
from domain.shared.settings import Settings
from tests.audit.conftest import write_events
from tests.conftest import TestServices as Services


@pytest.fixture
async def owner(services: Services) -> AsyncIterator[asyncpg.Connection]:
    """The owner of the audit tables (migrations), triggers left on."""
    conn = await asyncpg.connect(asyncpg_dsn(services.owner_url))
    yield conn
    await conn.close()


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET reason = 'covered up'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "UPDATE audit_seals SET row_count = 0",
    "DELETE FROM audit_seals",
    "TRUNCATE audit_seals",
])
async def test_trigger_refuses_changes_even_for_the_owner(
    session_factory: Any, owner: asyncpg.Connection, statement: str
) -> None:
    await write_events(session_factory, 1)
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await owner.execute(statement)
    assert await owner.fetchval("SELECT count(*) FROM audit_events WHERE reason IS NULL") == 1


RUNTIME_REFUSED = [
    "UPDATE audit_events SET reason = 'covered up'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "UPDATE audit_seals SET row_count = 0",
    "DELETE FROM audit_seals",
    "TRUNCATE audit_seals",
    "DELETE FROM audit_chain_heads",
    "UPDATE audit_chain_heads SET seq = 0, hash = decode(repeat('00', 32), 'hex')",  # rewind
    "UPDATE audit_chain_heads SET seq = seq + 5",  # skip ahead
    "TRUNCATE audit_chain_heads",
    "INSERT INTO audit_chain_heads VALUES (64, 0, decode(repeat('00', 32), 'hex'))",
    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    "ALTER TABLE audit_events DISABLE TRIGGER ALL",
    "ALTER TABLE audit_seals DISABLE TRIGGER audit_seals_append_only",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "DROP TABLE audit_events",
    "ALTER TABLE audit_events OWNER TO CURRENT_USER",
    "CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
    "SET session_replication_role = replica",
    "UPDATE alembic_version SET version_num = 'x'",
    "CREATE TABLE shadow (v int)",
]


@pytest.mark.parametrize("statement", RUNTIME_REFUSED)
async def test_the_runtime_role_cannot_rewrite_the_trail(session_factory: Any, statement: str) -> None:
    """The API and workers connect as a role that may only insert audit rows: not the owner (no
    DISABLE TRIGGER), no superuser (no session_replication_role), no UPDATE/DELETE/TRUNCATE."""
    await write_events(session_factory, 1)
    with pytest.raises(DBAPIError, match=r"permission denied|must be owner|must be superuser"):
        async with session_factory() as session, session.begin():
            assert await session.scalar(text("SELECT current_user")) == RUNTIME_ROLE
            await session.execute(text(statement))
    async with session_factory() as session:
        assert await session.scalar(text("SELECT count(*) FROM audit_events WHERE reason IS NULL")) == 1
        assert await session.scalar(text("SELECT count(*) FROM pg_trigger WHERE tgenabled = 'O' "
                                         "AND tgname LIKE 'audit_%_append_only'")) == 2


async def test_the_runtime_role_is_separated(runtime: Any, services: Services) -> None:
    assert await runtime_role_problems(runtime.engine) == []
    conn = await asyncpg.connect(asyncpg_dsn(services.owner_url))
    try:
        owners = await conn.fetch("SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class c "
                                  "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'")
        privileges = {r["privilege_type"] for r in await conn.fetch(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = $1 AND table_name = 'audit_events'", RUNTIME_ROLE)}
    finally:
        await conn.close()
    assert RUNTIME_ROLE not in {r["owner"] for r in owners}
    assert privileges == {"SELECT", "INSERT"}


async def test_production_refuses_a_runtime_role_that_owns_the_trail(services: Services) -> None:
    from domain.shared.settings import ConfigurationError, Mode
    from infra.runtime import open_runtime

    prod = Settings(mode=Mode.PRODUCTION, database_url=services.owner_url, redis_url=services.redis_url)
    with pytest.raises(ConfigurationError, match="FOREXCRM_MIGRATION_DATABASE_URL"):
        await open_runtime(prod, services.owner_url, services.redis_url, start_hub=False)


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


async def test_migrations_refuse_to_grant_a_runtime_role_that_could_rewrite_the_trail(services: Services) -> None:
    from api.dbroles import grant_runtime
    from domain.shared.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="superuser"):
        await grant_runtime(services.owner_url, "postgres")
    with pytest.raises(ConfigurationError, match="does not exist"):
        await grant_runtime(services.owner_url, "forexcrm_no_such_role")
