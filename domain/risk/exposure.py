"""Net exposure read from the incremental cube `risk_exposure`.

The cube holds, per (server, symbol, account group, client country), signed net lots and the signed
open value (lots x average open price); triggers on trading_positions keep it current as positions
change (migrations/versions/0010_risk.py), so a query never scans positions. Prices are marked at
the last known price (mid; deal prices feed it); USD conversion uses the quote currency's USD pair
on the same server, else the latest trading_usd_rates row. A symbol with no price is reported in
`unpriced` and contributes lots but no money figures.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.risk.regions import country_regions


class Dimension(enum.Enum):
    SYMBOL = "symbol"
    ASSET_CLASS = "asset_class"
    COUNTRY = "country"
    REGION = "region"
    BOOK = "book"
    SERVER = "server"
    GROUP = "group"


# The cube is first summed down to (server, symbol, group, inner key): the key a dimension needs
# beyond those three. Only then are prices applied, so the NUMERIC price arithmetic runs over a few
# dozen rows rather than every (server, symbol, group, country) cell.
_INNER = {
    Dimension.COUNTRY: "e.country",
    Dimension.REGION: "COALESCE(r.region, 'Unknown')",
}
_KEYS = {
    Dimension.SYMBOL: "COALESCE(px.canonical, c.symbol)",
    Dimension.ASSET_CLASS: "COALESCE(px.asset_class, 'unknown')",
    Dimension.COUNTRY: "c.ikey",
    Dimension.REGION: "c.ikey",
    Dimension.BOOK: "COALESCE(gb.book, 'UNMAPPED')",
    Dimension.SERVER: "c.server_id::text",
    Dimension.GROUP: "c.grp",
}

# Prices and the quote currency's USD rate for every instrument that has exposure.
_PX = """
px AS (
    SELECT i.server_id, i.symbol, i.canonical, i.asset_class, i.contract_size, p.price,
        CASE WHEN i.quote_currency = 'USD' THEN 1::numeric ELSE COALESCE(
            (SELECT q.price FROM risk_prices q
             WHERE q.server_id = i.server_id AND q.symbol = i.quote_currency || 'USD'),
            (SELECT 1 / q.price FROM risk_prices q
             WHERE q.server_id = i.server_id AND q.symbol = 'USD' || i.quote_currency),
            (SELECT u.rate FROM trading_usd_rates u WHERE u.currency = i.quote_currency
             ORDER BY u.valid_from DESC LIMIT 1)) END AS q_usd
    FROM trading_instruments i LEFT JOIN risk_prices p USING (server_id, symbol)
    WHERE (i.server_id, i.symbol) IN (SELECT server_id, symbol FROM risk_exposure)
)"""

_QUERY = """
WITH {px},
c AS (
    SELECT e.server_id, e.symbol, e.grp, {inner} AS ikey, sum(e.net_lots) AS net_lots,
        sum(e.long_lots) AS long_lots, sum(e.short_lots) AS short_lots, sum(e.open_value) AS open_value,
        sum(e.positions) AS positions
    FROM risk_exposure e {regions}
    WHERE (e.positions <> 0 OR e.net_lots <> 0) {where_cube}
    GROUP BY 1, 2, 3, 4
)
SELECT {key} AS key,
    sum(c.net_lots) AS net_lots, sum(c.long_lots) AS long_lots, sum(c.short_lots) AS short_lots,
    sum(c.positions) AS positions,
    sum(c.net_lots * px.contract_size) AS base_units,
    sum(c.net_lots * px.contract_size * px.price * px.q_usd) AS notional_usd,
    sum((c.long_lots + c.short_lots) * px.contract_size * px.price * px.q_usd) AS gross_usd,
    sum(px.contract_size * (c.net_lots * px.price - c.open_value) * px.q_usd) AS client_pnl_usd,
    sum(-px.contract_size * (c.net_lots * px.price - c.open_value) * px.q_usd * (1 - gb.a_book_pct / 100))
        FILTER (WHERE gb.book IS NOT NULL) AS bbook_pnl_usd,
    array_agg(DISTINCT c.symbol) FILTER (WHERE px.price IS NULL OR px.q_usd IS NULL) AS unpriced,
    array_agg(DISTINCT c.server_id || ':' || c.grp) FILTER (WHERE gb.book IS NULL) AS unmapped,
    now() AS as_of
