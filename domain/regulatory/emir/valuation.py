"""What a day's close was, captured once (the CRM keeps only current positions and prices): by the close job five
minutes after midnight UTC (jobs/regulatory.capture_emir_close), or else when the day is first built. Each open
position's mark-to-market value (one EMIR VALU report each) and each collateral portfolio's margin and equity.
A rebuild of the day reads what was captured, never today's positions or prices. A position closed entirely
between the close and its capture (its row gone) is not valued: the close job keeps that window to minutes.

- Open at the close: a real account's position with volume once the deals after the close are taken back (a
  position opened after the close has none; one partly closed since has its volume at the close), reported
  before (it has a UTI).
- Marked at the symbol's current price (risk_prices: the last deal price seen) when the day is captured; the
  value is the client's unrealised result negated (the broker is the reporting counterparty), in the
  instrument's quote currency: contract size x volume x (price - average open price), signed by the client's side.
- A portfolio is one trading account (MT5 margins each account on its own): margin posted = the platform's used
  margin, with the account's equity, from its last platform snapshot before the close that carries the margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.regulatory.errors import ReportPriceMissing
from domain.shared.db import driver

# $1 the day, $2 the close (the next day's first instant). The deals since the close are summed once per
# position in one pass (the time index), not looked up per open position: a lateral per position read all of
# its login's deals since the close each time (100k positions, 4 h of a 1M-deal day after the close: 18.7 s).
_OPEN = """
SELECT CAST($1 AS date) AS business_date, p.server_id, p.position_id, u.uti, p.account_id, p.login, p.symbol, p.side,
       p.volume + coalesce(later.vout, 0) - coalesce(later.vin, 0) AS volume,
       p.in_value / nullif(p.in_volume, 0) AS open_price
FROM trading_positions p
JOIN trading_accounts ta ON ta.id = p.account_id AND ta.account_type = 'real'
JOIN regulatory_utis u ON u.server_id = p.server_id AND u.position_id = p.position_id
LEFT JOIN (
    SELECT d.server_id, d.login, d.position_id, sum(d.volume) FILTER (WHERE d.entry = 0) AS vin,
           sum(d.volume) FILTER (WHERE d.entry <> 0) AS vout
    FROM trading_deals d WHERE d.time >= $2 AND d.action IN (0, 1) GROUP BY 1, 2, 3) later
    ON later.server_id = p.server_id AND later.login = p.login AND later.position_id = p.position_id
WHERE p.volume > 0 AND (p.opened_at IS NULL OR p.opened_at < $2)
"""

_CAPTURE = f"""
WITH open AS ({_OPEN})
INSERT INTO regulatory_valuations (business_date, server_id, position_id, uti, account_id, login, symbol, side,
    volume, open_price, price, price_time, contract_size, currency, value)
SELECT o.business_date, o.server_id, o.position_id, o.uti, o.account_id, o.login, o.symbol, o.side, o.volume,
       o.open_price, r.price, r.price_time, i.contract_size, upper(left(i.quote_currency, 3)),
       -(i.contract_size * o.volume * (r.price - o.open_price) * CASE WHEN o.side = 'BUY' THEN 1 ELSE -1 END)
FROM open o
JOIN trading_instruments i ON i.server_id = o.server_id AND i.symbol = o.symbol
JOIN risk_prices r ON r.server_id = o.server_id AND r.symbol = o.symbol
WHERE o.volume > 0 AND o.open_price IS NOT NULL
"""  # noqa: S608 - constant SQL fragments

_UNPRICED = f"""
WITH open AS ({_OPEN})
SELECT o.server_id, o.symbol, min(o.position_id) AS position_id FROM open o
LEFT JOIN risk_prices r ON r.server_id = o.server_id AND r.symbol = o.symbol
WHERE o.volume > 0 AND r.price IS NULL GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 1
"""  # noqa: S608

_COLLATERAL = """
INSERT INTO regulatory_collateral (business_date, portfolio_code, server_id, login, account_id, user_id, currency,
    margin_posted, equity, snapshot_at)
SELECT $1, 'S' || a.server_id || 'L' || a.login, a.server_id, a.login, a.account_id, ta.user_id, s.currency,
       s.margin, coalesce(s.equity, s.balance), s.captured_at
FROM (SELECT DISTINCT server_id, login, account_id FROM regulatory_valuations WHERE business_date = $1) a
JOIN trading_accounts ta ON ta.id = a.account_id AND ta.user_id IS NOT NULL
JOIN LATERAL (
    SELECT b.currency, b.margin, b.equity, b.balance, b.captured_at FROM reconciliation_platform_balances b
    WHERE b.server_id = a.server_id::text AND b.login = a.login AND b.captured_at < $2 AND b.margin IS NOT NULL
    ORDER BY b.captured_at DESC LIMIT 1) s ON true
"""


@dataclass(frozen=True)
class Captured:
    day: date
    captured_at: datetime
    positions: int
    portfolios: int
    fresh: bool  # captured by this call (False: read from an earlier build of the day)


async def capture(session: AsyncSession, day: date, close: datetime) -> Captured:
    """Capture the day's close once (the caller holds the day's build lock); later calls answer what was kept.
    An open position whose symbol has no price is REPORT_PRICE_MISSING: nothing is reported with a guessed
    value (and the caller's transaction stores nothing)."""
    kept = (await session.execute(text(
        "SELECT business_date, captured_at, positions, portfolios FROM regulatory_valuation_days "
        "WHERE business_date = :d"), {"d": day})).first()
    if kept is not None:
        return Captured(day, kept.captured_at, kept.positions, kept.portfolios, False)
    raw = await driver(session)
    missing = await raw.fetchrow(_UNPRICED, day, close)
    if missing is not None:
        raise ReportPriceMissing(
            f"position {missing['position_id']} on server {missing['server_id']} is open at the close of "
            f"{day.isoformat()} but {missing['symbol']!r} has no price to value it at", field="symbol")
    at = await raw.fetchval("INSERT INTO regulatory_valuation_days (business_date, positions, portfolios) "
                            "VALUES ($1, 0, 0) RETURNING captured_at", day)
    positions = int((await raw.execute(_CAPTURE, day, close)).split()[-1])
    portfolios = int((await raw.execute(_COLLATERAL, day, close)).split()[-1])
    await raw.execute("UPDATE regulatory_valuation_days SET positions = $2, portfolios = $3 WHERE business_date = $1",
                      day, positions, portfolios)
    return Captured(day, at, positions, portfolios, True)


@dataclass(frozen=True)
class Collateral:
    business_date: date
    portfolio_code: str
    server_id: int
    login: int
    account_id: int
    client_id: int | None
    currency: str
    margin_posted: Decimal
    equity: Decimal
    snapshot_at: datetime


async def collateral(session: AsyncSession, day: date, client_id: int | None = None) -> list[Collateral]:
    """The collateral portfolios captured for a day (optionally one client's, by clients.id), by portfolio code."""
    rows = await session.execute(text(
        "SELECT r.business_date, r.portfolio_code, r.server_id, r.login, r.account_id, c.id AS client_id, r.currency, "
        "r.margin_posted, r.equity, r.snapshot_at FROM regulatory_collateral r "
        "LEFT JOIN clients c ON c.user_id = r.user_id WHERE r.business_date = :d "
        "AND (CAST(:c AS bigint) IS NULL OR c.id = :c) ORDER BY r.portfolio_code"), {"d": day, "c": client_id})
    return [Collateral(*r) for r in rows]
