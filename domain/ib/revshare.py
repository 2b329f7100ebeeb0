"""Revenue share: a share of the broker's net revenue from referred clients, per IB and period.

Net revenue of a client's deals in the period (B-book, per deal, in the account currency):
`-profit` (the client's realised P&L is the broker's opposite), `-commission` and `-storage` and
`-fee` (charged to the client as negatives), less costs (`cost_per_lot` x lots, a clause param).
Deals are matched like the engine does (attribution and plan of the direct IB at deal time, the
revenue_share clause's filters); each client's revenue is converted to the plan currency at the
period end and shared up the closure as of the period end (level L earns revenue x payout_rate[L]).

Per IB and currency, the period's total is `gross + carry_in` (carry_in = the previous period's
carried negative). When the clause's `carry_forward` param is true (the default) a negative total
pays nothing and is carried into the next period; when false, it is posted as it is (negative).
The (IB, currency, period) row of `ib_revshare_periods` is claimed first (primary key), so a rerun
or a concurrent run writes and posts once. One line per (IB, currency, period) holds the formula
and, in its inputs, every client/level contribution plus carry in/out: the explanation.
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
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed

_RATE = """(SELECT u.rate FROM trading_usd_rates u WHERE u.currency = {cur} AND u.valid_from <= :t1
            ORDER BY u.valid_from DESC LIMIT 1)"""

FORMULA = ("sum over clients and levels of revenue * fx_rate * payout_rate + carry_in; "
           "revenue = -profit - commission - storage - fee - lots * cost_per_lot; "
           "a negative total is carried into the next period when carry_forward")

_RUN = """
WITH d AS (
    SELECT td.time, td.login, td.symbol, td.volume, td.profit, td.commission, td.storage, td.fee,
           a."group" AS acct_group, a.currency AS acct_currency, a.user_id AS client_id
    FROM trading_deals td
    JOIN trading_accounts a ON a.id = td.account_id
    WHERE td.time >= :t0 AND td.time < :t1 AND td.action IN (0, 1) AND a.account_type = 'real'
      AND a.user_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM ib_account_flags f WHERE f.account_id = a.id AND NOT f.commission_enabled)
), g AS (
    SELECT d.*, x.ib_id AS direct_ib, v.id AS version_id, v.plan_id, p.currency AS payout_currency, p.scale,
           c.clause_no, c.payout_rates, coalesce((c.params->>'cost_per_lot')::numeric, 0) AS cost_per_lot,
           coalesce((c.params->>'carry_forward')::boolean, true) AS carry_forward
    FROM d
    JOIN ib_client_attributions x ON x.client_id = d.client_id
         AND x.valid_from <= d.time AND (x.valid_to IS NULL OR x.valid_to > d.time)
    CROSS JOIN LATERAL (
        SELECT coalesce(
            (SELECT pa.plan_id FROM ib_plan_assignments pa WHERE pa.ib_id = x.ib_id
                AND pa.valid_from <= d.time AND (pa.valid_to IS NULL OR pa.valid_to > d.time)),
            (SELECT id FROM ib_plans WHERE is_default)) AS plan_id
    ) gp
    JOIN ib_plans p ON p.id = gp.plan_id
    JOIN ib_plan_versions v ON v.plan_id = gp.plan_id
         AND v.valid_from <= d.time AND (v.valid_to IS NULL OR v.valid_to > d.time)
    JOIN ib_plan_clauses c ON c.version_id = v.id AND c.kind = 'revenue_share'
    WHERE (c.symbols IS NULL OR EXISTS (SELECT FROM unnest(c.symbols) p WHERE d.symbol LIKE p ESCAPE ''))
      AND NOT (d.symbol = ANY (c.excluded_symbols))
      AND (c.account_groups IS NULL
           OR EXISTS (SELECT FROM unnest(c.account_groups) p WHERE d.acct_group LIKE p ESCAPE ''))
      AND NOT (d.login = ANY (c.excluded_logins))
), pc AS (
    SELECT client_id, direct_ib, version_id, plan_id, clause_no, payout_rates, payout_currency, scale, acct_currency,
           bool_and(carry_forward) AS carry_forward, max(cost_per_lot) AS cost_per_lot,
           -sum(profit) AS client_pnl, -sum(commission) AS commissions, -sum(storage) AS swaps, -sum(fee) AS fees,
           sum(volume) AS lots, sum(volume * cost_per_lot) AS costs
    FROM g GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
), fx AS (
    SELECT pc.*, (client_pnl + commissions + swaps + fees - costs) AS revenue,
           CASE WHEN acct_currency = payout_currency THEN 1::numeric
                ELSE round((CASE WHEN acct_currency = 'USD' THEN 1 ELSE {src} END)
                         / (CASE WHEN payout_currency = 'USD' THEN 1 ELSE {dst} END), 12) END AS fx_rate
    FROM pc
), lv AS (
    SELECT k.ancestor_id AS ib_id, k.depth AS level, fx.*, fx.payout_rates[k.depth + 1] AS rate,
           fx.revenue * fx.fx_rate * fx.payout_rates[k.depth + 1] AS share
    FROM fx
    JOIN ib_closure k ON k.descendant_id = fx.direct_ib
         AND k.valid_from < :t1 AND (k.valid_to IS NULL OR k.valid_to >= :t1)
    WHERE k.depth < cardinality(fx.payout_rates) AND fx.fx_rate IS NOT NULL
      AND (CAST(:ibs AS bigint[]) IS NULL OR k.ancestor_id = ANY (CAST(:ibs AS bigint[])))
), per_ib AS MATERIALIZED (
    SELECT ib_id, payout_currency AS currency, max(scale) AS scale, bool_and(carry_forward) AS carry_forward,
           ib_round_half_even(sum(share), max(scale)) AS gross, sum(lots) AS lots,
           min(plan_id) AS plan_id, min(version_id) AS version_id, min(clause_no) AS clause_no,
           jsonb_agg(jsonb_build_object('client_id', client_id, 'level', level, 'direct_ib', direct_ib,
               'plan_version_id', version_id, 'clause_no', clause_no, 'account_currency', acct_currency,
               'client_pnl', client_pnl::text, 'commissions', commissions::text, 'swaps', swaps::text,
               'fees', fees::text, 'lots', lots::text, 'cost_per_lot', cost_per_lot::text, 'costs', costs::text,
               'revenue', revenue::text, 'fx_rate', fx_rate::text, 'payout_rate', rate::text,
               'share', share::text) ORDER BY client_id, level) AS contributions
    FROM lv GROUP BY ib_id, payout_currency
), tot AS MATERIALIZED (
    SELECT i.*, coalesce(prev.carry_out, 0) AS carry_in, i.gross + coalesce(prev.carry_out, 0) AS total
    FROM per_ib i
    LEFT JOIN LATERAL (
        SELECT r.carry_out FROM ib_revshare_periods r WHERE r.ib_id = i.ib_id AND r.currency = i.currency
          AND r.period_to <= :t0 ORDER BY r.period_to DESC LIMIT 1
    ) prev ON true
), claimed AS (
    INSERT INTO ib_revshare_periods (ib_id, currency, period_key, period_from, period_to, gross, carry_in, amount,
        carry_out, run_id)
    SELECT ib_id, currency, :key, :t0, :t1, gross, carry_in,
           CASE WHEN carry_forward AND total < 0 THEN 0 ELSE total END,
           CASE WHEN carry_forward AND total < 0 THEN total ELSE 0 END, :run
    FROM tot
    ON CONFLICT DO NOTHING
    RETURNING ib_id, currency, amount, carry_out
), ins AS (
    INSERT INTO ib_commission_lines (kind, seq, source, run_id, period_key, deal_time, volume, ib_id, level,
        direct_ib_id, plan_id, plan_version_id, clause_no, clause_kind, formula, inputs, quantity, rate, fx_rate,
        amount, currency)
    SELECT 'accrual', 0, 'revshare', :run, :key, :t1 - interval '1 millisecond', t.lots, t.ib_id, 0, t.ib_id,
           t.plan_id, t.version_id, t.clause_no, 'revenue_share', :formula,
           jsonb_build_object('period', CAST(:key AS text), 'from', CAST(:t0 AS timestamptz),
               'to', CAST(:t1 AS timestamptz), 'gross', t.gross::text, 'carry_in', t.carry_in::text,
               'total', t.total::text, 'carry_forward', t.carry_forward, 'carry_out', c.carry_out::text,
               'contributions', t.contributions),
           t.gross, 1, 1, c.amount, t.currency
    FROM claimed c JOIN tot t ON t.ib_id = c.ib_id AND t.currency = c.currency
    RETURNING ib_id, currency, amount
)
SELECT (SELECT count(*) FROM claimed) AS periods, (SELECT count(*) FROM ins) AS lines,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('ib', ib_id, 'cur', currency, 'amt', amount::text)), '[]')
        FROM ins) AS totals
