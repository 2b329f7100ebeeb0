"""CPA: a one-time amount per referred client that qualifies, distributed up the tree; clawback.

A client qualifies under the CPA clause of its direct IB's plan in force at its first deposit when
(a) its deposits in the plan currency within `deposit_days` of the first deposit add up to at least
`min_deposit`, and (b) its closed lots (closing deals of real accounts) within `lots_days` of the
first deposit reach `min_lots`. It qualifies at the later of the two moments the thresholds were
crossed. `evaluate()` finds every candidate in one statement and claims an `ib_cpa_qualifications`
row per client (primary key: once per client, ever); only the transaction that inserted the claim
writes lines, so reprocessing or two concurrent evaluations pay once (the lines' own unique index
on (client, level, seq) is a second guard). Lines go up the closure as of the qualification, each
level earning its payout rate (percent: base_rate = the CPA amount x level share; override: its
own amount minus the level below's), and are posted to IB payables like any accrual.

A clawback (a chargeback of the client's deposit, or staff flagging fraud) never deletes: it adds
`clawback` lines reversing each IB's net CPA for the client, posts them, and marks the claim.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.ib.accrual import post_accruals
from domain.ib.errors import CpaAlreadyClawedBack, CpaNotFound
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed

_EVALUATE = """
WITH dep AS (
    SELECT la.owner_id AS client_id, la.currency, le.created_at AS at, -lp.amount AS amount, le.id AS entry_id
    FROM ledger_entries le
    JOIN ledger_postings lp ON lp.entry_id = le.id
    JOIN ledger_accounts la ON la.id = lp.account_id AND la.purpose = 'client_wallet'
    WHERE le.ref_kind = 'deposit' AND le.created_at <= :now
      AND (CAST(:clients AS bigint[]) IS NULL OR la.owner_id = ANY (CAST(:clients AS bigint[])))
      AND NOT EXISTS (SELECT 1 FROM ib_cpa_qualifications q WHERE q.client_id = la.owner_id)
), first AS (
    SELECT client_id, min(at) AS first_at FROM dep GROUP BY client_id
), att AS (
    SELECT DISTINCT ON (f.client_id) f.client_id, f.first_at, x.ib_id AS direct_ib, v.id AS version_id, v.plan_id,
           v.distribution, p.currency, p.scale, c.clause_no, c.payout_rates, c.level_rates, c.base_rate,
           (c.params->>'min_deposit')::numeric AS min_deposit, (c.params->>'deposit_days')::int AS deposit_days,
           (c.params->>'min_lots')::numeric AS min_lots, (c.params->>'lots_days')::int AS lots_days
    FROM first f
    JOIN ib_client_attributions x ON x.client_id = f.client_id
         AND x.valid_from <= f.first_at AND (x.valid_to IS NULL OR x.valid_to > f.first_at)
    CROSS JOIN LATERAL (
        SELECT coalesce(
            (SELECT pa.plan_id FROM ib_plan_assignments pa WHERE pa.ib_id = x.ib_id
                AND pa.valid_from <= f.first_at AND (pa.valid_to IS NULL OR pa.valid_to > f.first_at)),
            (SELECT id FROM ib_plans WHERE is_default)) AS plan_id
    ) gp
    JOIN ib_plans p ON p.id = gp.plan_id
    JOIN ib_plan_versions v ON v.plan_id = gp.plan_id
         AND v.valid_from <= f.first_at AND (v.valid_to IS NULL OR v.valid_to > f.first_at)
    JOIN ib_plan_clauses c ON c.version_id = v.id AND c.kind = 'cpa'
    ORDER BY f.client_id, c.clause_no
), dq AS (
    SELECT a.client_id,
           min(r.at) FILTER (WHERE r.running >= a.min_deposit) AS deposit_at,
           (array_agg(r.running ORDER BY r.at) FILTER (WHERE r.running >= a.min_deposit))[1] AS deposits,
           (array_agg(r.amount ORDER BY r.at))[1] AS first_deposit
    FROM att a
    CROSS JOIN LATERAL (
        SELECT d.at, d.amount, sum(d.amount) OVER (ORDER BY d.at, d.entry_id ROWS UNBOUNDED PRECEDING) AS running
        FROM dep d WHERE d.client_id = a.client_id AND d.currency = a.currency
          AND d.at < a.first_at + make_interval(days => a.deposit_days)
    ) r
    GROUP BY a.client_id
), lq AS (
    SELECT a.client_id,
           min(r.time) FILTER (WHERE r.running >= a.min_lots) AS lots_at,
           (array_agg(r.running ORDER BY r.time, r.deal_id) FILTER (WHERE r.running >= a.min_lots))[1] AS lots
    FROM att a
    CROSS JOIN LATERAL (
        SELECT td.time, td.deal_id,
               sum(td.volume) OVER (ORDER BY td.time, td.deal_id ROWS UNBOUNDED PRECEDING) AS running
        FROM trading_accounts ta
        JOIN trading_deals td ON td.account_id = ta.id
        WHERE ta.user_id = a.client_id AND ta.account_type = 'real' AND td.action IN (0, 1) AND td.entry IN (1, 3)
          AND td.time >= a.first_at AND td.time < a.first_at + make_interval(days => a.lots_days)
          AND td.time <= :now
    ) r
    GROUP BY a.client_id
), cand AS MATERIALIZED (
    SELECT a.*, dq.deposit_at, dq.deposits, dq.first_deposit, lq.lots_at, lq.lots,
           greatest(dq.deposit_at, lq.lots_at) AS qualified_at
    FROM att a JOIN dq USING (client_id) JOIN lq USING (client_id)
    WHERE dq.deposit_at IS NOT NULL AND lq.lots_at IS NOT NULL
), claimed AS (
    INSERT INTO ib_cpa_qualifications (client_id, direct_ib_id, plan_id, plan_version_id, clause_no,
        first_deposit_at, deposits, lots, qualified_at, run_id)
    SELECT client_id, direct_ib, plan_id, version_id, clause_no, first_at, deposits, lots, qualified_at, :run
    FROM cand
    ON CONFLICT (client_id) DO NOTHING
    RETURNING client_id
), ins AS (
    INSERT INTO ib_commission_lines (kind, seq, source, run_id, deal_time, client_id, volume, ib_id, level,
        direct_ib_id, plan_id, plan_version_id, clause_no, clause_kind, formula, inputs, quantity, rate, fx_rate,
        amount, currency)
    SELECT 'accrual', 0, 'cpa', :run, c.qualified_at, c.client_id, c.lots, k.ancestor_id, k.depth, c.direct_ib,
           c.plan_id, c.version_id, c.clause_no, 'cpa',
           'payout_rate' || CASE c.distribution
               WHEN 'override' THEN '; payout_rate = level_rates[level] - level_rates[level - 1]'
               ELSE '; payout_rate = base_rate * level_rates[level]' END
           || '; qualifies when deposits within deposit_days of the first deposit >= min_deposit and closed lots '
           || 'within lots_days of the first deposit >= min_lots',
           jsonb_build_object('distribution', c.distribution, 'level_rates', c.level_rates::text[],
               'base_rate', c.base_rate::text, 'payout_rate', c.payout_rates[k.depth + 1]::text,
               'first_deposit_at', c.first_at, 'first_deposit', c.first_deposit::text,
               'deposits', c.deposits::text, 'deposit_qualified_at', c.deposit_at,
               'min_deposit', c.min_deposit::text, 'deposit_days', c.deposit_days, 'lots', c.lots::text,
               'lots_qualified_at', c.lots_at, 'min_lots', c.min_lots::text, 'lots_days', c.lots_days,
               'currency', c.currency),
           1, c.payout_rates[k.depth + 1], 1, ib_round_half_even(c.payout_rates[k.depth + 1], c.scale), c.currency
    FROM claimed q
    JOIN cand c ON c.client_id = q.client_id
    JOIN ib_closure k ON k.descendant_id = c.direct_ib
         AND k.valid_from <= c.qualified_at AND (k.valid_to IS NULL OR k.valid_to > c.qualified_at)
    WHERE k.depth < cardinality(c.payout_rates) AND c.payout_rates[k.depth + 1] <> 0
    ON CONFLICT DO NOTHING
    RETURNING ib_id, currency, amount
)
SELECT (SELECT count(*) FROM claimed) AS clients, (SELECT count(*) FROM ins) AS lines,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('ib', ib_id, 'cur', currency, 'amt', total::text)), '[]')
        FROM (SELECT ib_id, currency, sum(amount) AS total FROM ins GROUP BY ib_id, currency) s) AS totals
