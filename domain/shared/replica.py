"""Heavy reads (reports) on a PostgreSQL streaming replica, with the primary as the fallback.

`ReadReplica.status()` says whether the replica may serve a read now, checked at most every
`read_replica_check_interval_s` (concurrent callers share one check, bounded by `read_replica_timeout_s`):

- down (refused, timed out, not a standby, or a read on it failed or outlasted `read_replica_read_timeout_s`):
  the primary, reason REPLICA_DOWN;
- lagging more than `read_replica_max_lag_s`: the primary, reason REPLICA_LAGGING (with the lag);
- otherwise the replica, with its lag.

The lag is an upper bound on how old the replica's data is, in seconds. Each check reads the primary's
`pg_current_wal_flush_lsn()` first (what it can have sent) and then the standby's replay LSN: a standby that
has replayed that LSN held everything the primary had at the check, lag 0 (an idle primary reads 0, where
`now() - pg_last_xact_replay_timestamp()` would grow without bound). Behind it, the lag is the smaller of two
bounds: the time since the latest earlier check whose primary LSN the standby has replayed, and the time since
the last transaction it replayed committed. A standby streaming from the primary that has replayed all it
received of what the primary flushed (but for up to TAIL_BYTES: the head of a record whose rest the primary
has not flushed yet) also reads 0. Without either bound (a fresh process whose standby is behind and has
replayed nothing since it started) the lag is unknown and the replica is not used until a later check.

A change of state is logged once (`read_replica.fallback` / `read_replica.in_use`), not per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain.shared.db import create_engine, create_session_factory
from domain.shared.settings import Settings

log = structlog.get_logger(__name__)
T = TypeVar("T")


class SourceReason(enum.Enum):
    NOT_CONFIGURED = "not_configured"  # no FOREXCRM_READ_REPLICA_URL
    REPLICA_DOWN = "replica_down"  # refused, timed out, not a standby, or failed during the read
    REPLICA_LAGGING = "replica_lagging"  # behind by more than the acceptable lag (or by an unknown lag)


@dataclass(frozen=True)
class ReadSource:
    """Where a read was answered from: the replica (with its lag), or the primary and why."""

    replica: bool
    lag_seconds: float | None = None
    reason: SourceReason | None = None


NOT_CONFIGURED = ReadSource(replica=False, reason=SourceReason.NOT_CONFIGURED)

_STANDBY_SQL = text(
    "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn() - '0/0'::pg_lsn, pg_last_wal_replay_lsn() - '0/0'::pg_lsn, "
    "extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), "
    "EXISTS (SELECT 1 FROM pg_stat_wal_receiver)"
)
_PRIMARY_SQL = text("SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn")
# SQLSTATE classes that say the replica, not the query, failed: connection exceptions, operator
# intervention (shut down, recovery conflict cancels), and a serialization failure from a recovery conflict.
_REPLICA_TROUBLE = ("08", "57", "40")
_MAX_SAMPLES = 1024
# Received but not replayed WAL read as a partial record's head, not as lag (a few ms of replay at most).
TAIL_BYTES = 64 * 1024


class ReplicaUnavailable(Exception):
    def __init__(self, source: ReadSource) -> None:
        super().__init__(source.reason)
        self.source = source


def _sqlstate(exc: BaseException) -> str | None:
    for e in (exc, getattr(exc, "orig", None), getattr(getattr(exc, "orig", None), "__cause__", None)):
        code = getattr(e, "sqlstate", None)
        if isinstance(code, str):
            return code
    return None


def replica_trouble(exc: BaseException) -> bool:
    """Whether a failed read says the replica is unusable (rather than the query being wrong)."""
    if isinstance(exc, OSError | TimeoutError | ConnectionError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        code = _sqlstate(exc)
        return code is None or code[:2] in _REPLICA_TROUBLE
    return False


class ReadReplica:
    def __init__(self, url: str, settings: Settings, primary: AsyncEngine) -> None:
        replica_settings = settings.model_copy(update={
            "db_connect_timeout_s": settings.read_replica_timeout_s,
            "db_pool_timeout_s": settings.read_replica_timeout_s,
            "db_max_overflow": 0,
        })
        self.engine = create_engine(url, replica_settings, pool_size=settings.read_replica_pool_size)
        self.session_factory = create_session_factory(self.engine)
        self._primary = primary
        self._max_lag = settings.read_replica_max_lag_s
        self._timeout = settings.read_replica_timeout_s
        self._read_timeout = settings.read_replica_read_timeout_s
        self._interval = settings.read_replica_check_interval_s
        self._samples: deque[tuple[float, int]] = deque(maxlen=_MAX_SAMPLES)  # (monotonic, primary LSN)
        self._source: ReadSource | None = None
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()
        self._announced: tuple[bool, SourceReason | None] | None = None
        self.checks = 0  # checks made, and changes of state logged (for the tests and the bench)
        self.announcements = 0

    async def close(self) -> None:
        await self.engine.dispose()

    async def _drop_pool(self) -> None:
        # A frozen server never answers a graceful close: give it the check's time, then let the pool go.
        with contextlib.suppress(Exception, TimeoutError):
            async with asyncio.timeout(self._timeout):
                await self.engine.dispose()

    async def status(self) -> ReadSource:
        if self._source is not None and time.monotonic() - self._checked_at < self._interval:
            return self._source
        async with self._lock:
            if self._source is not None and time.monotonic() - self._checked_at < self._interval:
                return self._source
            source, detail = await self._check()
            self._set(source, detail)
            return source

    async def read(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`fn` on a replica session; ReplicaUnavailable (the replica then counted down until the next
        check) when the replica fails under it."""
        try:
            async with asyncio.timeout(self._read_timeout), self.session_factory() as session:
                return await fn(session)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            if not replica_trouble(exc):
                raise
            source = ReadSource(replica=False, reason=SourceReason.REPLICA_DOWN)
            self._set(source, f"read failed: {exc.__class__.__name__}: {exc}"[:300])
            await self._drop_pool()
            raise ReplicaUnavailable(source) from exc

    def _set(self, source: ReadSource, detail: str | None) -> None:
        self._source, self._checked_at = source, time.monotonic()
        state = (source.replica, source.reason)
        if state == self._announced:
            return
        self._announced = state
        self.announcements += 1
        if source.replica:
            log.info("read_replica.in_use", lag_seconds=source.lag_seconds)
        else:
            log.warning("read_replica.fallback", reason=source.reason.value if source.reason else None,
                        lag_seconds=source.lag_seconds, detail=detail)

    async def _primary_lsn(self) -> int | None:
        try:
            async with self._primary.connect() as conn:
                return int((await conn.execute(_PRIMARY_SQL)).scalar_one())
        except (SQLAlchemyError, OSError, TimeoutError):
            return None  # the read will fail on the primary anyway; judge the standby by itself

    async def _check(self) -> tuple[ReadSource, str | None]:
        self.checks += 1
        try:
            async with asyncio.timeout(self._timeout):
                started = time.monotonic()
                primary_lsn = await self._primary_lsn()
                async with self.engine.connect() as conn:
                    in_recovery, received, replayed, since_commit, streaming = (await conn.execute(_STANDBY_SQL)).one()
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            await self._drop_pool()  # its pooled connections are as dead as the one that failed
            return ReadSource(replica=False, reason=SourceReason.REPLICA_DOWN), \
                f"{exc.__class__.__name__}: {exc}"[:300]
        if not in_recovery or replayed is None:
            return ReadSource(replica=False, reason=SourceReason.REPLICA_DOWN), "not a streaming standby"
        lag = self._lag(started, primary_lsn, None if received is None else int(received), int(replayed),
                        float(since_commit) if since_commit is not None else None, bool(streaming))
        if lag is None:
            return ReadSource(replica=False, reason=SourceReason.REPLICA_LAGGING), "lag unknown yet"
        if lag > self._max_lag:
            return ReadSource(replica=False, lag_seconds=lag, reason=SourceReason.REPLICA_LAGGING), None
        return ReadSource(replica=True, lag_seconds=lag), None

    def _lag(self, started: float, primary_lsn: int | None, received: int | None, replayed: int,
             since_commit: float | None, streaming: bool) -> float | None:
        now = time.monotonic()
        # Streaming, with all it received replayed (but for a record's tail): what the primary has beyond is in
        # flight. An idle primary's flushed WAL can end inside a record that is not a commit (its WAL writer
        # flushes whole pages), which the standby receives in part and cannot replay until the rest comes.
        drained = streaming and received is not None and replayed + TAIL_BYTES >= received and (
            primary_lsn is None or received >= primary_lsn)
        if primary_lsn is None:  # primary unreachable: judge the standby by itself
            return 0.0 if drained else since_commit
        self._samples.append((started, primary_lsn))
        if replayed >= primary_lsn or drained:
            self._samples.clear()
            self._samples.append((started, min(primary_lsn, replayed)))
            return 0.0
        # the latest earlier check whose primary position the standby has replayed (older ones are of no use)
        caught_up_at = None
        while self._samples and self._samples[0][1] <= replayed:
            caught_up_at = self._samples.popleft()[0]
        if caught_up_at is not None:
            self._samples.appendleft((caught_up_at, replayed))
        bounds = [b for b in (None if caught_up_at is None else now - caught_up_at, since_commit) if b is not None]
        return round(max(0.0, min(bounds)), 3) if bounds else None


async def prefer_replica(replica: ReadReplica | None, fn: Callable[[AsyncSession], Awaitable[T]],
                         on_primary: Callable[[Callable[[AsyncSession], Awaitable[T]]], Awaitable[T]],
                         ) -> tuple[T, ReadSource]:
    """`fn` on the replica when one is configured, up and within the acceptable lag, else through `on_primary`
    (a replica failing under the read falls back too); with where it ran and why. The one routing rule of the
    API's heavy reads (schema/context.py) and the worker's scheduled reports."""
    source = NOT_CONFIGURED
    if replica is not None:
        source = await replica.status()
        if source.replica:
            try:
                return await replica.read(fn), source
            except ReplicaUnavailable as exc:
                source = exc.source
    return await on_primary(fn), source