""".format(src=_RATE.format(cur="acct_currency"), dst=_RATE.format(cur="payout_currency"))


@dataclass(frozen=True)
class RevshareRun:
    run_id: uuid.UUID
    period_key: str
    periods: int  # (IB, currency) rows claimed by this run
    lines: int
    entry_ids: list[int]


async def run_period(session: AsyncSession, actor: Actor, period_key: str, period_from: datetime,
                     period_to: datetime, *, ib_ids: list[int] | None = None) -> RevshareRun:
    """Revenue share for [from, to) for every IB (or `ib_ids`); IBs already done for the period are skipped."""
    if period_from.tzinfo is None or period_to.tzinfo is None or period_to <= period_from:
        raise ValidationFailed("a period is two UTC instants, from before to", field="period")
    if not 0 < len(period_key) <= 16:
        raise ValidationFailed("a period key has 1 to 16 characters", field="periodKey")
    run_id = uuid.uuid4()
    row = (await session.execute(text(_RUN), {"t0": period_from, "t1": period_to, "key": period_key, "run": run_id,
                                              "ibs": ib_ids, "formula": FORMULA})).one()
    totals = [(int(t["ib"]), str(t["cur"]), Decimal(t["amt"])) for t in row.totals]
    entry_ids = await post_accruals(session, actor, totals, ref_kind="ib_revshare", ref_id=str(run_id),
                                    idempotency_key=f"ib.revshare:{run_id}")
    if row.periods:
        await record(session, actor, action="ib.revenue_share_run", entity_type="ib_revshare_run",
                     entity_id=str(run_id), after={"period": period_key, "ibs": int(row.periods),
                                                   "lines": int(row.lines), "entries": entry_ids})
    return RevshareRun(run_id, period_key, int(row.periods), int(row.lines), entry_ids)
