"""The typed per-request GraphQL context.

Resolvers never share an AsyncSession: each resolver (and each loader batch) opens its own from
the factory. A WebSocket context lives for the whole connection, so it holds no caches: its
loaders are built per access with caching off, and the actor is re-checked per operation.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.websockets import WebSocket

from domain.events.hub import EventHub
from domain.shared.actor import ANONYMOUS, Actor
from domain.shared.db import SessionFactory, in_transaction
from domain.shared.settings import Settings

if TYPE_CHECKING:
    from schema.loaders import Loaders

T = TypeVar("T")


@dataclass(frozen=True)
class AppServices:
    """Process-wide services shared by all requests (pools, not connections)."""

    settings: Settings
    session_factory: SessionFactory
    redis: Redis
    hub: EventHub


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

    async def transaction(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run a mutation's work in one transaction, retrying serialization failures."""
        return await in_transaction(self.services.session_factory, fn)
