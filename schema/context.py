"""The typed per-request GraphQL context.

Resolvers never share an AsyncSession: each resolver (and each loader batch) opens its own from
the factory. A WebSocket context lives for the whole connection, so it holds no caches: its
loaders are built per access with caching off, and its actor is kept bound to the live session
(schema/live_session.py): re-checked per operation and whenever the session changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info

from domain.events.hub import Event, Subscriber
from domain.shared.actor import ANONYMOUS, Actor
from domain.shared.db import PooledRaw, driver, in_transaction
from domain.shared.replica import ReadSource, prefer_replica
from domain.shared.settings import Settings
from infra.services import AppServices
from schema.errors import PublicError
from schema.live_session import LiveSession

if TYPE_CHECKING:
    from schema.loaders import Loaders

T = TypeVar("T")


@dataclass(slots=True)  # a socket's context lives as long as the socket: no __dict__
class Context:
    services: AppServices
    request: Request | WebSocket
    response: Any
    request_id: str
    actor: Actor = ANONYMOUS
    is_websocket: bool = False
    # Set by the view around one plain HTTP operation, which it ends with `release_reads`: only then do
    # reads share one connection and loaders cache. A socket's or a streamed (SSE) operation's context
    # outlives any one result, so there every read has its own session and nothing is cached.
    operation_scoped: bool = False
    _loaders: Loaders | None = field(default=None, repr=False)
    # Set on WebSocket connections by connection_init; validated again for every operation.
    connection_params: dict[str, Any] = field(default_factory=dict)
    # The caller's credential asked again (None: there was none); set by the view.
    reauthenticate: Callable[[], Awaitable[Actor | None]] | None = field(default=None, repr=False)
    # Keeps a socket's (or a streamed subscription's) actor bound to the live session.
    live: LiveSession | None = field(default=None, repr=False)
    # The operation's one read connection and session (`read`), its lock and the task using it now.
    _read_conn: AsyncConnection | None = field(default=None, repr=False)
    _read_session: AsyncSession | None = field(default=None, repr=False)
    _read_driver: asyncpg.Connection | None = field(default=None, repr=False)
    _raw: PooledRaw | None = field(default=None, repr=False)
    _read_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _read_owner: asyncio.Task[Any] | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def loaders(self) -> Loaders:
        from schema.loaders import Loaders

        if not self.operation_scoped:
            return Loaders(self.services.session_factory, cache=False)
        if self._loaders is None:
            self._loaders = Loaders(self.read, cache=True)
        return self._loaders

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read session of its own for one resolver."""
        async with self.services.session_factory() as session:
            yield session

    def subscribe_own(self, info: Info[Any, Any], *topics: str) -> contextlib.AbstractAsyncContextManager[Subscriber]:
        """As `subscribe`, for the caller's own events only (the payload's `user_id`): the hub
        routes them by user, so nobody else's event wakes this subscription."""
        user_id = self.actor.user_id
        if user_id is None:
            raise PublicError("Sign in to follow your own events.", "UNAUTHENTICATED")
        return self.subscribe(info, *topics, user_id=user_id)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for a read-only resolver, on one connection for the whole HTTP operation: a page
        of several top-level fields checks out one pooled connection and one session, not one per
        field. The connection is in autocommit (each statement its own snapshot, as a hand-written
        endpoint's reads): no BEGIN and ROLLBACK round trips around every resolver's reads. Its users
        take turns (never two statements at once on it); the view releases it when the operation ends
        (`release_reads`). Never await a dataloader inside: its batch may wait for this turn.
        Outside one plain HTTP operation (`operation_scoped`) every read has a session of its own."""
        factory = self.services.session_factory
        if not self.operation_scoped:
            async with factory() as session:
                yield session
            return
        task = asyncio.current_task()
        if self._read_owner is task and self._read_session is not None:  # nested within one resolver
            yield self._read_session
            return
        async with self._read_lock:
            if self._read_session is None:
                self._read_session = factory(bind=await self._read_connection())
            session = self._read_session
            self._read_owner = task
            try:
                yield session
            except BaseException:
                # A failed statement must not poison the next reader's session.
                self._read_session = None
                await session.close()
                raise
            finally:
                self._read_owner = None

    async def heavy_read(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> tuple[T, ReadSource]:
        """A heavy read-only query (a report): `fn` on a session of the read replica when one is configured,
        up and within the acceptable lag (domain/shared/replica.py), else on `read`'s primary session;
        with where it ran and why, for the answer to say. A replica failing under the read falls back too."""
        async def on_primary(read: Callable[[AsyncSession], Awaitable[T]]) -> T:
            async with self.read() as session:
                return await read(session)

        return await prefer_replica(self.services.replica, fn, on_primary)

    @contextlib.asynccontextmanager
    async def raw_read(self) -> AsyncIterator[asyncpg.Connection]:
        """An asyncpg connection for hot reads (a portal page's lists, written with `$n` parameters as
        the hot paths in CONTRIBUTING.md): no session, no SQLAlchemy statement machinery, about a third
        of a session read's CPU. The operation's: a pooled connection taken without a session (or the
        one under `read`'s session, if that came first), in turns with `read`. Outside one plain HTTP
        operation it is a session's connection for the duration."""
        if not self.operation_scoped:
            async with self.services.session_factory() as session:
                yield await driver(session)
            return
        task = asyncio.current_task()
        if self._read_owner is task and self._read_driver is not None:  # nested within one resolver
            yield self._read_driver
            return
        async with self._read_lock:
            if self._read_driver is None:
                if self._read_conn is not None:
                    self._read_driver = (await self._read_conn.get_raw_connection()).driver_connection
                else:
                    self._raw = await PooledRaw.take(self.services.session_factory)
                    self._read_driver = self._raw.conn
            self._read_owner = task
            try:
                yield self._read_driver
            except BaseException as exc:
                if self._raw is not None:
                    self._raw.failed(exc)
                raise
            finally:
                self._read_owner = None

    async def _read_connection(self) -> AsyncConnection:
        if self._read_conn is None:
            conn = await self.services.session_factory.kw["bind"].connect()
            self._read_conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._read_conn

    async def release_reads(self) -> None:
        """Return the operation's read connection to the pool."""
        if self._read_conn is None and self._raw is None:
            return
        async with self._read_lock:
            session, self._read_session = self._read_session, None
            conn, self._read_conn, self._read_driver = self._read_conn, None, None
            raw, self._raw = self._raw, None
            if session is not None:
                await session.close()
            if conn is not None:
                await conn.close()
            if raw is not None:
                await raw.release()

    def subscribe(self, info: Info[Any, Any], *topics: str, user_id: int | None = None
                  ) -> contextlib.AbstractAsyncContextManager[Subscriber]:
        """A subscription's events, bound to its caller's live session: read them with
        `next_event`, which ends the stream with a typed error (SESSION_ENDED, TOKEN_EXPIRED,
        FORBIDDEN) as soon as the session ends or expires or the subscription's permission is
        lost, and streams nothing after that. Turn an event into its GraphQL value with
        `schema.events.converted` (or `shared` for a broadcast): once per event, bad ones skipped."""
        return _Subscribing(self, info, self.services.hub.subscribe(*topics, user_id=user_id))

    async def next_event(self, sub: Subscriber) -> Event:
        assert self.live is not None, "subscribe first"
        return await self.live.next_event(sub)

    async def admit(self, sub: Subscriber) -> None:
        """For a subscription that sends something it did not get from `next_event` (coalesced
        events): raises as `next_event` would if its caller may no longer have it."""
        assert self.live is not None, "subscribe first"
        await self.live.admit(sub)

    def adopt(self, actor: Actor) -> None:
        """The live session's actor changed (roles, step-up): later operations act as it."""
        self.actor = actor

    async def transaction(self, fn: Callable[[AsyncSession], Awaitable[T]], *, grouped: bool = False) -> T:
        """Run a mutation's work in one transaction, retrying serialization failures.

        `grouped`: for short money movements whose work only touches the database. Concurrent
        grouped mutations share one transaction and commit (group commit); when one fails, each
        is replayed alone, so its error is its own and the others still commit. Work with costly
        steps or effects outside the database (password hashing, rate limits, mail) stays ungrouped:
        a neighbour's failure would run it twice."""
        if grouped:
            result: T = await self.services.group_commit.run(fn)
            return result
        outcome = await in_transaction(self.services.session_factory, fn)
        if self.services.principals is not None:
            # What this transaction changed about sessions or roles is applied to this process's
            # cached principals before the caller hears back (money movements, grouped, change none).
            await self.services.principals.sync()
        return outcome


class _Subscribing:
    """`Context.subscribe`'s context manager: a plain object, as a generator-based one keeps its
    frame (and an async generator the loop tracks) for as long as the subscription lasts."""

    __slots__ = ("_context", "_info", "_live", "_sub", "_subscription")

    def __init__(self, context: Context, info: Info[Any, Any],
                 subscription: contextlib.AbstractAsyncContextManager[Subscriber]) -> None:
        self._context, self._info, self._subscription = context, info, subscription
        self._live: LiveSession | None = None
        self._sub: Subscriber | None = None

    async def __aenter__(self) -> Subscriber:
        context = self._context
        live = context.live
        if live is None:  # a subscription streamed over HTTP: bound for as long as it runs
            live = context.live = LiveSession(context.actor, context.reauthenticate, context.services.principals,
                                              on_change=context.adopt)
            live.close_when_idle = True
            live.start()
        sub = await self._subscription.__aenter__()
        live.follow(sub, self._info)
        self._live, self._sub = live, sub
        return sub

    async def __aexit__(self, *exc: Any) -> None:
        live, sub = self._live, self._sub
        self._live = self._sub = None
        try:
            if live is not None and sub is not None:
                live.unfollow(sub)
        finally:
            await self._subscription.__aexit__(*exc)
