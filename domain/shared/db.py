"""Database plumbing: declarative base, async engine and session factory.

The transaction boundary belongs to the caller (a mutation or a job): services receive an
`AsyncSession` and never commit it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias, TypeVar

import asyncpg
from sqlalchemy import MetaData, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import greenlet_spawn

from domain.shared.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


SessionFactory = async_sessionmaker[AsyncSession]
T = TypeVar("T")
TxnFn = Callable[[AsyncSession], Awaitable[T]]


def normalise_database_url(url: str) -> str:
    """Accept the usual `postgres://` / `postgresql://` forms and select the asyncpg driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def asyncpg_dsn(url: str) -> str:
    """The same URL in the form asyncpg.connect() accepts (no SQLAlchemy driver suffix)."""
    return normalise_database_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


# A pooled connection idle longer than this is pinged before reuse (a restarted or failed-over
# server leaves dead connections in the pool). Not on every checkout: the asyncpg adaptor's ping
# is three round trips (BEGIN, ;, ROLLBACK), which tripled the cost of a short transaction.
PING_AFTER_IDLE_S = 5.0


def create_engine(url: str, settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    engine = create_async_engine(
        normalise_database_url(url),
        pool_size=pool_size if pool_size is not None else settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            # JIT compiles a plan in 100-250 ms once its estimated cost passes jit_above_cost, against a
            # few ms of execution for this application's reads (measured on the exposure query).
            "server_settings": {"application_name": "forexcrm", "timezone": "UTC", "jit": "off"},
        },
    )
    event.listen(engine.sync_engine.pool, "checkin", _note_checkin)
    event.listen(engine.sync_engine.pool, "checkout", _ping_if_idle)
    return engine


