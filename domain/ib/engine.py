"""The commission engine: one set-based SQL pass turns a deal batch into commission lines.

`EXPECTED_SQL` computes, for any selection of deals, the lines the rules call for: each trade deal
of a real account joined to its client's IB as of the deal time, the plan version in force for
that IB (its assignment, else the default plan), every matching clause, and every ancestor in the
closure table as of the deal time up to the clause's levels. The same text serves the engine
(`process_batch`, inserting with ON CONFLICT DO NOTHING on (deal, ib, level, clause, seq)) and the
recompute (domain/ib/recompute.py), so a recompute checks exactly what the engine did.

Deals whose amounts need an exchange rate not yet known are counted as `unpriced` and get no line;
a later recompute of the period finds them and adds adjustment lines.
"""

# SQL text here is assembled from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ib.accrual import post_accruals
from domain.shared.actor import Actor
from domain.trading.ingestion import DealBatch

BATCH_DEALS = """
    SELECT * FROM trading_deals
    WHERE server_id = :server AND batch_id = :batch AND time >= :t0 AND time <= :t1
      AND deal_id BETWEEN :d0 AND :d1
"""
PERIOD_DEALS = "SELECT * FROM trading_deals WHERE time >= :t0 AND time < :t1"

_USD_RATE = """(SELECT u.rate FROM trading_usd_rates u WHERE u.currency = {cur} AND u.valid_from <= g.time
                ORDER BY u.valid_from DESC LIMIT 1)"""

EXPECTED_SQL = """
WITH d AS (
    SELECT td.server_id, td.deal_id, td.time, td.batch_id, td.login, td.account_id, td.symbol, td.volume,
           td.commission, td.entry, td.position_id, td.contract_size, td.rate_profit,
           a."group" AS acct_group, a.currency AS acct_currency, a.user_id AS client_id
    FROM ({deals}) td
    JOIN trading_accounts a ON a.id = td.account_id
    WHERE td.action IN (0, 1) AND a.account_type = 'real' AND a.user_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM ib_account_flags f WHERE f.account_id = a.id AND NOT f.commission_enabled)
), g AS (
    SELECT d.*, x.ib_id AS direct_ib, v.id AS version_id, v.plan_id, v.distribution,
           p.currency AS payout_currency, p.scale
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
), cl AS (
    SELECT g.*, c.clause_no, c.kind, c.payout_rates, c.level_rates, c.base_rate, c.lot_modifier,
           c.markup_pips, i.pip_size,
           CASE c.kind WHEN 'per_lot' THEN g.volume * c.lot_modifier
                       WHEN 'commission_share' THEN abs(g.commission)
                       ELSE g.volume * g.contract_size * c.markup_pips * i.pip_size * g.rate_profit END AS quantity,
           CASE WHEN c.kind = 'per_lot' OR g.acct_currency = g.payout_currency THEN 1::numeric
                ELSE round((CASE WHEN g.acct_currency = 'USD' THEN 1 ELSE {src_rate} END)
                         / (CASE WHEN g.payout_currency = 'USD' THEN 1 ELSE {dst_rate} END), 12) END AS fx_rate
    FROM g
    JOIN ib_plan_clauses c ON c.version_id = g.version_id
         AND c.kind IN ('per_lot', 'commission_share', 'spread_share')
    LEFT JOIN trading_instruments i ON c.kind = 'spread_share' AND i.server_id = g.server_id AND i.symbol = g.symbol
    WHERE (c.symbols IS NULL OR EXISTS (SELECT FROM unnest(c.symbols) p WHERE g.symbol LIKE p ESCAPE ''))
      AND NOT (g.symbol = ANY (c.excluded_symbols))
      AND (c.account_groups IS NULL
           OR EXISTS (SELECT FROM unnest(c.account_groups) p WHERE g.acct_group LIKE p ESCAPE ''))
      AND NOT (g.login = ANY (c.excluded_logins))
      AND (c.side = 'both' OR (c.side = 'open' AND g.entry = 0) OR (c.side = 'close' AND g.entry IN (1, 3)))
      AND (c.min_hold_seconds = 0 OR g.time - (
            SELECT min(o.time) FROM trading_deals o WHERE o.server_id = g.server_id AND o.login = g.login
              AND o.position_id = g.position_id AND o.entry = 0 AND o.time <= g.time
          ) >= make_interval(secs => c.min_hold_seconds))
)
SELECT cl.server_id, cl.deal_id, cl.time AS deal_time, cl.batch_id, cl.client_id, cl.account_id, cl.login,
       cl.symbol, cl.volume, k.ancestor_id AS ib_id, k.depth AS level, cl.direct_ib, cl.plan_id, cl.version_id,
       cl.clause_no, cl.kind,
       CASE cl.kind WHEN 'per_lot' THEN 'volume * lot_modifier * payout_rate'
                    WHEN 'commission_share' THEN '|commission| * payout_rate * fx_rate'
                    ELSE 'volume * contract_size * markup_pips * pip_size * rate_profit * payout_rate * fx_rate' END
       || CASE cl.distribution WHEN 'override' THEN '; payout_rate = level_rates[level] - level_rates[level - 1]'
                               ELSE '; payout_rate = base_rate * level_rates[level]' END AS formula,
       jsonb_build_object('distribution', cl.distribution, 'level_rates', cl.level_rates::text[],
           'base_rate', cl.base_rate::text, 'payout_rate', cl.payout_rates[k.depth + 1]::text,
           'volume', cl.volume::text, 'lot_modifier', cl.lot_modifier::text, 'commission', cl.commission::text,
           'markup_pips', cl.markup_pips::text, 'pip_size', cl.pip_size::text, 'contract_size', cl.contract_size::text,
           'rate_profit', cl.rate_profit::text, 'account_currency', cl.acct_currency, 'entry', cl.entry,
           'fx_rate', cl.fx_rate::text) AS inputs,
       cl.quantity, cl.payout_rates[k.depth + 1] AS rate, cl.fx_rate,
       ib_round_half_even(cl.quantity * cl.payout_rates[k.depth + 1] * cl.fx_rate, cl.scale) AS amount,
       cl.payout_currency AS currency
FROM cl
JOIN ib_closure k ON k.descendant_id = cl.direct_ib
     AND k.valid_from <= cl.time AND (k.valid_to IS NULL OR k.valid_to > cl.time)
WHERE k.depth < cardinality(cl.payout_rates)
""".format(
    deals="{deals}",
    src_rate=_USD_RATE.format(cur="g.acct_currency"),
    dst_rate=_USD_RATE.format(cur="g.payout_currency"),
)

