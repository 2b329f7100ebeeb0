"""Per-request dataloaders, named `<Thing>By<Key>Loader`.

Each batch gets a session from the context's `read` (over HTTP the operation's one read connection,
taken in turns; on a socket a session of its own), so batches never use one concurrently and an
operation never holds a second pooled connection while it waits for a batch. A batch that reads no
database (`register_loader(name, database=False)`) is handed no session and takes no turn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

K = TypeVar("K")
V = TypeVar("V")

BatchFn = Callable[[AsyncSession, Sequence[K]], Awaitable[Sequence[V]]]
SessionSource = Callable[[], AbstractAsyncContextManager[AsyncSession]]


class Loaders:
    """Lazily built loaders; contexts register their loader factories in LOADER_FACTORIES."""

    def __init__(self, session_factory: SessionSource, *, cache: bool) -> None:
        self._session_factory = session_factory
        self._cache = cache
        self._built: dict[str, DataLoader[Any, Any]] = {}

    def get(self, name: str) -> DataLoader[Any, Any]:
        loader = self._built.get(name)
        if loader is None:
            batch = LOADER_FACTORIES[name]

            async def load(keys: list[Any], _batch: BatchFn[Any, Any] = batch) -> list[Any]:
                if name in NO_DATABASE:
                    return list(await _batch(None, keys))  # type: ignore[arg-type]
                async with self._session_factory() as session:
                    return list(await _batch(session, keys))

            loader = DataLoader(load_fn=load, cache=self._cache, max_batch_size=500)
            self._built[name] = loader
        return loader


LOADER_FACTORIES: dict[str, BatchFn[Any, Any]] = {}
NO_DATABASE: set[str] = set()


def register_loader(name: str, *, database: bool = True) -> Callable[[BatchFn[K, V]], BatchFn[K, V]]:
    """Decorator: `@register_loader("UserByIdLoader")` on `async def batch(session, keys)`."""

    def wrap(fn: BatchFn[K, V]) -> BatchFn[K, V]:
        LOADER_FACTORIES[name] = fn
        if not database:
            NO_DATABASE.add(name)
        return fn

    return wrap
