"""Ingesting pushed deals (platforms that push: `port.DealStream`, e.g. MT4 through its sidecar), with the
cursor pull as the safety net: every (re)connection first pulls from the stored cursor, then follows the
stream from it; a cut stream is caught up by the next pull. Each delivery is ingested as it arrives (what
queued meanwhile goes in the same transaction), through the puller's page ingestion, so the cursor, the
idempotent store and the one-writer-per-server lock are the pull's."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from domain.platforms.port import Deal, DealCursor, DealPage, DealStream, TradingPlatform
from domain.shared.db import SessionFactory
from domain.shared.errors import DomainError
from domain.trading import puller

MAX_BATCH = 1000


@dataclass
class FollowResult:
    server_id: int
    pushed: int = 0  # deals stored from the stream
    pulled: int = 0  # deals stored by the catch-up pulls
    batches: int = 0
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)


async def _read(stream: DealStream, cursor: DealCursor, queue: asyncio.Queue[Deal | BaseException]) -> None:
    try:
        async for deal in stream.stream_deals(cursor):
            await queue.put(deal)
    except DomainError as exc:  # cut, refused or garbled: the caller pulls and reconnects
        await queue.put(exc)


async def follow_stream(session_factory: SessionFactory, server_id: int, platform: TradingPlatform, *,
                        seconds: float, retry_s: float = 1.0) -> FollowResult:
    """Follow the server's pushed deals for `seconds`, pulling on every (re)connection."""
    if not isinstance(platform, DealStream):
        raise TypeError("the platform pushes no deals: pull it (puller.pull_server)")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    result = FollowResult(server_id)
    while loop.time() < deadline:
        pulled = await puller.pull_server(session_factory, server_id, platform, ignore_backoff=True)
        result.pulled += pulled.inserted
        if pulled.error:
            result.errors.append(pulled.error)
            await asyncio.sleep(max(0.0, min(retry_s, deadline - loop.time())))
            continue
        async with session_factory() as session:
            cursor = await puller.read_cursor(session, server_id)
        queue: asyncio.Queue[Deal | BaseException] = asyncio.Queue()
        reader = asyncio.create_task(_read(platform, cursor, queue))
        try:
            while (remaining := deadline - loop.time()) > 0:
                try:
                    first = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                batch: list[Deal] = []
                failure = first if isinstance(first, BaseException) else None
                if isinstance(first, Deal):
                    batch.append(first)
                while failure is None and len(batch) < MAX_BATCH and not queue.empty():
                    item = queue.get_nowait()
                    if isinstance(item, BaseException):
                        failure = item
                    else:
                        batch.append(item)
                if batch:
                    page = DealPage(batch, next_cursor=max(d.cursor for d in batch), has_more=False)
                    stored = await puller._ingest_page(session_factory, server_id, platform, page, advance=True)
                    result.pushed += stored.inserted
                    result.batches += 1
                if failure is not None:
                    result.reconnects += 1
                    result.errors.append(getattr(failure, "code", type(failure).__name__))
                    break
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    return result