LINE_COLUMNS = (
    "server_id, deal_id, deal_time, batch_id, client_id, account_id, login, symbol, volume, ib_id, level, "
    "direct_ib_id, plan_id, plan_version_id, clause_no, clause_kind, formula, inputs, quantity, rate, fx_rate, "
    "amount, currency"
)
EXPECTED_COLUMNS = (
    "server_id, deal_id, deal_time, batch_id, client_id, account_id, login, symbol, volume, ib_id, level, "
    "direct_ib, plan_id, version_id, clause_no, kind, formula, inputs, quantity, rate, fx_rate, amount, currency"
)


def expected_sql(deals: str) -> str:
    return EXPECTED_SQL.replace("{deals}", deals)


_PROCESS = f"""
WITH e AS MATERIALIZED ({expected_sql(BATCH_DEALS)}),
ins AS (
    INSERT INTO ib_commission_lines (kind, seq, source, {LINE_COLUMNS})
    SELECT 'accrual', 0, 'deal', {EXPECTED_COLUMNS} FROM e
    WHERE e.amount IS NOT NULL AND e.amount <> 0
    ON CONFLICT DO NOTHING
    RETURNING ib_id, currency, amount
)
SELECT (SELECT count(*) FROM ins) AS lines,
       (SELECT count(DISTINCT deal_id) FROM e WHERE amount IS NULL) AS unpriced,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('ib', ib_id, 'cur', currency, 'amt', total::text)), '[]')
        FROM (SELECT ib_id, currency, sum(amount) AS total FROM ins GROUP BY ib_id, currency) s) AS totals
"""


@dataclass(frozen=True)
class BatchOutcome:
    batch_id: uuid.UUID
    fresh: bool  # False: the batch had already been processed (nothing was written)
    lines: int
    unpriced: int
    entry_ids: tuple[int, ...]


async def process_batch(session: AsyncSession, actor: Actor, batch: DealBatch) -> BatchOutcome:
    """Commission lines and ledger accruals for one batch, idempotently. Never commits.

    The ib_batches row is claimed first: a concurrent or repeated run waits on it and then
    finds the batch done, so lines and accruals are written once.
    """
    claimed = await session.scalar(text(
        "INSERT INTO ib_batches (batch_id, server_id, event_id, deals, lines, unpriced) "
        "VALUES (:b, :s, :e, 0, 0, 0) ON CONFLICT DO NOTHING RETURNING batch_id"),
        {"b": batch.batch_id, "s": batch.server_id, "e": batch.event_id})
    if claimed is None:
        row = (await session.execute(text("SELECT lines, unpriced, entry_ids FROM ib_batches WHERE batch_id = :b"),
                                     {"b": batch.batch_id})).one()
        return BatchOutcome(batch.batch_id, False, int(row.lines), int(row.unpriced), tuple(row.entry_ids))
    row = (await session.execute(text(_PROCESS), {
        "server": batch.server_id, "batch": batch.batch_id, "t0": batch.from_time, "t1": batch.to_time,
        "d0": batch.first_deal_id, "d1": batch.last_deal_id})).one()
    totals = [(int(t["ib"]), str(t["cur"]), Decimal(t["amt"])) for t in row.totals]
    entry_ids = await post_accruals(session, actor, totals, ref_kind="ib_batch", ref_id=str(batch.batch_id),
                                    idempotency_key=f"ib.accrual:{batch.batch_id}")
    await session.execute(text(
        "UPDATE ib_batches SET deals = :n, lines = :l, unpriced = :u, entry_ids = :e WHERE batch_id = :b"),
        {"n": batch.inserted, "l": int(row.lines), "u": int(row.unpriced),
         "e": list(entry_ids), "b": batch.batch_id})
    return BatchOutcome(batch.batch_id, True, int(row.lines), int(row.unpriced), tuple(entry_ids))
