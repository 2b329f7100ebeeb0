"""Pulling deals from one trading server into our store.

Each page is ingested in its own transaction that also advances the server's cursor, so a crash
re-reads from the last committed cursor: nothing is lost and, ingestion being idempotent, nothing
is doubled. The cursor only moves forward (a repeated or older page changes nothing).

Failures (server down, refused credentials, malformed answers after retries) are recorded in the
server's status and the error queue, and push `next_attempt_at` out exponentially.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.platforms.errors import PlatformAuthFailed, PlatformProtocolError
from domain.platforms.port import DealCursor, DealPage, TradingPlatform, ms_from_utc, utc_from_ms
from domain.shared.db import SessionFactory, utcnow
from domain.shared.errors import ExternalServiceUnavailable
from domain.trading import accounts, instruments, live, margin_alerts, servers
from domain.trading.ingestion import BatchResult, ingest_batch

PAGE_SIZE = 1000
MALFORMED_RETRIES = 2
_MAX_DEAL_ID = 2**63 - 1
_CURSOR = "SELECT time_ms, deal_id FROM trading_ingestion_cursors WHERE server_id = :s"
_CURSOR_FOR_UPDATE = _CURSOR + " FOR UPDATE"


@dataclass
class PullResult:
    server_id: int
    skipped: bool = False
    pages: int = 0
    fetched: int = 0
    inserted: int = 0
    events: int = 0
    malformed_pages: int = 0
    error: str | None = None
    next_attempt_at: datetime | None = None
    cursor: DealCursor = field(default_factory=DealCursor.start)

    def add(self, batch: BatchResult) -> None:
        self.pages += 1
        self.fetched += batch.received
        self.inserted += batch.inserted
        self.events += 1 if batch.event_id is not None else 0


async def record_error(
    session: AsyncSession, server_id: int, kind: str, detail: str, deal_id: int | None = None
) -> None:
    await session.execute(
        text(
            "INSERT INTO trading_ingestion_errors (server_id, deal_id, kind, detail) "
            "VALUES (:s, :d, :k, :detail) ON CONFLICT DO NOTHING"
        ),
        {"s": server_id, "d": deal_id, "k": kind, "detail": detail[:2000]},
    )


async def read_cursor(session: AsyncSession, server_id: int, *, lock: bool = False) -> DealCursor:
    row = (
        await session.execute(
            text(_CURSOR_FOR_UPDATE if lock else _CURSOR),
            {"s": server_id},
        )
    ).first()
    if row is None:
        await session.execute(
            text("INSERT INTO trading_ingestion_cursors (server_id) VALUES (:s) ON CONFLICT DO NOTHING"),
            {"s": server_id},
        )
        return DealCursor.start()
    return DealCursor(int(row[0]), int(row[1]))


async def _advance_cursor(session: AsyncSession, server_id: int, cursor: DealCursor) -> None:
    await session.execute(
        text(
            "UPDATE trading_ingestion_cursors SET time_ms = :t, deal_id = :d, updated_at = now() "
            "WHERE server_id = :s AND (time_ms, deal_id) < (:t, :d)"
        ),
        {"s": server_id, "t": cursor.time_ms, "d": cursor.deal_id},
    )


async def _fetch_page(
    session_factory: SessionFactory, server_id: int, platform: TradingPlatform, cursor: DealCursor,
    limit: int, result: PullResult,
) -> DealPage:
    """One page; a malformed answer is recorded and re-read a bounded number of times."""
    attempt = 0
    while True:
        try:
            return await platform.deals_since(cursor, limit)
        except PlatformProtocolError as exc:
            result.malformed_pages += 1
            async with session_factory() as session, session.begin():
                await record_error(session, server_id, "malformed_page", f"after {cursor}: {exc.message}")
            attempt += 1
            if attempt > MALFORMED_RETRIES:
                raise


async def _ingest_page(
    session_factory: SessionFactory, server_id: int, platform: TradingPlatform, page: DealPage,
    *, advance: bool, announce: bool = True,
) -> BatchResult:
    logins = {d.login for d in page.deals}
    async with session_factory() as session:
        unknown = await accounts.unknown_logins(session, server_id, logins)
        owned = await live.owned_accounts(session, server_id, logins) if announce else []
    # Accounts opened outside the CRM are read from the server before the transaction opens, and
    # so are the figures of the clients' accounts these deals changed (announced to their owners).
    specs = await accounts.fetch_account_specs(platform, unknown)
    states = await live.states_of(owned, platform)
    async with session_factory() as session, session.begin():
        await read_cursor(session, server_id, lock=True)  # one writer per server at a time
        await accounts.register_accounts(session, server_id, specs)
        batch = await ingest_batch(session, server_id, page.deals)
        if advance:
            await _advance_cursor(session, server_id, page.next_cursor)
        if batch.inserted:
            await live.announce_states(session, owned, states)
            await margin_alerts.evaluate(session, server_id, owned, states)
    return batch


async def ensure_instruments(session_factory: SessionFactory, server_id: int, platform: TradingPlatform) -> None:
    async with session_factory() as session:
        if await instruments.has_instruments(session, server_id):
            return
        server = await servers.get_server(session, server_id)
        mapping = dict(server.symbol_map or {})
    specs = await platform.list_symbols()
    async with session_factory() as session, session.begin():
        await instruments.sync_instruments(session, server_id, specs, mapping)


async def pull_server(
    session_factory: SessionFactory, server_id: int, platform: TradingPlatform, *,
    page_size: int = PAGE_SIZE, max_pages: int | None = None, ignore_backoff: bool = False,
    page_pause_s: float = 0.0, now: datetime | None = None,
) -> PullResult:
    """Ingest every deal after the server's cursor, page by page (see the module docstring)."""
    result = PullResult(server_id)
    async with session_factory() as session:
        server = await servers.get_server(session, server_id)
        if not ignore_backoff and server.next_attempt_at is not None and server.next_attempt_at > (now or utcnow()):
            result.skipped, result.next_attempt_at = True, server.next_attempt_at
            return result
        cursor = await read_cursor(session, server_id)
        await session.commit()
    try:
        await ensure_instruments(session_factory, server_id, platform)
        while max_pages is None or result.pages < max_pages:
            page = await _fetch_page(session_factory, server_id, platform, cursor, page_size, result)
            batch = await _ingest_page(session_factory, server_id, platform, page, advance=True)
            result.add(batch)
            cursor = max(cursor, page.next_cursor)
            if not page.has_more or not page.deals:
                break
            if page_pause_s:
                await asyncio.sleep(page_pause_s)
    except (ExternalServiceUnavailable, PlatformAuthFailed, PlatformProtocolError) as exc:
        kind = "auth" if isinstance(exc, PlatformAuthFailed) else (
            "malformed_page" if isinstance(exc, PlatformProtocolError) else "unavailable")
        async with session_factory() as session, session.begin():
            result.next_attempt_at = await servers.record_failure(session, server_id, f"{exc.code}: {exc.message}")
            if kind != "malformed_page":  # malformed pages were recorded as they happened
                await record_error(session, server_id, kind, exc.message)
        result.error = exc.code
        result.cursor = cursor
        return result
    async with session_factory() as session, session.begin():
        await servers.record_success(session, server_id)
    result.cursor = cursor
    return result


