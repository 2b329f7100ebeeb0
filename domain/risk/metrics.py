"""Client metrics read model: per account from `risk_account_metrics` (kept per batch), per client as
the sum over the client's accounts; floating P&L from open positions at current prices."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.risk.detectors import WEIGHTS

_CENT = Decimal("0.01")
HOLD_BUCKETS = ("<5s", "5s-1m", "1m-10m", "10m-1h", ">=1h")

_SELECT = """
SELECT {key} AS key, sum(opens) AS opens, sum(closed) AS closed, sum(wins) AS wins,
    sum(gross_profit) AS gp, sum(gross_loss) AS gl, sum(hold_ms_sum) AS hold,
    sum(hold_lt_5s) AS h0, sum(hold_lt_1m) AS h1, sum(hold_lt_10m) AS h2, sum(hold_lt_1h) AS h3,
    sum(hold_ge_1h) AS h4, sum(volume_lots) AS volume, sum(news_opens) AS news, sum(deposits) AS dep,
    sum(withdrawals) AS wd, min(first_ms) AS first_ms, max(last_ms) AS last_ms, sum(requests) AS requests,
    sum(rejected_requests) AS rejected, sum(slip_fills) AS slip_fills, sum(slip_points_sum) AS slip_sum,
    sum(slip_favour) AS slip_favour, sum(slip_against) AS slip_against,
    array_agg(account_id) AS accounts
FROM risk_account_metrics WHERE {where} GROUP BY 1
"""

_FLOATING = """
SELECT COALESCE(sum(i.contract_size * CASE WHEN p.side = 'BUY' THEN 1 ELSE -1 END
    * (p.volume * r.price - CASE WHEN p.in_volume > 0 THEN p.volume * p.in_value / p.in_volume ELSE 0 END)), 0)
    AS pnl, bool_or(r.price IS NULL) AS unpriced
FROM trading_positions p
JOIN trading_instruments i ON i.server_id = p.server_id AND i.symbol = p.symbol
LEFT JOIN risk_prices r ON r.server_id = p.server_id AND r.symbol = p.symbol
WHERE p.account_id = ANY(:ids) AND i.quote_currency = 'USD'
"""


@dataclass
class ClientMetrics:
    key: int
    accounts: list[int]
    realised_pnl: Decimal
    floating_pnl: Decimal | None  # USD-quoted symbols only; None when a price is missing
    closed_trades: int
    win_rate: float | None
    expectancy: Decimal | None
    profit_factor: float | None
    avg_hold_seconds: float | None
    hold_distribution: dict[str, int]
    trades_per_day: float | None
    volume_lots: Decimal
    news_share: float | None
    slippage_points: Decimal | None  # average per fill, + in the client's favour; None: no requested prices
    positive_slippage_share: float | None  # of the fills that slipped, the share in the client's favour
    order_requests: int
    rejected_request_share: float | None
    net_deposits: Decimal
    equity_growth: float | None  # realised P&L over net deposits
    risk_score: int


def _build(r: Any, floating: Decimal | None, score: int) -> ClientMetrics:
    closed, opens = int(r.closed), int(r.opens)
    gp, gl = Decimal(r.gp), Decimal(r.gl)
    realised = gp - gl
    net_dep = Decimal(r.dep) - Decimal(r.wd)
    span_days = ((r.last_ms or 0) - (r.first_ms or 0)) / 86_400_000
    slipped = int(r.slip_favour) + int(r.slip_against)
    return ClientMetrics(
        key=int(r.key), accounts=sorted(int(a) for a in r.accounts), realised_pnl=realised.quantize(_CENT),
        floating_pnl=floating, closed_trades=closed,
        win_rate=int(r.wins) / closed if closed else None,
        expectancy=(realised / closed).quantize(_CENT) if closed else None,
        profit_factor=float(gp / gl) if gl else None,
        avg_hold_seconds=int(r.hold) / closed / 1000 if closed else None,
        hold_distribution=dict(zip(HOLD_BUCKETS, (int(r.h0), int(r.h1), int(r.h2), int(r.h3), int(r.h4)), strict=True)),
        trades_per_day=opens / max(span_days, 1 / 24) if opens else None,
        volume_lots=Decimal(r.volume), news_share=int(r.news) / opens if opens else None,
        slippage_points=(Decimal(r.slip_sum) / int(r.slip_fills)).quantize(_CENT) if int(r.slip_fills) else None,
        positive_slippage_share=int(r.slip_favour) / slipped if slipped else None,
        order_requests=int(r.requests),
        rejected_request_share=int(r.rejected) / int(r.requests) if r.requests else None,
        net_deposits=net_dep.quantize(_CENT),
        equity_growth=float(realised / net_dep) if net_dep > 0 else None, risk_score=score,
    )  # fmt: skip


async def risk_score(session: AsyncSession, account_ids: list[int]) -> int:
    detectors = await session.scalars(text(
        "SELECT DISTINCT detector FROM risk_flags WHERE account_id = ANY(:ids) AND status <> 'dismissed'"
    ), {"ids": account_ids})  # fmt: skip
    return min(100, sum(WEIGHTS.get(d, 10) for d in detectors))


async def _one(session: AsyncSession, key: str, where: str, value: int) -> ClientMetrics | None:
    row = (await session.execute(text(_SELECT.format(key=key, where=where)), {"v": value})).first()
    if row is None:
        return None
    fl = (await session.execute(text(_FLOATING), {"ids": list(row.accounts)})).one()
    floating = None if fl.unpriced else Decimal(fl.pnl).quantize(_CENT)
    return _build(row, floating, await risk_score(session, list(row.accounts)))


async def account_metrics(session: AsyncSession, account_id: int) -> ClientMetrics | None:
    return await _one(session, "account_id", "account_id = :v", account_id)


async def client_metrics(session: AsyncSession, user_id: int) -> ClientMetrics | None:
    return await _one(session, "user_id", "user_id = :v", user_id)
