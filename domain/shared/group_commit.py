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


class GroupCommit:
    def __init__(self, factory: SessionFactory, *, max_batch: int = MAX_BATCH, drains: int = DRAINS) -> None:
        self._factory = factory
        self._max_batch = max_batch
        self._drains = drains
        self._queue: list[tuple[TxnFn[Any], asyncio.Future[Any]]] = []
        self._active: set[asyncio.Task[None]] = set()

    async def run(self, fn: TxnFn[Any]) -> Any:
        """fn(session)'s result once the transaction it ran in has committed."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((fn, future))
        if len(self._active) < self._drains:
            task = asyncio.create_task(self._drain())
            self._active.add(task)
            task.add_done_callback(self._active.discard)
        return await future

    def _take(self) -> list[tuple[TxnFn[Any], asyncio.Future[Any]]]:
        batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        return batch

    async def _drain(self) -> None:
        batch = self._take()
        while batch:
            async with raw_chain(self._factory) as chain:
                while batch and chain.usable:
                    following: list[tuple[TxnFn[Any], asyncio.Future[Any]]] = []
                    try:
                        await self._commit(chain, batch, following)
                    except BaseException as exc:  # cancelled mid-batch (shutdown): nobody may wait forever
                        for _, future in batch + following:
                            if not future.done():
                                future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                        raise
                    batch = following or self._take()

    async def _commit(self, chain: RawChain, batch: list[tuple[TxnFn[Any], asyncio.Future[Any]]],
                      following: list[tuple[TxnFn[Any], asyncio.Future[Any]]]) -> None:
        """Run and commit one batch; the next one, when work is queued, is taken into `following`."""
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
            if len(batch) > 1:  # whichever item was refused, each is replayed alone below
                log.debug("group commit: batch of %d refused (%s); replaying each alone", len(batch), exc)
            else:  # a lone item's refusal is its own answer: running it again would only repeat the work
                _, future = batch[0]
                if not future.done():
                    future.set_exception(exc)
                return
        except Exception as exc:  # whichever item failed, each is replayed alone below
            log.debug("group commit: batch of %d rolled back (%s); replaying each alone", len(batch), exc)
            with contextlib.suppress(Exception):
                await chain.rollback()
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            return
        for fn, future in batch:
            try:
                result = await in_transaction(self._factory, fn)
            except Exception as exc:  # handed to the caller awaiting this item
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)