async def stored_count(session: AsyncSession, server_id: int, start: datetime, end: datetime) -> int:
    count = await session.scalar(
        text("SELECT count(*) FROM trading_deals WHERE server_id = :s AND time >= :a AND time < :b"),
        {"s": server_id, "a": start, "b": end},
    )
    return int(count or 0)


async def verify_periods(
    session_factory: SessionFactory, server_id: int, platform: TradingPlatform,
    start: datetime, end: datetime, period: timedelta,
) -> list[datetime]:
    """Gap detection: compare the server's deal count per period with ours and refetch a period
    whose counts differ. Only periods that end at or before the cursor are checked (later ones are
    still being pulled). Returns the starts of the periods that were refetched."""
    async with session_factory() as session:
        cursor_time = utc_from_ms((await read_cursor(session, server_id)).time_ms)
        await session.commit()
    refetched: list[datetime] = []
    lo = start
    while lo + period <= min(end, cursor_time):
        hi = lo + period
        # deal_totals counts whole seconds inclusively: [lo, hi - 1 s] covers [lo, hi).
        remote = await platform.deal_totals(lo, hi - timedelta(seconds=1))
        async with session_factory() as session:
            local = await stored_count(session, server_id, lo, hi)
        if remote != local:
            await _refetch(session_factory, server_id, platform, lo, hi)
            refetched.append(lo)
        lo = hi
    return refetched


async def _refetch(
    session_factory: SessionFactory, server_id: int, platform: TradingPlatform, lo: datetime, hi: datetime
) -> None:
    cursor = DealCursor(ms_from_utc(lo) - 1, _MAX_DEAL_ID)
    end_ms = ms_from_utc(hi)
    while True:
        page = await platform.deals_since(cursor, PAGE_SIZE)
        if not page.deals:
            return
        await _ingest_page(session_factory, server_id, platform, page, advance=False, announce=False)
        cursor = page.next_cursor
        if not page.has_more or cursor.time_ms >= end_ms:
            return
