"""Reports over commission lines: IB statements (CSV), staff performance and the regulator export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ib.errors import IbNotFound
from domain.ib.portal import Partner
from domain.shared.errors import ValidationFailed

MAX_CSV_ROWS = 100_000


def check_period(t0: datetime, t1: datetime) -> None:
    if t0.tzinfo is None or t1.tzinfo is None or t1 <= t0:
        raise ValidationFailed("a period is two UTC instants, from before to", field="period")


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(v: Any) -> Any:
    """A text starting like a formula (= + - @, or a tab/CR a spreadsheet strips first) is neutralised with a
    leading quote (CSV injection); anything else, the empty text included, is written as it is."""
    return "'" + v if isinstance(v, str) and v.startswith(_FORMULA_STARTS) else v


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([csv_cell(v) for v in row])
    return buf.getvalue()


_STATEMENT_HEADER = ("line_id", "time", "kind", "source", "level", "client_id", "symbol", "lots", "formula",
                     "rate", "fx_rate", "amount", "currency")


async def statement_csv(session: AsyncSession, p: Partner, t0: datetime, t1: datetime) -> str:
    """The IB's own lines in [t0, t1); clients below its visible depth are not named."""
    check_period(t0, t1)
    rows = (await session.execute(text(
        "SELECT id, deal_time, kind, source, level, CASE WHEN level <= :d THEN client_id END AS client_id, symbol, "
        "volume, formula, rate, fx_rate, amount, currency FROM ib_commission_lines "
        "WHERE ib_id = :ib AND deal_time >= :t0 AND deal_time < :t1 ORDER BY deal_time, id LIMIT :n"),
        {"ib": p.ib_id, "d": p.visible_depth, "t0": t0, "t1": t1, "n": MAX_CSV_ROWS})).all()
    return _csv(_STATEMENT_HEADER, ([r.id, r.deal_time.isoformat(), r.kind, r.source, r.level, r.client_id,
                                     r.symbol or "", r.volume, r.formula, r.rate, r.fx_rate, r.amount, r.currency]
                                    for r in rows))


@dataclass(frozen=True)
class Performance:
    ib_id: int
    clients: int  # currently attributed, directly
    new_clients: int  # attributed during the period
    lots: Decimal
    deposits: dict[str, Decimal]
    commissions_paid: dict[str, Decimal]  # lines earned by this IB (all levels) in the period
    revenue: dict[str, Decimal]  # broker revenue from its direct clients' deals, by account currency
    cost_per_client: dict[str, Decimal]  # commissions / new clients


_PERF = text(
    """
    WITH cl AS (
        SELECT client_id, valid_from FROM ib_client_attributions WHERE ib_id = :ib AND valid_from < :t1
            AND (valid_to IS NULL OR valid_to > :t0)
    ), deals AS (
        SELECT d.volume, d.profit, d.commission, d.storage, d.fee, a.currency
        FROM cl JOIN trading_accounts a ON a.user_id = cl.client_id AND a.account_type = 'real'
        JOIN trading_deals d ON d.account_id = a.id AND d.time >= :t0 AND d.time < :t1 AND d.action IN (0, 1)
    )
    SELECT (SELECT count(*) FROM ib_client_attributions WHERE ib_id = :ib AND valid_to IS NULL) AS clients,
           (SELECT count(*) FROM cl WHERE valid_from >= :t0) AS new_clients,
           (SELECT coalesce(sum(volume), 0) FROM deals) AS lots,
           (SELECT coalesce(jsonb_object_agg(currency, rev::text), '{}') FROM (
                SELECT currency, -sum(profit) - sum(commission) - sum(storage) - sum(fee) AS rev
                FROM deals GROUP BY currency) r) AS revenue,
           (SELECT coalesce(jsonb_object_agg(currency, amt::text), '{}') FROM (
                SELECT currency, sum(amount) AS amt FROM ib_commission_lines
                WHERE ib_id = :ib AND deal_time >= :t0 AND deal_time < :t1 GROUP BY currency) c) AS paid,
           (SELECT coalesce(jsonb_object_agg(cur, amt::text), '{}') FROM (
                SELECT la.currency AS cur, -sum(lp.amount) AS amt
                FROM cl JOIN ledger_accounts la ON la.owner_id = cl.client_id AND la.purpose = 'client_wallet'
                JOIN ledger_postings lp ON lp.account_id = la.id JOIN ledger_entries le ON le.id = lp.entry_id
                WHERE le.ref_kind = 'deposit' AND le.created_at >= :t0 AND le.created_at < :t1
                GROUP BY la.currency) x) AS deposits
    """
)


