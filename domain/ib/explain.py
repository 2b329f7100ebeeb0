"""Explain: how any amount an IB sees was computed, down to deals and plan clauses.

A line carries its formula and inputs; `explain_line` adds the deal and the clause as stored.
`explain_period` breaks an IB's total for a period down by day, level and clause (each group with
its deal count) and lists the lines behind it, so a dispute can attach the whole derivation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ib.errors import IbNotFound


@dataclass(frozen=True)
class LineExplanation:
    line: dict[str, Any]
    deal: dict[str, Any] | None
    clause: dict[str, Any] | None


async def explain_line(session: AsyncSession, line_id: int, *, ib_id: int | None = None) -> LineExplanation:
    """One line with its deal and clause; `ib_id` restricts to that IB's own lines (partner access)."""
    line = (await session.execute(text("SELECT * FROM ib_commission_lines WHERE id = :id"), {"id": line_id})).first()
    if line is None or (ib_id is not None and int(line.ib_id) != ib_id):
        raise IbNotFound("no such commission line", field="lineId")
    m = dict(line._mapping)
    deal = None
    if m["deal_id"] is not None:
        d = (await session.execute(text(
            "SELECT server_id, deal_id, time, login, symbol, action, entry, volume, price, commission, profit, "
            "storage, contract_size, rate_profit, position_id FROM trading_deals "
            "WHERE server_id = :s AND deal_id = :d AND time = :t"),
            {"s": m["server_id"], "d": m["deal_id"], "t": m["deal_time"]})).first()
        deal = dict(d._mapping) if d is not None else None
    c = (await session.execute(text(
        "SELECT c.*, v.version, v.distribution, v.valid_from, v.valid_to, p.name AS plan_name "
        "FROM ib_plan_clauses c JOIN ib_plan_versions v ON v.id = c.version_id JOIN ib_plans p ON p.id = v.plan_id "
        "WHERE c.version_id = :v AND c.clause_no = :n"),
        {"v": m["plan_version_id"], "n": m["clause_no"]})).first()
    return LineExplanation(m, deal, dict(c._mapping) if c is not None else None)


@dataclass(frozen=True)
class Group:
    day: date
    level: int
    plan_version_id: int
    clause_no: int
    clause_kind: str
    currency: str
    deals: int
    lines: int
    amount: Decimal


@dataclass(frozen=True)
class PeriodExplanation:
    ib_id: int
    period_from: datetime
    period_to: datetime
    totals: dict[str, Decimal]  # by currency
    groups: list[Group]
    lines: list[dict[str, Any]]
    truncated: bool


async def explain_period(session: AsyncSession, ib_id: int, period_from: datetime, period_to: datetime, *,
                         line_limit: int = 1000) -> PeriodExplanation:
    params = {"ib": ib_id, "t0": period_from, "t1": period_to}
    groups = [Group(r.day, int(r.level), int(r.plan_version_id), int(r.clause_no), r.clause_kind, r.currency,
                    int(r.deals), int(r.lines), Decimal(r.amount))
              for r in (await session.execute(text(
                  "SELECT (deal_time AT TIME ZONE 'UTC')::date AS day, level, plan_version_id, clause_no, clause_kind, "
                  "currency, count(DISTINCT (server_id, deal_id)) AS deals, count(*) AS lines, sum(amount) AS amount "
                  "FROM ib_commission_lines WHERE ib_id = :ib AND deal_time >= :t0 AND deal_time < :t1 "
                  "GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 6"), params)).all()]
    totals: dict[str, Decimal] = {}
    for g in groups:
        totals[g.currency] = totals.get(g.currency, Decimal(0)) + g.amount
    rows = (await session.execute(text(
        "SELECT id, kind, seq, source, server_id, deal_id, deal_time, client_id, login, symbol, volume, level, "
        "direct_ib_id, plan_version_id, clause_no, clause_kind, formula, inputs, quantity, rate, fx_rate, amount, "
        "currency FROM ib_commission_lines WHERE ib_id = :ib AND deal_time >= :t0 AND deal_time < :t1 "
        "ORDER BY deal_time, id LIMIT :lim"), {**params, "lim": line_limit + 1})).all()
    lines = [dict(r._mapping) for r in rows[:line_limit]]
    return PeriodExplanation(ib_id, period_from, period_to, totals, groups, lines, len(rows) > line_limit)


def _plain(value: Any) -> Any:
    """JSON-ready: decimals and instants as strings."""
    import orjson

    return orjson.loads(orjson.dumps(value, default=str))


async def explain_for(session: AsyncSession, line_id: int, *, ib_id: int | None = None,
                      visible_depth: int | None = None) -> LineExplanation:
    """`explain_line` as JSON-ready dicts; for an IB, a client below its visible depth is not named."""
    e = await explain_line(session, line_id, ib_id=ib_id)
    line, deal = _plain(e.line), _plain(e.deal)
    if visible_depth is not None and int(line["level"]) > visible_depth:
        for key in ("client_id", "account_id", "login"):
            line[key] = None
        if deal is not None:
            deal["login"] = None
            deal["position_id"] = None
    return LineExplanation(line, deal, _plain(e.clause))
