"""db.driver(): hot-path statements on the raw asyncpg connection share the session's transaction."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from api.dbroles import RUNTIME_ROLE
from domain.shared.db import (
    NeedsSession,
    asyncpg_dsn,
    autocommit_fetchrow,
    driver,
    in_transaction,
    is_retryable,
    raw_chain,
)
from tests.conftest import TestServices as Services


@pytest.fixture(scope="module", autouse=True)
async def probe_tables(services: Services) -> None:
    """The probes are the owner's tables, written by the runtime role (which may create none)."""
    conn = await asyncpg.connect(asyncpg_dsn(services.owner_url))
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS driver_probe (v int); CREATE TABLE IF NOT EXISTS raw_probe (v int); "
            "CREATE TABLE IF NOT EXISTS raw_probe_deferred (v int UNIQUE DEFERRABLE INITIALLY DEFERRED); "
            f"GRANT SELECT, INSERT, DELETE ON driver_probe, raw_probe, raw_probe_deferred TO {RUNTIME_ROLE}")
    finally:
        await conn.close()


async def test_driver_statements_roll_back_with_the_session(session_factory: Any) -> None:
    async with session_factory() as s:
        await s.begin()
        conn = await driver(s)  # first statement of the transaction: BEGIN must precede it
        await conn.execute("INSERT INTO driver_probe VALUES (1)")
        assert conn.is_in_transaction()
        await s.rollback()
    async with session_factory() as s, s.begin():
        assert await s.scalar(text("SELECT count(*) FROM driver_probe")) == 0
        await (await driver(s)).execute("INSERT INTO driver_probe VALUES (2)")
        assert await s.scalar(text("SELECT sum(v) FROM driver_probe")) == 2  # one transaction, both paths
    async with session_factory() as s, s.begin():
        assert await s.scalar(text("SELECT sum(v) FROM driver_probe")) == 2
        await s.execute(text("DELETE FROM driver_probe"))


async def test_driver_errors_are_retried_like_session_errors(session_factory: Any) -> None:
    attempts = 0

    async def deadlocking(session: Any) -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await (await driver(session)).execute(
                "DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = 'deadlock_detected'; END $$")
        return attempts

    assert await in_transaction(session_factory, deadlocking) == 2
    assert not is_retryable(asyncpg.UniqueViolationError("x"))
    with pytest.raises(asyncpg.UniqueViolationError):
        async def duplicate(session: Any) -> None:
            await (await driver(session)).execute(
                "DO $$ BEGIN RAISE EXCEPTION 'dup' USING ERRCODE = 'unique_violation'; END $$")
        await in_transaction(session_factory, duplicate)


async def test_application_connections_never_jit_compile(session_factory: Any) -> None:
    async with session_factory() as s:
        assert await s.scalar(text("SHOW jit")) == "off"


async def _probe_table(session_factory: Any) -> None:
    async with session_factory() as s, s.begin():
        await s.execute(text("DELETE FROM raw_probe"))


async def _probe_sum(session_factory: Any) -> int:
    async with session_factory() as s:
        return int(await s.scalar(text("SELECT coalesce(sum(v), 0) FROM raw_probe")))


async def _pool_hands_out_clean_connections(session_factory: Any) -> None:
    held = [await session_factory.kw["bind"].raw_connection() for _ in range(3)]
    try:  # whatever connections the pool hands out next are outside any transaction
        assert not any(p.driver_connection.is_in_transaction() for p in held)
    finally:
        for p in held:
            p.close()


async def test_raw_chain_commits_or_rolls_back_and_returns_a_clean_connection(session_factory: Any) -> None:
    await _probe_table(session_factory)
    async with raw_chain(session_factory) as chain:
        s = await chain.begin()
        conn = await driver(s)
        assert conn.is_in_transaction()
        await conn.execute("INSERT INTO raw_probe VALUES (3)")
        await chain.commit()
    assert await _probe_sum(session_factory) == 3
    with pytest.raises(RuntimeError):
        async with raw_chain(session_factory) as chain:
            await (await driver(await chain.begin())).execute("INSERT INTO raw_probe VALUES (4)")
            raise RuntimeError("work failed")
    assert await _probe_sum(session_factory) == 3
    await _pool_hands_out_clean_connections(session_factory)


async def test_raw_chain_begins_the_next_transaction_with_the_commit(session_factory: Any) -> None:
    await _probe_table(session_factory)
    async with raw_chain(session_factory) as chain:
        first = await chain.begin()
        conn = await driver(first)
        await conn.execute("INSERT INTO raw_probe VALUES (1)")
        await chain.commit(then_begin=True)
        assert conn.is_in_transaction() and chain.usable  # the next one is open already
        assert await _probe_sum(session_factory) == 1  # and the first is committed
        second = await chain.begin()
        assert second is not first  # a session per transaction: its info is that transaction's
        await (await driver(second)).execute("INSERT INTO raw_probe VALUES (2)")
        await chain.rollback()
        await chain.commit(then_begin=True)  # begun again, then left unused: rolled back on leaving
    assert await _probe_sum(session_factory) == 1
    await _pool_hands_out_clean_connections(session_factory)


