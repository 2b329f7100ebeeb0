"""The per-process principal cache: a repeat request reads nothing, and every change that bears on
what a session may do (revocation, step-up, status, flags, second factor, desk, roles, a role's
permissions) drops it, from any connection, by NOTIFY at commit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from domain.identity.errors import StepUpRequired
from domain.identity.principal_cache import PrincipalCache
from domain.identity.sessions import request_principal
from domain.identity.totp import require_step_up
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import asyncpg_dsn
from domain.shared.settings import Settings
from tests.conftest import unique

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def db(settings: Settings, runtime: Any) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own, as another process (a staff API, a job, psql) would change things."""
    assert settings.database_url
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        yield conn
    finally:
        await conn.close()


@pytest_asyncio.fixture
async def cache(settings: Settings) -> AsyncIterator[PrincipalCache]:
    assert settings.database_url
    principals = PrincipalCache(asyncpg_dsn(settings.database_url), ttl_s=30)
    await principals.start()
    try:
        yield principals
    finally:
        await principals.close()


async def _session(db: asyncpg.Connection, *, staff: bool = False) -> tuple[int, int]:
    email = f"{unique('pc')}@example.com"
    user_id = await db.fetchval(
        "INSERT INTO users (email, email_normalized, is_client, is_staff) VALUES ($1, $1, NOT $2, $2) RETURNING id",
        email, staff)
    session_id = await db.fetchval("INSERT INTO auth_sessions (user_id, device) VALUES ($1, 'pytest') RETURNING id",
                                   user_id)
    return int(user_id), int(session_id)


async def test_a_repeat_is_served_from_memory(session_factory: Any, cache: PrincipalCache,
                                              db: asyncpg.Connection) -> None:
    user_id, session_id = await _session(db)
    first = await request_principal(session_factory, user_id, session_id, cache)
    assert first is not None and first.kind is ActorKind.CLIENT
    assert await request_principal(session_factory, user_id, session_id, cache) is first
    assert await request_principal(session_factory, user_id, session_id + 1, cache) is None  # not that user's


@pytest.mark.parametrize("change", [
    "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'test' WHERE id = $2 AND user_id = $1",
    "DELETE FROM auth_sessions WHERE id = $2 AND user_id = $1",
    "UPDATE users SET status = 'disabled' WHERE id = $1 AND $2::bigint IS NOT NULL",
])
async def test_an_ended_session_or_disabled_user_is_refused_at_once(
    session_factory: Any, cache: PrincipalCache, db: asyncpg.Connection, change: str,
) -> None:
    user_id, session_id = await _session(db)
    assert await request_principal(session_factory, user_id, session_id, cache) is not None
    await db.execute(change, user_id, session_id)
    await cache.sync()
    assert cache.get(user_id, session_id) is None
    assert await request_principal(session_factory, user_id, session_id, cache) is None


async def test_granted_roles_and_edited_permissions_apply_at_once(
    session_factory: Any, cache: PrincipalCache, db: asyncpg.Connection,
) -> None:
    user_id, session_id = await _session(db, staff=True)
    await db.execute("UPDATE users SET totp_enabled_at = now() WHERE id = $1", user_id)  # staff need 2FA
    role_id = await db.fetchval("INSERT INTO roles (name, permissions) VALUES ($1, '{clients.read}') RETURNING id",
                                unique("role"))
    before = await request_principal(session_factory, user_id, session_id, cache)
    assert before is not None and before.permissions == frozenset()

    await db.execute("INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)", user_id, role_id)
    await cache.sync()
    granted = await request_principal(session_factory, user_id, session_id, cache)
    assert granted is not None and granted.permissions == {"clients.read"}

    await db.execute("UPDATE roles SET permissions = '{clients.read,clients.write}' WHERE id = $1", role_id)
    await cache.sync()
    edited = await request_principal(session_factory, user_id, session_id, cache)
    assert edited is not None and edited.permissions == {"clients.read", "clients.write"}

    await db.execute("DELETE FROM user_roles WHERE user_id = $1", user_id)
    await cache.sync()
    revoked = await request_principal(session_factory, user_id, session_id, cache)
    assert revoked is not None and revoked.permissions == frozenset()


async def test_step_up_and_desk_changes_apply_at_once(session_factory: Any, cache: PrincipalCache,
                                                     db: asyncpg.Connection) -> None:
    user_id, session_id = await _session(db)
    before = await request_principal(session_factory, user_id, session_id, cache)
    assert before is not None and before.stepped_up_at is None and before.desk is None
    await db.execute("UPDATE auth_sessions SET stepped_up_at = now() WHERE id = $1", session_id)
    await db.execute("UPDATE users SET desk = 'emea' WHERE id = $1", user_id)
    await cache.sync()
    after = await request_principal(session_factory, user_id, session_id, cache)
    assert after is not None and after.stepped_up_at is not None and after.desk == "emea"