"""


@dataclass(frozen=True)
class CpaRun:
    run_id: uuid.UUID
    clients: int
    lines: int
    entry_ids: list[int]


async def evaluate(session: AsyncSession, actor: Actor, *, now: datetime,
                   client_ids: list[int] | None = None) -> CpaRun:
    """Qualify every candidate (or only `client_ids`) as of `now`; pay each newly qualified client once."""
    run_id = uuid.uuid4()
    row = (await session.execute(text(_EVALUATE), {"now": now, "run": run_id, "clients": client_ids})).one()
    totals = [(int(t["ib"]), str(t["cur"]), Decimal(t["amt"])) for t in row.totals]
    entry_ids = await post_accruals(session, actor, totals, ref_kind="ib_cpa", ref_id=str(run_id),
                                    idempotency_key=f"ib.cpa:{run_id}")
    if row.clients:
        await record(session, actor, action="ib.cpa_qualified", entity_type="ib_cpa_run", entity_id=str(run_id),
                     after={"clients": int(row.clients), "lines": int(row.lines), "entries": entry_ids})
    return CpaRun(run_id, int(row.clients), int(row.lines), entry_ids)


@dataclass(frozen=True)
class Clawback:
    client_id: int
    lines: int
    entry_ids: list[int]


_CLAWBACK = """
WITH net AS (
    SELECT ib_id, level, sum(amount) AS net, max(seq) AS max_seq, min(id) FILTER (WHERE kind = 'accrual') AS first_id
    FROM ib_commission_lines WHERE source = 'cpa' AND client_id = :c GROUP BY ib_id, level
), ins AS (
    INSERT INTO ib_commission_lines (kind, seq, source, run_id, reason, deal_time, client_id, volume, ib_id, level,
        direct_ib_id, plan_id, plan_version_id, clause_no, clause_kind, formula, inputs, quantity, rate, fx_rate,
        amount, currency)
    SELECT 'clawback', n.max_seq + 1, 'cpa', :run, :reason, :now, l.client_id, l.volume, n.ib_id, n.level,
           l.direct_ib_id, l.plan_id, l.plan_version_id, l.clause_no, 'cpa', '-(net CPA paid for the client)',
           jsonb_build_object('cause', CAST(:cause AS text), 'reason', CAST(:reason AS text),
                              'net_paid', n.net::text, 'accrual_line_id', l.id),
           1, -1, 1, -n.net, l.currency
    FROM net n JOIN ib_commission_lines l ON l.id = n.first_id
    WHERE n.net <> 0
    RETURNING ib_id, currency, amount
)
SELECT count(*) AS lines,
       coalesce(jsonb_agg(jsonb_build_object('ib', ib_id, 'cur', currency, 'amt', amount::text)), '[]') AS items