def _note_checkin(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
    idle_since = record.info.get("checked_in_at")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:  # the pool discards this connection and checks out another
        raise DisconnectionError("pooled connection failed its ping") from exc


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


_DRIVER_KEY = "db.driver"
_RAW_KEY = "db.raw"


class NeedsSession(Exception):
    """Work in a driver-only transaction (`raw_chain`) reached for the ORM or SQLAlchemy Core,
    which would run on another connection outside the transaction: nothing of it is committed, and
    the caller runs the work again in an ordinary transaction."""


@event.listens_for(Session, "after_begin")
def _refuse_orm_in_raw_transaction(session: Session, transaction: SessionTransaction, connection: Any) -> None:
    if _RAW_KEY in session.info:
        raise NeedsSession("this work uses the ORM: run it with in_transaction")


# What a hot read runs on: a session (its transaction's connection) or, for an API operation's
# reads, the operation's own asyncpg connection (schema.context.Context.raw_read).
Reader: TypeAlias = "AsyncSession | asyncpg.Connection"


async def driver(session: Reader) -> asyncpg.Connection:
    """The asyncpg connection under the session's transaction, for hot-path statements (a raw
    connection is its own).

    A statement through SQLAlchemy costs about 200 us of CPU against about 55 us straight on
    asyncpg, and a money movement runs several (idempotency, posting, outbox, audit): those use
    this, with positional `$n` parameters; everything else stays on the session. The statements
    share the session's transaction, so the adaptor's lazy BEGIN is issued first when still due.
    """
    if isinstance(session, asyncpg.Connection):
        return session
    raw_conn: asyncpg.Connection | None = session.info.get(_RAW_KEY)
    if raw_conn is not None:
        return raw_conn
    txn = session.sync_session.get_transaction()
    cached = session.info.get(_DRIVER_KEY)
    if txn is not None and cached is not None and cached[0] is txn:
        return cached[1]  # a transaction keeps its connection: look it up once, not per statement
    raw = await (await session.connection()).get_raw_connection()
    adapted = raw.dbapi_connection
    if adapted is not None and getattr(adapted, "_transaction", 0) is None:
        await adapted._start_transaction()  # private in SQLAlchemy; tests/platform/test_driver.py guards it
    conn: asyncpg.Connection = raw.driver_connection
    session.info[_DRIVER_KEY] = (session.sync_session.get_transaction(), conn)
    return conn


async def fetch_planned(conn: asyncpg.Connection, sql: str, *args: Any) -> list[asyncpg.Record]:
    """The rows of a statement planned for these parameter values on every run.

    `conn.fetch` keeps a named prepared statement per text, and PostgreSQL (plan_cache_mode auto)
    plans it with the values five times, then keeps a generic plan made without them when that looks
    no dearer. For a statement whose best plan depends on a value the generic plan cannot see (a LIKE
    pattern: a rare one is a few rows from the trigram index, a common one a short walk of an
    ordered index), the generic plan is the walk for every pattern, reading every row for a rare one
    (30k clients: about 3.5 ms a page in the database against 0.2 ms). Here the statement is the
    unnamed one, parsed again with each run (Parse, Bind, Execute in one round trip, as the extended
    protocol allows), so the server plans it with the values every time (about 0.3 ms). Its parameter
    and row types are learnt once per connection and text (`_unnamed`)."""
    statement = await _unnamed(conn, sql)
    rows: list[asyncpg.Record] = await statement.fetch(*args)
    return rows


async def fetchval_planned(conn: asyncpg.Connection, sql: str, *args: Any) -> Any:
    """The first column of the first row of `sql`, planned as `fetch_planned` plans."""
    return await (await _unnamed(conn, sql)).fetchval(*args)


_UNNAMED_PER_CONNECTION = 64
# Per open connection (by id, dropped when it closes: a statement holds its connection, so a weak key
# would never go), its unnamed statements by text.
_unnamed_statements: dict[int, dict[str, Any]] = {}


async def _unnamed(conn: Any, sql: str) -> Any:
    """asyncpg's unnamed statement for `sql` (its types described once per connection: the first call is
    a round trip of its own), marked to be parsed again in the round trip that binds and runs it:
    another statement may have replaced the unnamed one since, and only a fresh parse is planned
    with the values. `_state.mark_unprepared` is asyncpg's own way to do so (used when its statement
    cache is off); tests/platform/test_driver.py guards that it still exists."""
    raw = getattr(conn, "_con", None) or conn  # a pool's proxy: the connection under it
    key = id(raw)  # not reused while its statements (holding the connection) are kept here
    statements = _unnamed_statements.get(key)
    if statements is None:
        statements = _unnamed_statements[key] = {}
        raw.add_termination_listener(lambda _closed: _unnamed_statements.pop(key, None))
    statement = statements.get(sql)
    if statement is None or statement._state.closed:
        if len(statements) >= _UNNAMED_PER_CONNECTION:
            statements.clear()
        statement = statements[sql] = await conn.prepare(sql, name="")
    else:
        statement._state.mark_unprepared()
    return statement


def _engine(factory: SessionFactory) -> AsyncEngine:
    bind = factory.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise TypeError("the session factory is not bound to an engine")
    return bind


class RawChain:
    """Transactions one after another on one pooled asyncpg connection (see `raw_chain`)."""

    def __init__(self, factory: SessionFactory, conn: asyncpg.Connection) -> None:
        self._factory = factory
        self._conn = conn
        self._open = False
        self._session: AsyncSession | None = None

    @property
    def usable(self) -> bool:
        """False once the connection broke or is in a state this chain did not leave it in."""
        return not self._conn.is_closed() and self._open == self._conn.is_in_transaction()

    async def begin(self) -> AsyncSession:
        """The session of the transaction now open (begun by the last commit when it chained one)."""
        if not self._open:
            await self._conn.execute("BEGIN")
            self._open = True
        if self._session is None:
            self._session = self._factory()
            self._session.info[_RAW_KEY] = self._conn
        return self._session

    async def commit(self, *, then_begin: bool = False) -> None:
        """COMMIT, and with `then_begin` the next transaction's BEGIN in the same round trip (a
        failed COMMIT skips the BEGIN: the connection is then outside any transaction)."""
        self._open = False
        await self._end_session()
        await self._conn.execute("COMMIT; BEGIN" if then_begin else "COMMIT")
        self._open = then_begin

    async def rollback(self) -> None:
        self._open = False
        await self._end_session()
        if self._conn.is_in_transaction():
            await self._conn.execute("ROLLBACK")

    async def _end_session(self) -> None:
        # Each transaction gets its own session: its info (e.g. a held audit partition) is per transaction.
        session, self._session = self._session, None
        if session is not None and session.in_transaction():  # the work reached for the ORM (NeedsSession)
            await session.close()


@contextlib.asynccontextmanager
async def raw_chain(factory: SessionFactory) -> AsyncIterator[RawChain]:
    """Transactions straight on a pooled asyncpg connection, for work whose statements all go
    through `driver()`: each session a `RawChain` hands out carries the connection, and SQLAlchemy's
    own transaction machinery (about 300 us of CPU per transaction) is not involved; work that
    reaches for the ORM gets NeedsSession. When one transaction follows another, the COMMIT of the
    first and the BEGIN of the next travel as one round trip (group commit's steady state)."""
    pooled = await _engine(factory).raw_connection()
    conn: asyncpg.Connection = pooled.driver_connection
    chain = RawChain(factory, conn)
    clean = False
    try:
        try:
            yield chain
        finally:
            with contextlib.suppress(Exception):
                await chain.rollback()  # whatever is still open (a chained BEGIN unused, or an error)
        clean = True
    finally:
        if clean and not conn.is_closed() and not conn.is_in_transaction():
            await _give_back(pooled)
        else:
            pooled.invalidate()  # a connection in an unknown state never goes back to the pool


class PooledRaw:
    """A pooled asyncpg connection taken without a session: no transaction, so each statement commits
    on its own (reads and lone statements: no BEGIN/ROLLBACK round trips, about 80 us of CPU to take
    and return against 220 for a session). `release` gives it back, or drops it when a statement was
    cut off (cancelled) or left it broken or inside a transaction."""

    __slots__ = ("_pooled", "broken", "conn")

    def __init__(self, pooled: Any) -> None:
        self._pooled = pooled
        self.conn: asyncpg.Connection = pooled.driver_connection
        self.broken = False

    @classmethod
    async def take(cls, factory: SessionFactory) -> PooledRaw:
        return cls(await _engine(factory).raw_connection())

    def failed(self, exc: BaseException) -> None:
        """A statement on it raised `exc`: a cancellation may have cut it off mid-way."""
        if not isinstance(exc, Exception):
            self.broken = True

    async def release(self) -> None:
        if self.broken or self.conn.is_closed() or self.conn.is_in_transaction():
            self._pooled.invalidate()  # never back to the pool
        else:
            await _give_back(self._pooled)


async def autocommit_fetchrow(factory: SessionFactory, sql: str, *args: Any) -> asyncpg.Record | None:
    """Run one statement on its own, without BEGIN/COMMIT around it (a single statement is atomic):
    one round trip on a `PooledRaw`, for per-request statements such as authentication."""
    raw = await PooledRaw.take(factory)
    try:
        row: asyncpg.Record | None = await raw.conn.fetchrow(sql, *args)
    except BaseException as exc:
        raw.failed(exc)
        raise
    finally:
        await raw.release()
    return row


async def _give_back(pooled: Any) -> None:
    """Return a raw pooled connection. Into a pool with room that is a plain call; an overflow
    connection (a burst beyond pool_size: thousands of sockets authenticating at once) is closed
    instead, which SQLAlchemy's asyncpg adapter can only do inside a greenlet: called bare it
    raised MissingGreenlet, left the connection open on the server and logged a traceback each."""
    pool = pooled._pool
    if pool.checkedin() < pool.size():
        pooled.close()
    else:
        await greenlet_spawn(pooled.close)


def utcnow() -> datetime:
    return datetime.now(UTC)


# SQLSTATEs worth retrying: serialization_failure, deadlock_detected.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def is_retryable(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, asyncpg.PostgresError):  # raised by statements run on driver()
        return getattr(exc, "sqlstate", None) in RETRYABLE_SQLSTATES
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    return code in RETRYABLE_SQLSTATES


async def in_transaction(factory: SessionFactory, fn: TxnFn[T], *, retries: int = 4) -> T:
    """Run `fn(session)` in one transaction, retrying serialization failures and deadlocks.

    The whole function re-runs on a retry, so it must not have side effects outside the session.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            async with factory() as session, session.begin():
                return await fn(session)
        except Exception as exc:
            if attempt > retries or not is_retryable(exc):
                raise
            await asyncio.sleep(0.005 * 2**attempt * (0.5 + random.random()))  # jittered backoff
