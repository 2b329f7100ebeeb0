"""Group commit: many callers' short transactions run and commit as one.

Under load a money movement's own BEGIN and COMMIT (with its WAL flush) cost as much as its work.
`GroupCommit.run(fn)` queues `fn`; a few drain tasks each take what is queued and run it in one
transaction, in arrival order. Nobody learns an outcome before its batch has committed. A drain keeps
its connection while work is queued, and a batch's COMMIT carries the next batch's BEGIN (`raw_chain`,
straight on asyncpg), so grouped work must do its statements through `driver()`; work that reaches
for the ORM is refused there (NeedsSession) and replayed alone.

A batch is all or nothing, so one failing item must not take the others with it: on any error the
batch is rolled back and every item is replayed alone through `in_transaction`, where it commits or
fails on its own. Work functions must therefore have no side effects outside the session, as for
`in_transaction` retries, and carry an idempotency key: a batch whose COMMIT outcome was lost (the
connection dropped) is replayed too, and the key turns the replay of a committed item into a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from domain.shared.db import RawChain, SessionFactory, TxnFn, in_transaction, raw_chain
from domain.shared.errors import DomainError

log = logging.getLogger(__name__)

MAX_BATCH = 32
DRAINS = 8  # batches in flight per process (connections): one waits on the database, others run


Items = list[tuple[TxnFn[Any], asyncio.Future[Any]]]


class GroupCommit:
    def __init__(self, factory: SessionFactory, *, max_batch: int = MAX_BATCH, drains: int = DRAINS) -> None:
        self._factory = factory
        self._max_batch = max_batch
        self._drains = drains
        self._queue: Items = []
        self._active: set[asyncio.Task[None]] = set()

    async def run(self, fn: TxnFn[Any]) -> Any:
        """fn(session)'s result once the transaction it ran in has committed."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((fn, future))
        if len(self._active) < self._drains:
            self._active.add(asyncio.create_task(self._drain()))
        return await future

    def _take(self) -> Items:
        batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        return batch

    async def _drain(self) -> None:
        batch: Items = []
        replay: Items = []
        try:
            batch = self._take()
            while batch:
                replay, batch = await self._run_chain(batch)
                await self._replay(replay)
                replay = []
                batch = batch or self._take()
        except BaseException as exc:  # cancelled (shutdown): nobody may wait forever
            _fail(replay + batch, exc)
            raise
        finally:
            # Leaves the active set with no await after its last look at the queue, so work queued
            # meanwhile has started a drain of its own.
            self._active.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _run_chain(self, batch: Items) -> tuple[Items, Items]:
        """Run `batch`, and the batches queued after it, on one connection. Returns, once the
        connection is given back, a batch to replay item by item (its transaction failed, or no
        connection could be had) and the batch to run next."""
        replay: Items = []
        try:
            async with raw_chain(self._factory) as chain:
                while batch and chain.usable:
                    following: Items = []
                    try:
                        committed = await self._commit(chain, batch, following)
                    except BaseException as exc:
                        _fail(batch + following, exc)
                        raise
                    if not committed:  # replayed outside the chain: a replay takes a connection of its own
                        replay, batch = batch, following
                        break
                    batch = following or self._take()
        except Exception:  # no connection (pool exhausted, database down): each item finds out on its own
            if not replay:
                replay, batch = batch, []
        return replay, batch

    async def _commit(self, chain: RawChain, batch: Items, following: Items) -> bool:
        """Run and commit one batch, taking the next one into `following` when work is queued.
        False when the batch's transaction failed and each item must be replayed alone."""
        try:
            session = await chain.begin()
            results = [await fn(session) for fn, _ in batch]
            # Work queued meanwhile: this COMMIT begins its transaction too. It is taken only once the
            # COMMIT is back (taking it before made batches smaller); should another drain take it
            # first, the begun transaction goes unused and is rolled back.
            await chain.commit(then_begin=bool(self._queue))
            following.extend(self._take())
        except DomainError as exc:
            with contextlib.suppress(Exception):  # a broken connection ends the chain (`usable`)
                await chain.rollback()
            if len(batch) > 1:  # whichever item was refused, each is replayed alone
                log.debug("group commit: batch of %d refused (%s); replaying each alone", len(batch), exc)
                return False
            _, future = batch[0]  # a lone item's refusal is its own answer: running it again would only repeat the work
            if not future.done():
                future.set_exception(exc)
            return True
        except Exception as exc:  # whichever item failed, each is replayed alone
            log.debug("group commit: batch of %d rolled back (%s); replaying each alone", len(batch), exc)
            with contextlib.suppress(Exception):
                await chain.rollback()
            return False
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        return True

    async def _replay(self, items: Items) -> None:
        for index, (fn, future) in enumerate(items):
            try:
                result = await in_transaction(self._factory, fn)
            except Exception as exc:  # handed to the caller awaiting this item
                if not future.done():
                    future.set_exception(exc)
            except BaseException as exc:
                _fail(items[index:], exc)
                raise
            else:
                if not future.done():
                    future.set_result(result)


def _fail(items: Items, exc: BaseException) -> None:
    for _, future in items:
        if not future.done():
            future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