async def test_other_changes_keep_the_entry(session_factory: Any, cache: PrincipalCache,
                                            db: asyncpg.Connection) -> None:
    """The last-seen touch and unrelated columns send nothing: the cache is not flushed by traffic."""
    user_id, session_id = await _session(db)
    first = await request_principal(session_factory, user_id, session_id, cache)
    await db.execute("UPDATE auth_sessions SET last_seen_at = now() - interval '2 minutes' WHERE id = $1", session_id)
    await db.execute("UPDATE users SET display_name = 'Renamed' WHERE id = $1", user_id)
    await cache.sync()
    assert await request_principal(session_factory, user_id, session_id, cache) is first


async def test_a_read_that_spans_a_change_is_not_kept(session_factory: Any, cache: PrincipalCache,
                                                      db: asyncpg.Connection) -> None:
    user_id, session_id = await _session(db)
    stale = await request_principal(session_factory, user_id, session_id, None)  # read, not yet kept
    generation = cache.generation
    await db.execute("UPDATE auth_sessions SET revoked_at = now() WHERE id = $1", session_id)
    await cache.sync()
    cache.put(user_id, session_id, stale, generation)  # the read predates the revocation
    assert cache.get(user_id, session_id) is None
    assert await request_principal(session_factory, user_id, session_id, cache) is None


async def test_entries_expire(session_factory: Any, settings: Settings, db: asyncpg.Connection) -> None:
    assert settings.database_url
    cache = PrincipalCache(asyncpg_dsn(settings.database_url), ttl_s=0.05)
    await cache.start()
    try:
        user_id, session_id = await _session(db)
        first = await request_principal(session_factory, user_id, session_id, cache)
        await asyncio.sleep(0.1)
        second = await request_principal(session_factory, user_id, session_id, cache)
        assert second == first and second is not first  # read again
    finally:
        await cache.close()


async def test_nothing_is_served_while_not_listening(session_factory: Any, cache: PrincipalCache,
                                                     db: asyncpg.Connection) -> None:
    """A lost LISTEN connection could miss a revocation: everything is dropped and read afresh
    until the cache listens again."""
    user_id, session_id = await _session(db)
    first = await request_principal(session_factory, user_id, session_id, cache)
    listener_pid = cache.listener_pid
    assert listener_pid is not None
    await db.execute("SELECT pg_terminate_backend($1)", listener_pid)
    deadline = time.monotonic() + 5
    while cache.live and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not cache.live
    assert cache.get(user_id, session_id) is None
    again = await request_principal(session_factory, user_id, session_id, cache)
    assert again == first and again is not first
    assert cache.get(user_id, session_id) is None  # not kept while deaf
    deadline = time.monotonic() + 10
    while not cache.live and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert cache.live  # reconnected by itself
    kept = await request_principal(session_factory, user_id, session_id, cache)
    assert await request_principal(session_factory, user_id, session_id, cache) is kept


async def test_a_step_up_seen_late_is_confirmed_from_the_database(session_factory: Any, settings: Settings,
                                                                  db: asyncpg.Connection) -> None:
    """A principal cached just before a step-up made through another process says 'not stepped up':
    the sensitive operation asks the database before refusing."""
    user_id, session_id = await _session(db)
    actor = Actor(ActorKind.CLIENT, user_id=user_id, session_id=session_id, stepped_up_at=None)
    async with session_factory() as session:
        with pytest.raises(StepUpRequired):
            await require_step_up(session, actor, settings)
    await db.execute("UPDATE auth_sessions SET stepped_up_at = now() WHERE id = $1", session_id)
    async with session_factory() as session:
        await require_step_up(session, actor, settings)
    await db.execute("UPDATE auth_sessions SET stepped_up_at = now() - interval '1 hour' WHERE id = $1", session_id)
    async with session_factory() as session:
        with pytest.raises(StepUpRequired):
            await require_step_up(session, actor, settings)


async def test_another_listeners_probe_changes_nothing(session_factory: Any, cache: PrincipalCache,
                                                       db: asyncpg.Connection) -> None:
    user_id, session_id = await _session(db)
    first = await request_principal(session_factory, user_id, session_id, cache)
    await db.execute("SELECT pg_notify('principal_changed', 'probe-0123456789abcdef')")
    await cache.sync()
    assert await request_principal(session_factory, user_id, session_id, cache) is first


async def test_a_listener_that_stops_answering_is_replaced(session_factory: Any, cache: PrincipalCache,
                                                           db: asyncpg.Connection,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A half-open connection (failover, a dropped NAT entry) looks alive and hears nothing: the
    round trip that should prove it current times out instead, and the cache stops serving."""
    from domain.identity import principal_cache

    user_id, session_id = await _session(db)
    await request_principal(session_factory, user_id, session_id, cache)
    monkeypatch.setattr(principal_cache, "ROUND_TRIP_TIMEOUT_S", 0.2)
    listener = cache._conn
    assert listener is not None

    async def silent(*_args: Any, **_kwargs: Any) -> Any:
        await asyncio.sleep(3600)  # the network swallows the query and its answer

    with monkeypatch.context() as patched:  # only while the cache asks (Connection has slots)
        patched.setattr(asyncpg.Connection, "fetchval", silent)
        started = time.monotonic()
        await cache.sync()  # returns: the caller's mutation is not held up
        assert time.monotonic() - started < 2
    assert not cache.live and cache.get(user_id, session_id) is None
    deadline = time.monotonic() + 10
    while not cache.live and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert cache.live and cache._conn is not listener
