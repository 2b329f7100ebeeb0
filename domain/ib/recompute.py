"""Recompute: check a period's stored commission lines against the rules, and correct by adjustment.

`recompute()` runs the engine's own SQL (domain/ib/engine.py EXPECTED_SQL) over every deal of the
period and compares, per (deal, IB, level, plan version, clause), the expected amount with the net
of the stored lines (accrual + adjustments + clawbacks). `adjust()` turns each difference into an
adjustment line (next seq) and posts them to the ledger: stored lines are never changed.
"""

# SQL text here is assembled from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.ib.accrual import post_accruals
from domain.ib.engine import PERIOD_DEALS, expected_sql
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed

_KEY = "server_id, deal_id, ib_id, level, plan_version_id, clause_no"

_DIFF = f"""
WITH e AS MATERIALIZED (SELECT * FROM ({expected_sql(PERIOD_DEALS)}) x WHERE x.amount IS NOT NULL),
s AS (
    SELECT {_KEY}, sum(amount) AS stored, max(seq) AS max_seq, max(id) AS last_id
    FROM ib_commission_lines WHERE source = 'deal' AND deal_time >= :t0 AND deal_time < :t1
    GROUP BY {_KEY}
),
diff AS (
    SELECT e.*, s.stored, s.max_seq, s.last_id,
           coalesce(e.server_id, s.server_id) AS k_server, coalesce(e.deal_id, s.deal_id) AS k_deal,
           coalesce(e.ib_id, s.ib_id) AS k_ib, coalesce(e.level, s.level) AS k_level,
           coalesce(e.version_id, s.plan_version_id) AS k_version, coalesce(e.clause_no, s.clause_no) AS k_clause,
           coalesce(e.amount, 0) - coalesce(s.stored, 0) AS delta
    FROM e FULL JOIN s ON s.server_id = e.server_id AND s.deal_id = e.deal_id AND s.ib_id = e.ib_id
        AND s.level = e.level AND s.plan_version_id = e.version_id AND s.clause_no = e.clause_no
)
"""


@dataclass(frozen=True)
class Difference:
    server_id: int
    deal_id: int
    ib_id: int
    level: int
    plan_version_id: int
    clause_no: int
    expected: Decimal
    stored: Decimal


@dataclass(frozen=True)
class RecomputeReport:
    period_from: datetime
    period_to: datetime
    expected_total: Decimal
    stored_total: Decimal
    differences: list[Difference]

    @property
    def clean(self) -> bool:
        return not self.differences


def _check_period(t0: datetime, t1: datetime) -> None:
    if t0.tzinfo is None or t1.tzinfo is None or t1 <= t0:
        raise ValidationFailed("a period is two UTC instants, from before to", field="period")


async def recompute(session: AsyncSession, period_from: datetime, period_to: datetime) -> RecomputeReport:
    """Compare the period's stored lines with a fresh computation; writes nothing."""
    _check_period(period_from, period_to)
    rows = (await session.execute(text(
        _DIFF + "SELECT k_server, k_deal, k_ib, k_level, k_version, k_clause, coalesce(amount, 0) AS expected, "
        "coalesce(stored, 0) AS stored, delta FROM diff ORDER BY k_server, k_deal, k_ib, k_level, k_version, k_clause"),
        {"t0": period_from, "t1": period_to})).all()
    diffs = [Difference(int(r.k_server), int(r.k_deal), int(r.k_ib), int(r.k_level), int(r.k_version),
                        int(r.k_clause), Decimal(r.expected), Decimal(r.stored)) for r in rows if r.delta != 0]
    return RecomputeReport(period_from, period_to, sum((Decimal(r.expected) for r in rows), Decimal(0)),
                           sum((Decimal(r.stored) for r in rows), Decimal(0)), diffs)


_ADJUST = _DIFF + """
, ins AS (
    INSERT INTO ib_commission_lines (kind, seq, source, run_id, reason, server_id, deal_id, deal_time, batch_id,
        client_id, account_id, login, symbol, volume, ib_id, level, direct_ib_id, plan_id, plan_version_id,
        clause_no, clause_kind, formula, inputs, quantity, rate, fx_rate, amount, currency)
    SELECT 'adjustment', coalesce(d.max_seq, -1) + 1, 'deal', :run, :reason, d.k_server, d.k_deal,
        coalesce(d.deal_time, l.deal_time), coalesce(d.batch_id, l.batch_id), coalesce(d.client_id, l.client_id),
        coalesce(d.account_id, l.account_id), coalesce(d.login, l.login), coalesce(d.symbol, l.symbol),
        coalesce(d.volume, l.volume), d.k_ib, d.k_level, coalesce(d.direct_ib, l.direct_ib_id),
        coalesce(d.plan_id, l.plan_id), d.k_version, d.k_clause, coalesce(d.kind, l.clause_kind),
        'expected - stored', jsonb_build_object('expected', coalesce(d.amount, 0)::text,
            'stored', coalesce(d.stored, 0)::text, 'recomputed', d.inputs, 'formula', d.formula),
        coalesce(d.quantity, 0), coalesce(d.rate, 0), coalesce(d.fx_rate, l.fx_rate), d.delta,
        coalesce(d.currency, l.currency)
    FROM diff d LEFT JOIN ib_commission_lines l ON l.id = d.last_id
    WHERE d.delta <> 0
    RETURNING ib_id, currency, amount
)
SELECT count(*) AS lines,
       coalesce(jsonb_agg(jsonb_build_object('ib', ib_id, 'cur', currency, 'amt', amount::text)), '[]') AS items
FROM ins
"""


@dataclass(frozen=True)
class AdjustmentRun:
    run_id: uuid.UUID
    lines: int
    entry_ids: list[int]


async def adjust(session: AsyncSession, actor: Actor, period_from: datetime, period_to: datetime, *,
                 reason: str) -> AdjustmentRun:
    """Write adjustment lines for every difference in the period and post them. Never commits."""
    _check_period(period_from, period_to)
    if not reason.strip():
        raise ValidationFailed("a reason is required", field="reason")
    run_id = uuid.uuid4()
    row = (await session.execute(text(_ADJUST), {"t0": period_from, "t1": period_to, "run": run_id,
                                                  "reason": reason[:2000]})).one()
    totals = [(int(i["ib"]), str(i["cur"]), Decimal(i["amt"])) for i in row.items]
    entry_ids = await post_accruals(session, actor, totals, ref_kind="ib_adjustment", ref_id=str(run_id),
                                    idempotency_key=f"ib.adjust:{run_id}")
    await record(session, actor, action="ib.commissions_adjusted", entity_type="ib_adjustment_run",
                 entity_id=str(run_id), reason=reason,
                 after={"from": period_from.isoformat(), "to": period_to.isoformat(), "lines": int(row.lines)})
    return AdjustmentRun(run_id, int(row.lines), entry_ids)