FROM c
LEFT JOIN px USING (server_id, symbol)
LEFT JOIN risk_group_books gb ON gb.server_id = c.server_id AND gb.grp = c.grp
WHERE true {where}
GROUP BY 1
"""
_REGIONS = (
    "LEFT JOIN unnest(CAST(:rc AS text[]), CAST(:rr AS text[])) AS r(country, region) ON r.country = upper(e.country)"
)

_CENT = Decimal("0.01")
_LOT = Decimal("1e-8")


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(_CENT)


@dataclass
class ExposureLine:
    key: str
    net_lots: Decimal
    long_lots: Decimal
    short_lots: Decimal
    positions: int
    base_units: Decimal | None  # units of the base currency (meaningful per symbol)
    notional_usd: Decimal | None
    gross_usd: Decimal | None
    client_pnl_usd: Decimal | None  # clients' floating P&L
    bbook_pnl_usd: Decimal | None  # the broker's floating P&L on the B-booked share


@dataclass
class ExposureReport:
    dimension: Dimension
    lines: list[ExposureLine]
    unpriced: list[str] = field(default_factory=list)
    unmapped_groups: list[str] = field(default_factory=list)
    as_of: datetime | None = None


async def exposure(
    session: AsyncSession, by: Dimension, *, server_id: int | None = None, symbol: str | None = None
) -> ExposureReport:
    """Net exposure broken down by one dimension, optionally for one server and/or symbol."""
    where = where_cube = ""
    params: dict[str, Any] = {}
    if server_id is not None:
        where_cube += " AND e.server_id = :server_id"
        params["server_id"] = server_id
    if symbol is not None:
        where += " AND COALESCE(px.canonical, c.symbol) = :symbol"
        params["symbol"] = symbol
    regions = ""
    if by is Dimension.REGION:
        regions = _REGIONS
        mapping = country_regions()
        params["rc"], params["rr"] = list(mapping), list(mapping.values())
    sql = _QUERY.format(px=_PX, inner=_INNER.get(by, "''"), regions=regions, where_cube=where_cube, key=_KEYS[by],
                        where=where)  # fmt: skip
    rows = (await session.execute(text(sql), params)).all()
    unpriced: set[str] = set()
    unmapped: set[str] = set()
    lines: list[ExposureLine] = []
    for r in rows:
        unpriced.update(r.unpriced or ())
        unmapped.update(r.unmapped or ())
        priced = not r.unpriced
        lines.append(ExposureLine(
            key=str(r.key), net_lots=Decimal(r.net_lots).quantize(_LOT), long_lots=Decimal(r.long_lots).quantize(_LOT),
            short_lots=Decimal(r.short_lots).quantize(_LOT), positions=int(r.positions),
            base_units=Decimal(r.base_units).quantize(_CENT) if r.base_units is not None else None,
            notional_usd=_money(r.notional_usd) if priced else None,
            gross_usd=_money(r.gross_usd) if priced else None,
            client_pnl_usd=_money(r.client_pnl_usd) if priced else None,
            bbook_pnl_usd=_money(r.bbook_pnl_usd) if priced and r.bbook_pnl_usd is not None else None,
        ))  # fmt: skip
    if by not in (Dimension.SYMBOL,):
        for line in lines:
            line.base_units = None  # base units of different currencies do not add up
    lines.sort(key=lambda x: (-(abs(x.notional_usd) if x.notional_usd is not None else Decimal(-1)), x.key))
    as_of = rows[0].as_of if rows else await session.scalar(text("SELECT now()"))
    return ExposureReport(by, lines, sorted(unpriced), sorted(unmapped), as_of)


@dataclass(frozen=True)
class TopClient:
    account_id: int | None
    server_id: int
    login: int
    user_id: int | None
    net_lots: Decimal
    positions: int


async def top_clients(session: AsyncSession, symbol: str, *, limit: int = 10) -> list[TopClient]:
    """Accounts with the largest absolute net position in one symbol (reads that symbol's positions)."""
    rows = (await session.execute(text(
        "SELECT p.account_id, p.server_id, p.login, min(a.user_id) AS user_id, "
        "sum(CASE WHEN p.side = 'BUY' THEN p.volume ELSE -p.volume END) AS net, count(*) AS n "
        "FROM trading_positions p LEFT JOIN trading_accounts a ON a.id = p.account_id "
        "WHERE p.symbol = :s GROUP BY p.account_id, p.server_id, p.login "
        "ORDER BY abs(sum(CASE WHEN p.side = 'BUY' THEN p.volume ELSE -p.volume END)) DESC, p.login LIMIT :n"
    ), {"s": symbol, "n": limit})).all()  # fmt: skip
    return [TopClient(r.account_id, r.server_id, r.login, r.user_id, Decimal(r.net), int(r.n)) for r in rows]


async def full_scan(session: AsyncSession) -> dict[tuple[int, str], Decimal]:
    """Net lots per (server, symbol) straight from trading_positions: the check (and bench anchor)."""
    rows = await session.execute(text(
        "SELECT server_id, symbol, sum(CASE WHEN side = 'BUY' THEN volume ELSE -volume END) AS net "
        "FROM trading_positions GROUP BY 1, 2"
    ))  # fmt: skip
    return {(r.server_id, r.symbol): Decimal(r.net) for r in rows}


async def cube_by_symbol(session: AsyncSession) -> dict[tuple[int, str], Decimal]:
    rows = await session.execute(text(
        "SELECT server_id, symbol, sum(net_lots) AS net FROM risk_exposure GROUP BY 1, 2"
    ))  # fmt: skip
    return {(r.server_id, r.symbol): Decimal(r.net) for r in rows}


async def take_snapshot(session: AsyncSession) -> int:
    """Copy the cube with current prices into the history (periodic job)."""
    result = await session.execute(text(
        "INSERT INTO risk_exposure_snapshots (taken_at, server_id, symbol, grp, country, net_lots, open_value, price) "
        "SELECT date_trunc('milliseconds', now()), e.server_id, e.symbol, e.grp, e.country, e.net_lots, "
        "e.open_value, p.price FROM risk_exposure e LEFT JOIN risk_prices p USING (server_id, symbol) "
        "WHERE e.positions <> 0 OR e.net_lots <> 0"
    ))  # fmt: skip
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class HistoryPoint:
    taken_at: datetime
    net_lots: Decimal
    notional: Decimal | None  # in the quote currency


async def history(session: AsyncSession, symbol: str, since: datetime, until: datetime) -> list[HistoryPoint]:
    rows = (await session.execute(text(
        "SELECT s.taken_at, sum(s.net_lots) AS net, sum(s.net_lots * i.contract_size * s.price) AS notional "
        "FROM risk_exposure_snapshots s LEFT JOIN trading_instruments i USING (server_id, symbol) "
        "WHERE s.symbol = :s AND s.taken_at >= :a AND s.taken_at < :b GROUP BY 1 ORDER BY 1"
    ), {"s": symbol, "a": since, "b": until})).all()  # fmt: skip
    return [HistoryPoint(r.taken_at, Decimal(r.net), None if r.notional is None else _money(r.notional)) for r in rows]


async def rebuild(session: AsyncSession) -> None:
    """Recompute the cube from positions (repair after a client's country change or a restore)."""
    await session.execute(text("LOCK TABLE risk_exposure IN EXCLUSIVE MODE"))
    await session.execute(text("DELETE FROM risk_exposure"))
    await session.execute(text(
        "INSERT INTO risk_exposure (server_id, symbol, grp, country, net_lots, long_lots, short_lots, open_value, "
        "positions) "
        "SELECT p.server_id, p.symbol, COALESCE(a.\"group\", ''), COALESCE(c.country, ''), "
        "sum(CASE WHEN p.side = 'BUY' THEN p.volume ELSE -p.volume END), "
        "sum(CASE WHEN p.side = 'BUY' THEN p.volume ELSE 0 END), "
        "sum(CASE WHEN p.side = 'SELL' THEN p.volume ELSE 0 END), "
        "sum(CASE WHEN p.side = 'BUY' THEN 1 ELSE -1 END * p.volume "
        "    * CASE WHEN p.in_volume > 0 THEN p.in_value / p.in_volume ELSE 0 END), "
        "count(*) FILTER (WHERE p.volume <> 0) "
        "FROM trading_positions p LEFT JOIN trading_accounts a ON a.id = p.account_id "
        "LEFT JOIN clients c ON c.user_id = a.user_id GROUP BY 1, 2, 3, 4"
    ))  # fmt: skip


TOPIC_EXPOSURE_UPDATED = "risk.exposure_updated"


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


async def publish_update(session: AsyncSession, *, source: str) -> int:
    """Emit the current exposure by symbol (small: one line per symbol) for live dashboards."""
    from domain.events.outbox import emit

    report = await exposure(session, Dimension.SYMBOL)
    payload = {
        "source": source, "as_of": report.as_of.isoformat() if report.as_of else None,
        "unpriced": report.unpriced,
        "lines": [{"symbol": x.key, "net_lots": str(x.net_lots), "positions": x.positions,
                   "notional_usd": _s(x.notional_usd), "client_pnl_usd": _s(x.client_pnl_usd),
                   "bbook_pnl_usd": _s(x.bbook_pnl_usd)} for x in report.lines],
    }  # fmt: skip
    return await emit(session, TOPIC_EXPOSURE_UPDATED, payload)