FROM ins
"""


async def clawback(session: AsyncSession, actor: Actor, client_id: int, *, cause: str, reason: str,
                   now: datetime) -> Clawback:
    """Reverse the CPA paid for `client_id` (cause: 'chargeback' or 'fraud'); refuses a second clawback."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("a reason is required", field="reason")
    q = (await session.execute(text(
        "SELECT status FROM ib_cpa_qualifications WHERE client_id = :c FOR UPDATE"), {"c": client_id})).first()
    if q is None:
        raise CpaNotFound("no CPA was paid for this client", field="clientId")
    if q.status != "paid":
        raise CpaAlreadyClawedBack("the CPA for this client was already clawed back", field="clientId")
    run_id = uuid.uuid4()
    row = (await session.execute(text(_CLAWBACK), {"c": client_id, "run": run_id, "reason": reason[:2000],
                                                   "cause": cause, "now": now})).one()
    totals = [(int(i["ib"]), str(i["cur"]), Decimal(i["amt"])) for i in row.items]
    entry_ids = await post_accruals(session, actor, totals, ref_kind="ib_cpa_clawback", ref_id=str(client_id),
                                    idempotency_key=f"ib.cpa_clawback:{client_id}")
    await session.execute(text(
        "UPDATE ib_cpa_qualifications SET status = 'clawed_back', clawback_reason = :r, clawed_back_at = :now "
        "WHERE client_id = :c"), {"r": f"{cause}: {reason}"[:2000], "now": now, "c": client_id})
    await record(session, actor, action=f"ib.cpa_clawed_back.{cause}", entity_type="ib_cpa", entity_id=client_id,
                 before={"status": "paid"}, after={"status": "clawed_back", "lines": int(row.lines),
                                                    "entries": entry_ids}, reason=reason)
    return Clawback(client_id, int(row.lines), entry_ids)


async def on_chargeback(session: AsyncSession, actor: Actor, client_id: int, *, reference: str,
                        now: datetime) -> Clawback | None:
    """For payments: a deposit of `client_id` was charged back; claws back its CPA if one is still paid."""
    status = await session.scalar(text("SELECT status FROM ib_cpa_qualifications WHERE client_id = :c"),
                                  {"c": client_id})
    if status != "paid":
        return None
    return await clawback(session, actor, client_id, cause="chargeback", reason=f"deposit charged back ({reference})",
                          now=now)


async def charged_back_clients(session: AsyncSession, *, limit: int = 500) -> list[tuple[int, str]]:
    """Clients with a paid CPA and a chargeback ledger entry on their wallet: (client, entry ref)."""
    rows = (await session.execute(text(
        "SELECT DISTINCT ON (q.client_id) q.client_id, le.ref_id FROM ib_cpa_qualifications q "
        "JOIN ledger_accounts la ON la.owner_id = q.client_id AND la.purpose = 'client_wallet' "
        "JOIN ledger_postings lp ON lp.account_id = la.id "
        "JOIN ledger_entries le ON le.id = lp.entry_id AND le.ref_kind = 'chargeback' "
        "WHERE q.status = 'paid' ORDER BY q.client_id, le.id LIMIT :n"), {"n": limit})).all()
    return [(int(r.client_id), str(r.ref_id)) for r in rows]