async def test_a_failed_chained_commit_does_not_begin_the_next(session_factory: Any) -> None:
    async with session_factory() as s, s.begin():
        await s.execute(text("DELETE FROM raw_probe_deferred"))
    async with raw_chain(session_factory) as chain:
        conn = await driver(await chain.begin())
        await conn.execute("INSERT INTO raw_probe_deferred VALUES (1), (1)")  # refused only at COMMIT
        with pytest.raises(asyncpg.UniqueViolationError):
            await chain.commit(then_begin=True)
        assert not conn.is_in_transaction() and chain.usable
        await (await driver(await chain.begin())).execute("INSERT INTO raw_probe_deferred VALUES (2)")
        await chain.commit()
    async with session_factory() as s:
        assert (await s.execute(text("SELECT v FROM raw_probe_deferred"))).scalars().all() == [2]


async def test_raw_chain_refuses_the_orm_and_commits_nothing(session_factory: Any) -> None:
    await _probe_table(session_factory)
    with pytest.raises(NeedsSession):
        async with raw_chain(session_factory) as chain:
            s = await chain.begin()
            await (await driver(s)).execute("INSERT INTO raw_probe VALUES (5)")
            await s.execute(text("INSERT INTO raw_probe VALUES (6)"))  # would run on another connection
    assert await _probe_sum(session_factory) == 0


async def test_autocommit_statements_run_alone(session_factory: Any) -> None:
    await _probe_table(session_factory)
    row = await autocommit_fetchrow(session_factory, "INSERT INTO raw_probe VALUES (7) RETURNING v")
    assert row is not None and row["v"] == 7
    with pytest.raises(asyncpg.UndefinedTableError):
        await autocommit_fetchrow(session_factory, "SELECT * FROM raw_probe_missing")
    assert await _probe_sum(session_factory) == 7


async def test_a_burst_beyond_the_pool_returns_every_raw_connection(settings: Any, caplog: Any) -> None:
    """Overflow connections are closed on their way back (thousands of sockets authenticating at once):
    none is left open on the server, nothing is logged, the pool is whole afterwards."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from domain.shared.db import create_engine

    engine = create_engine(settings.database_url, settings.model_copy(update={"db_max_overflow": 6}), pool_size=2)
    factory = async_sessionmaker(bind=engine)
    try:
        rows = await asyncio.gather(*(autocommit_fetchrow(
            factory, "SELECT pg_backend_pid() AS pid, pg_sleep(0.05)") for _ in range(40)))
        used = {r["pid"] for r in rows if r is not None}
        assert 2 < len(used) <= 8  # overflow connections were used
        pool = engine.sync_engine.pool
        assert pool.checkedout() == 0 and pool.checkedin() <= 2  # type: ignore[attr-defined]
        alive = await autocommit_fetchrow(
            factory, "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(used))
        assert alive is not None and alive["n"] <= 2, f"{alive['n'] if alive else '?'} of {len(used)} still open"
        assert "Exception closing connection" not in caplog.text
    finally:
        await engine.dispose()


async def test_a_planned_statement_is_parsed_with_each_run_in_one_round_trip(session_factory: Any) -> None:
    """db.fetch_planned: asyncpg's unnamed statement, types described once per connection and text, then
    marked unprepared (asyncpg's own `_state.mark_unprepared`) so Parse travels with Bind and Execute;
    each run sees its own values, and the connection's entry goes when it closes."""
    from domain.shared import db as dbmod

    sql = "SELECT $1::text || 'x' AS v"
    async with session_factory() as s, s.begin():
        conn = await dbmod.driver(s)
        prepares: list[str] = []
        original = type(conn).prepare

        async def counted(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            prepares.append(query)
            return await original(self, query, *args, **kwargs)

        type(conn).prepare = counted  # type: ignore[method-assign]
        try:
            for i in range(8):
                assert (await dbmod.fetch_planned(conn, sql, str(i)))[0]["v"] == f"{i}x"
                await conn.fetchval("SELECT 1")  # another statement in between
                assert await dbmod.fetchval_planned(conn, sql, "y") == "yx"
        finally:
            type(conn).prepare = original  # type: ignore[method-assign]
        assert prepares == [sql]  # described once: every later run is one round trip
        assert id(conn) in dbmod._unnamed_statements
