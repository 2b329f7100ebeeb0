"""The typed per-request GraphQL context.

Resolvers never share an AsyncSession: each resolver (and each loader batch) opens its own from
the factory. A WebSocket context lives for the whole connection, so it holds no caches: its
loaders are built per access with caching off, and the actor is re-checked per operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.websockets import WebSocket

from domain.events.hub import Event, EventHub, Subscriber
from domain.identity.principal_cache import PrincipalCache
from domain.shared.actor import ANONYMOUS, Actor
from domain.shared.db import SessionFactory, in_transaction
from domain.shared.group_commit import GroupCommit
from domain.shared.settings import Settings
from schema.errors import PublicError

if TYPE_CHECKING:
    from schema.loaders import Loaders

T = TypeVar("T")
REVALIDATE_S = 60.0


@dataclass(frozen=True)
class AppServices:
    """Process-wide services shared by all requests (pools, not connections)."""

    settings: Settings
    session_factory: SessionFactory
    redis: Redis
    hub: EventHub
    group_commit: GroupCommit  # mutations' transactions, committed together under load
    principals: PrincipalCache | None = None  # sessions' principals between requests (API processes)


@dataclass
class Context:
    services: AppServices
    request: Request | WebSocket
    response: Any
    request_id: str
    actor: Actor = ANONYMOUS
    is_websocket: bool = False
    _loaders: Loaders | None = field(default=None, repr=False)
    # Set on WebSocket connections by connection_init; validated again for every operation.
    connection_params: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def loaders(self) -> Loaders:
        from schema.loaders import Loaders

        if self.is_websocket:
            return Loaders(self.services.session_factory, cache=False)
        if self._loaders is None:
            self._loaders = Loaders(self.services.session_factory, cache=True)
        return self._loaders

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read session of its own for one resolver."""
        async with self.services.session_factory() as session:
            yield session

    async def next_event(self, sub: Subscriber) -> Event:
        """The next event for a subscription, re-checking the caller while it waits: the stream ends
        when the access token expires or the session is revoked (at most a minute late)."""
        while True:
            timeout = REVALIDATE_S
            if self.actor.expires_at is not None:
                remaining = self.actor.expires_at - time.time()
                if remaining <= 0:
                    raise PublicError("Your session expired; reconnect with a fresh token.", "TOKEN_EXPIRED")
                timeout = min(timeout, remaining)
            try:
                return await asyncio.wait_for(sub.queue.get(), timeout)
            except TimeoutError:
                if self.actor.session_id is not None and not await self._session_alive():
                    raise PublicError("Your session has ended.", "UNAUTHENTICATED") from None

    async def _session_alive(self) -> bool:
        from domain.identity.sessions import load_principal

        assert self.actor.user_id is not None and self.actor.session_id is not None
        async with self.services.session_factory() as session:
            return await load_principal(session, self.actor.user_id, self.actor.session_id) is not None

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