def _dec(m: dict[str, str]) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in sorted(m.items())}


async def performance(session: AsyncSession, ib_id: int, t0: datetime, t1: datetime) -> Performance:
    check_period(t0, t1)
    if await session.scalar(text("SELECT 1 FROM ib_partners WHERE user_id = :id"), {"id": ib_id}) is None:
        raise IbNotFound("no such IB", field="ibId")
    r = (await session.execute(_PERF, {"ib": ib_id, "t0": t0, "t1": t1})).one()
    paid = _dec(r.paid)
    new = int(r.new_clients)
    cpa = {cur: (amt / new).quantize(Decimal("0.01")) for cur, amt in paid.items()} if new else {}
    # Revenue sign: a commission charged to the client is negative on the deal, so -commission is revenue.
    return Performance(ib_id, int(r.clients), new, Decimal(r.lots), _dec(r.deposits), paid, _dec(r.revenue), cpa)


_EXPORT_HEADER = ("ib_id", "parent_id", "relationship_from", "relationship_to", "client_id", "line_id", "time",
                  "kind", "source", "level", "direct_ib_id", "plan_id", "plan_version_id", "clause_kind",
                  "formula", "quantity", "rate", "fx_rate", "amount", "currency")


async def regulator_export_csv(session: AsyncSession, t0: datetime, t1: datetime) -> str:
    """IB relationships (tree edges and client attributions overlapping the period) and every
    commission line of the period, with its formula: one CSV a regulator can re-add."""
    check_period(t0, t1)
    params = {"t0": t0, "t1": t1, "n": MAX_CSV_ROWS}
    edges = (await session.execute(text(
        "SELECT ib_id, parent_id, valid_from, valid_to, NULL::bigint AS client_id FROM ib_tree_edges "
        "WHERE valid_from < :t1 AND (valid_to IS NULL OR valid_to > :t0) "
        "UNION ALL SELECT ib_id, NULL, valid_from, valid_to, client_id FROM ib_client_attributions "
        "WHERE valid_from < :t1 AND (valid_to IS NULL OR valid_to > :t0) ORDER BY 1, 5 NULLS FIRST, 3 LIMIT :n"),
        params)).all()
    lines = (await session.execute(text(
        "SELECT ib_id, client_id, id, deal_time, kind, source, level, direct_ib_id, plan_id, plan_version_id, "
        "clause_kind, formula, quantity, rate, fx_rate, amount, currency FROM ib_commission_lines "
        "WHERE deal_time >= :t0 AND deal_time < :t1 ORDER BY ib_id, deal_time, id LIMIT :n"), params)).all()

    def rows() -> Iterable[Sequence[Any]]:
        for e in edges:
            yield [e.ib_id, e.parent_id, e.valid_from.isoformat(), e.valid_to.isoformat() if e.valid_to else "",
                   e.client_id, *[""] * 15]
        for x in lines:
            yield [x.ib_id, "", "", "", x.client_id, x.id, x.deal_time.isoformat(), x.kind, x.source, x.level,
                   x.direct_ib_id, x.plan_id, x.plan_version_id, x.clause_kind, x.formula, x.quantity, x.rate,
                   x.fx_rate, x.amount, x.currency]

    return _csv(_EXPORT_HEADER, rows())
