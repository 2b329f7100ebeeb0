"""Platform balance snapshots: a job asks each trading server for the balance of every account the
ledger mirrors and stores it (with its equity, for the client-money requirement; its used margin, the collateral
EMIR reports; its floating profit, the unrealised result the retail loss percentage counts),
so section (d) of a run compares from a table, not 100k HTTP calls.

A login the platform cannot answer for is skipped (and counted); the next capture retries it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger.transfers import registered_platform
from domain.platforms.port import TradingPlatform
from domain.shared.db import SessionFactory, in_transaction, utcnow
from domain.shared.errors import DomainError

log = structlog.get_logger(__name__)
PlatformLookup = Callable[[str], TradingPlatform]
CONCURRENCY = 16


@dataclass(frozen=True)
class CaptureResult:
    captured_at: datetime
    captured: int
    failed: int


_INSERT = text(
    """
    INSERT INTO reconciliation_platform_balances (server_id, login, captured_at, currency, balance, equity, margin,
        floating_profit)
    SELECT :server, l.login, :at, l.cur, l.balance, l.equity, l.margin, l.floating
    FROM unnest(CAST(:login AS bigint[]), CAST(:cur AS text[]), CAST(:balance AS numeric[]),
                CAST(:equity AS numeric[]), CAST(:margin AS numeric[]), CAST(:floating AS numeric[]))
        AS l(login, cur, balance, equity, margin, floating)
    ON CONFLICT DO NOTHING
    """
)


async def capture_balances(
    factory: SessionFactory, *, platforms: PlatformLookup = registered_platform, now: datetime | None = None,
) -> CaptureResult:
    """Snapshot the platform balance of every mirrored trading account (one timestamp per capture)."""
    now = now or utcnow()
    at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the column keeps milliseconds
    async with factory() as session:
        rows = (await session.execute(text(
            "SELECT server_id, login FROM ledger_accounts WHERE purpose = 'trading_account_mirror' "
            "ORDER BY server_id, login"))).all()
    by_server: dict[str, list[int]] = {}
    for r in rows:
        by_server.setdefault(r.server_id, []).append(int(r.login))
    captured = failed = 0
    gate = asyncio.Semaphore(CONCURRENCY)
    for server_id, logins in by_server.items():
        try:
            platform = platforms(server_id)
        except DomainError:
            failed += len(logins)
            continue

        async def one(login: int, platform: TradingPlatform = platform,
                      ) -> tuple[int, str, Decimal, Decimal, Decimal, Decimal] | None:
            async with gate:
                try:
                    state = await platform.get_account_state(login)
                except Exception as exc:  # one account's failure must not stop the capture
                    log.warning("reconciliation.snapshot_failed", login=login, error=str(exc))
                    return None
            return login, state.currency, state.balance, state.equity, state.margin, state.floating_profit

        results = await asyncio.gather(*(one(x) for x in logins))
        ok = [r for r in results if r is not None]
        failed += len(results) - len(ok)
        captured += len(ok)
        if ok:
            params = {"server": server_id, "at": at, "login": [r[0] for r in ok], "cur": [r[1] for r in ok],
                      "balance": [r[2] for r in ok], "equity": [r[3] for r in ok], "margin": [r[4] for r in ok],
                      "floating": [r[5] for r in ok]}

            async def store(session: AsyncSession, params: dict[str, object] = params) -> None:
                await session.execute(_INSERT, params)

            await in_transaction(factory, store)
    return CaptureResult(at, captured, failed)
