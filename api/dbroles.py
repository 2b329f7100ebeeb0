"""Two database roles: the owner, who runs migrations, and the runtime role the API and workers use.

The runtime role owns no table (so it cannot ALTER TABLE ... DISABLE TRIGGER or drop anything), is
no superuser (so no session_replication_role), and may only insert audit events and seals: an
insider holding its credentials cannot rewrite the trail. The grants are one idempotent step run
after `upgrade heads`, so they cover tables whatever migration created them.
"""

from __future__ import annotations

import contextlib
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import asyncpg
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.shared.db import asyncpg_dsn
from domain.shared.settings import ConfigurationError, Settings

# The login role that embedded servers (`forexcrm run`) and the tests create for the runtime.
RUNTIME_ROLE = "forexcrm_runtime"

log = structlog.get_logger(__name__)


def role_of(url: str) -> str:
    """The user a database URL connects as."""
    return unquote(urlsplit(url).username or "")


def with_role(url: str, role: str, password: str | None = None) -> str:
    """The same server and database, connecting as `role`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = quote(role, safe="") + (f":{quote(password, safe='')}" if password else "") + "@" + host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def ensure_login_role(admin: asyncpg.Connection, role: str, password: str | None = None) -> None:
    """Create the runtime login role unless it exists (roles are server-wide; concurrent creators race)."""
    if await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
        return
    pw = "" if password is None else " PASSWORD " + "'" + password.replace("'", "''") + "'"
    with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):  # created meanwhile
        await admin.execute(f"CREATE ROLE {ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS{pw}")


def grant_statements(role: str) -> list[str]:
    r = ident(role)
    return [
        f"GRANT USAGE ON SCHEMA public TO {r}",
        # Everything the application reads and writes, then narrowed below.
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r}",
        f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {r}",
        f"REVOKE UPDATE ON ALL SEQUENCES IN SCHEMA public FROM {r}",
        # The audit trail: insert only. Chain heads move in place (record() updates its partition's
        # head); a rewound head cannot hide rows the runtime cannot delete, and exported seals
        # catch anything an owner does.
        f"REVOKE UPDATE, DELETE ON audit_events, audit_seals FROM {r}",
        f"REVOKE INSERT, DELETE ON audit_chain_heads FROM {r}",
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {r}",
    ]


async def grant_runtime(owner_url: str, role: str) -> None:
    """Give the runtime role exactly its privileges; refuse a role that could rewrite the trail."""
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        found = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls, pg_has_role($1, current_user, 'MEMBER') AS member "
            "FROM pg_roles WHERE rolname = $1", role)
        if found is None:
            raise ConfigurationError(f"the runtime database role {role!r} (DATABASE_URL) does not exist: "
                                     f"CREATE ROLE {role} LOGIN PASSWORD '...' as an administrator")
        if found["rolsuper"] or found["rolbypassrls"] or found["member"]:
            raise ConfigurationError(f"the runtime database role {role!r} is a superuser or a member of the owner "
                                     "role: it could rewrite the audit trail; use a plain login role")
        owned = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = $1)", role)
        if owned:
            names = ", ".join(sorted(r["relname"] for r in owned)[:5])
            raise ConfigurationError(f"the runtime database role {role!r} owns tables ({names}, ...): "
                                     f"REASSIGN OWNED BY {role} TO <owner> before separating the roles")
        async with conn.transaction():
            for statement in grant_statements(role):
                await conn.execute(statement)
    finally:
        await conn.close()


async def runtime_role_problems(engine: AsyncEngine) -> list[str]:
    """What the connected role could do to the audit trail that it must not (empty when separated)."""
    async with engine.connect() as conn:
        if not await conn.scalar(text("SELECT to_regclass('audit_events') IS NOT NULL")):
            return []  # not migrated yet
        row = (await conn.execute(text(
            "SELECT r.rolsuper, pg_get_userbyid(c.relowner) = current_user AS owner, "
            "has_table_privilege('audit_events', 'UPDATE') OR has_table_privilege('audit_events', 'DELETE') "
            "OR has_table_privilege('audit_events', 'TRUNCATE') AS rewrite "
            "FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = 'audit_events'::regclass"
        ))).one()
    problems = []
    if row.rolsuper:
        problems.append("is a superuser")
    if row.owner:
        problems.append("owns the audit tables")
    if row.rewrite:
        problems.append("may update, delete or truncate audit events")
    return problems


async def enforce_runtime_role(settings: Settings, engine: AsyncEngine) -> None:
    """Production refuses a runtime role that could rewrite the audit trail; development warns."""
    problems = await runtime_role_problems(engine)
    if not problems:
        return
    message = ("the database role of DATABASE_URL " + ", ".join(problems) + ": connect the API and workers as "
               "a runtime role and run migrations as the owner (FOREXCRM_MIGRATION_DATABASE_URL)")
    if settings.is_production:
        raise ConfigurationError("refusing to start in production mode: " + message)
    log.warning("database.runtime_role_not_separated", problems=problems)
