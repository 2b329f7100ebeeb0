"""Per-request dataloaders, named `<Thing>By<Key>Loader`.

Each batch function opens its own session, so concurrent batches never share one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from domain.shared.db import SessionFactory

K = TypeVar("K")
V = TypeVar("V")

BatchFn = Callable[[AsyncSession, Sequence[K]], Awaitable[Sequence[V]]]


class Loaders:
    """Lazily built loaders; contexts register their loader factories in LOADER_FACTORIES."""

    def __init__(self, session_factory: SessionFactory, *, cache: bool) -> None:
        self._session_factory = session_factory
        self._cache = cache
        self._built: dict[str, DataLoader[Any, Any]] = {}

    def get(self, name: str) -> DataLoader[Any, Any]:
        loader = self._built.get(name)
        if loader is None:
            batch = LOADER_FACTORIES[name]

            async def load(keys: list[Any], _batch: BatchFn[Any, Any] = batch) -> list[Any]:
                async with self._session_factory() as session:
                    return list(await _batch(session, keys))

            loader = DataLoader(load_fn=load, cache=self._cache, max_batch_size=500)
            self._built[name] = loader
        return loader


LOADER_FACTORIES: dict[str, BatchFn[Any, Any]] = {}


def register_loader(name: str) -> Callable[[BatchFn[K, V]], BatchFn[K, V]]:
    """Decorator: `@register_loader("UserByIdLoader")` on `async def batch(session, keys)`."""

    def wrap(fn: BatchFn[K, V]) -> BatchFn[K, V]:
        LOADER_FACTORIES[name] = fn
        return fn

    return wrap
