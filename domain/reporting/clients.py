"""Reports per client, from the per client x day rollup (`reporting_client_daily`) and the first deposits
(`reporting_first_deposits`), never from raw deals:

- breakdown: clients, registrations, first deposits, first trades, deposits, volume and net revenue by
  country, region (domain/risk/regions.py), campaign or source (UTM, the client's attribution) or direct IB;
- cohorts: clients by month of first deposit, their lifetime value (net revenue since the day of their
  first deposit) and, per month since, how many deposited and how many traded (retention);
- IB return: per IB its directly attributed clients' figures and the commissions it earned (USD at the
  line's rate), and the same over its subtree (itself and every IB below it in the current tree);
- client rows: the clients behind any of these figures, each with its own figures (sum to the figure),
  whose deals and postings the revenue and money drill-downs list by `userId`.

Attribution (country, campaign, IB, desk) is the client's as it stands at the read; the figures are the
rollups'. The commissions are read from the IB commission lines of the period (their own index), not
from deals. Desk scope: the client's desk, as the other reports.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Self

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.reporting.errors import ReportDimensionInvalid
from domain.reporting.reports import MAX_TOP, ZERO, Scope, check_period
from domain.reporting.rollups import day_start
from domain.risk.regions import country_regions, region_of
from domain.shared.pagination import Page, PageRequest, sql_page


class ClientDimension(enum.Enum):
    COUNTRY = "country"
    REGION = "region"
    CAMPAIGN = "campaign"
    SOURCE = "source"
    IB = "ib"


_COUNTRY = "COALESCE(rtrim(c.country), '')"
_KEY = {ClientDimension.COUNTRY: _COUNTRY, ClientDimension.REGION: _COUNTRY,  # regions: grouped from countries
        ClientDimension.CAMPAIGN: "COALESCE(c.attribution->>'utm_campaign', '')",
        ClientDimension.SOURCE: "COALESCE(c.attribution->>'utm_source', '')",
        ClientDimension.IB: "COALESCE(ia.ib_id::text, '')"}
_IB_JOIN = "LEFT JOIN ib_client_attributions ia ON ia.client_id = c.user_id AND ia.valid_to IS NULL"

# A client's figures over the period, and the clients a breakdown counts: those active in it (a deal or a
# money movement), registered in it, or first depositing in it.
_ACTIVE = """act AS (
    SELECT user_id, sum(deals) AS deals, sum(volume_lots) AS volume_lots, sum(net_revenue_usd) AS net_revenue_usd,
        sum(deposits) AS deposits, sum(deposits_usd) AS deposits_usd, sum(withdrawals_usd) AS withdrawals_usd
    FROM reporting_client_daily WHERE day >= :since AND day < :until GROUP BY user_id)"""
_WHO = """who AS (
    SELECT user_id FROM act
    UNION SELECT user_id FROM clients WHERE created_at >= :t0 AND created_at < :t1
    UNION SELECT user_id FROM reporting_first_deposits WHERE day >= :since AND day < :until)"""
_PER_CLIENT = """
SELECT c.user_id, {key} AS key, COALESCE(rtrim(c.country), '') AS country,
    COALESCE(c.attribution->>'utm_campaign', '') AS campaign, COALESCE(c.attribution->>'utm_source', '') AS source,
    ia.ib_id, c.created_at AS registered_at, c.created_at >= :t0 AND c.created_at < :t1 AS registered,
    f.day AS first_deposit_day, f.amount_usd AS first_deposit_usd,
    COALESCE(f.day >= :since AND f.day < :until, false) AS first_deposit,
    (SELECT min(x.day) FROM reporting_client_daily x WHERE x.user_id = c.user_id AND x.deals > 0) AS first_trade_day,
    COALESCE(a.deals, 0) AS deals, COALESCE(a.volume_lots, 0) AS volume_lots,
    COALESCE(a.net_revenue_usd, 0) AS net_revenue_usd, COALESCE(a.deposits, 0) AS deposits,
    COALESCE(a.deposits_usd, 0) AS deposits_usd, COALESCE(a.withdrawals_usd, 0) AS withdrawals_usd
FROM {population} JOIN clients c ON c.user_id = who.user_id
LEFT JOIN act a ON a.user_id = c.user_id
LEFT JOIN reporting_first_deposits f ON f.user_id = c.user_id
""" + _IB_JOIN + " WHERE {scope}"  # noqa: S608 - constant SQL fragments

_BREAKDOWN = """
WITH {active}, {who}, per AS ({per_client})
SELECT key, count(*) FILTER (WHERE registered) AS registrations,
    count(*) FILTER (WHERE first_deposit) AS first_deposits,
    COALESCE(sum(first_deposit_usd) FILTER (WHERE first_deposit), 0) AS first_deposits_usd,
    count(*) FILTER (WHERE first_trade_day >= :since AND first_trade_day < :until) AS first_trades,
    count(*) FILTER (WHERE deals > 0) AS trading_clients, count(*) FILTER (WHERE deposits > 0) AS depositing_clients,
    sum(deals) AS deals, sum(volume_lots) AS volume_lots, sum(net_revenue_usd) AS net_revenue_usd,
    sum(deposits_usd) AS deposits_usd, sum(withdrawals_usd) AS withdrawals_usd
FROM per GROUP BY key
"""


class _Summed:
    """Figures added field by field (a key's line, a subtree, the total)."""

    def add(self, other: Self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class ClientFigures(_Summed):
    registrations: int = 0
    first_deposits: int = 0
    first_deposits_usd: Decimal = ZERO
    first_trades: int = 0
    trading_clients: int = 0
    depositing_clients: int = 0
    deals: int = 0
    volume_lots: Decimal = ZERO
    deposits_usd: Decimal = ZERO
    withdrawals_usd: Decimal = ZERO
    net_revenue_usd: Decimal = ZERO

    @property
    def net_deposits_usd(self) -> Decimal:
        return self.deposits_usd - self.withdrawals_usd



@dataclass
class BreakdownLine:
    key: str
    figures: ClientFigures


@dataclass
class Breakdown:
    since: date
    until: date
    dimension: ClientDimension
    lines: list[BreakdownLine]
    total: ClientFigures


def _bound(scope: Scope, since: date, until: date) -> tuple[str, dict[str, Any]]:
    check_period(since, until)
    where, params = scope.where("c.desk")
    return where, {"since": since, "until": until, "t0": day_start(since), "t1": day_start(until), **params}


async def breakdown(session: AsyncSession, scope: Scope, since: date, until: date,
                    dimension: ClientDimension) -> Breakdown:
    """Client figures over days [since, until) per key of `dimension`, by net revenue (largest first)."""
    if dimension not in _KEY:
        raise ReportDimensionInvalid("unknown dimension", field="dimension")
    where, bound = _bound(scope, since, until)
    sql = _BREAKDOWN.format(active=_ACTIVE, who=_WHO, per_client=_PER_CLIENT.format(
        key=_KEY[dimension], population="who", scope=where))
    per_key: dict[str, ClientFigures] = defaultdict(ClientFigures)
    for r in (await session.execute(text(sql), bound)).all():
        key = region_of(r.key) if dimension is ClientDimension.REGION else r.key
        per_key[key].add(ClientFigures(
            int(r.registrations), int(r.first_deposits), r.first_deposits_usd, int(r.first_trades),
            int(r.trading_clients), int(r.depositing_clients), int(r.deals), r.volume_lots, r.deposits_usd,
            r.withdrawals_usd, r.net_revenue_usd))
    total = ClientFigures()
    for figures in per_key.values():
        total.add(figures)
    lines = [BreakdownLine(k, per_key[k]) for k in sorted(per_key, key=lambda k: (-per_key[k].net_revenue_usd, k))]
    return Breakdown(since, until, dimension, lines, total)


# --- cohorts and lifetime value ---------------------------------------------------------------------

_COHORT_CLIENTS = """cohort AS (
    SELECT f.user_id, f.day, date_trunc('month', f.day)::date AS month, f.amount_usd FROM reporting_first_deposits f
    JOIN clients c ON c.user_id = f.user_id WHERE f.day >= :since AND f.day < :until AND {scope})"""
_COHORT_SIZES = "WITH {cohort} SELECT month, count(*) AS clients, COALESCE(sum(amount_usd), 0) AS usd FROM cohort " \
                "GROUP BY month"
_COHORT_MONTHS = """
WITH {cohort}
SELECT k.month, ((extract(year FROM x.day) - extract(year FROM k.month)) * 12
        + extract(month FROM x.day) - extract(month FROM k.month))::int AS since,
    count(DISTINCT x.user_id) FILTER (WHERE x.deals > 0) AS trading,
    count(DISTINCT x.user_id) FILTER (WHERE x.deposits > 0) AS depositing_clients,
    COALESCE(sum(x.net_revenue_usd) FILTER (WHERE x.day >= k.day), 0) AS net_revenue_usd,
    COALESCE(sum(x.deposits_usd) FILTER (WHERE x.day >= k.day), 0) AS deposits_usd,
    COALESCE(sum(x.withdrawals_usd) FILTER (WHERE x.day >= k.day), 0) AS withdrawals_usd
FROM cohort k JOIN reporting_client_daily x ON x.user_id = k.user_id AND x.day >= k.month
GROUP BY 1, 2
"""


@dataclass
class CohortMonth:
    months_since: int
    depositing_clients: int = 0
    trading_clients: int = 0
    net_revenue_usd: Decimal = ZERO
    deposits_usd: Decimal = ZERO
    withdrawals_usd: Decimal = ZERO


@dataclass
class Cohort:
    month: date
    clients: int
    first_deposits_usd: Decimal
    months: list[CohortMonth] = field(default_factory=list)

    @property
    def lifetime_net_revenue_usd(self) -> Decimal:
        return sum((m.net_revenue_usd for m in self.months), ZERO)

    @property
    def lifetime_net_deposits_usd(self) -> Decimal:
        return sum((m.deposits_usd - m.withdrawals_usd for m in self.months), ZERO)

    @property
    def average_lifetime_value_usd(self) -> Decimal | None:
        return (self.lifetime_net_revenue_usd / self.clients).quantize(Decimal("0.01")) if self.clients else None


async def cohorts(session: AsyncSession, scope: Scope, since: date, until: date) -> list[Cohort]:
    """The clients whose first deposit fell in days [since, until), by month of it: their lifetime value and,
    per month since (0 = the month of the first deposit, up to today), the clients who deposited and who
    traded in it and the net revenue and money of it (from their first deposit on)."""
    where, bound = _bound(scope, since, until)
    cohort = _COHORT_CLIENTS.format(scope=where)
    out = {r.month: Cohort(r.month, int(r.clients), r.usd)
           for r in (await session.execute(text(_COHORT_SIZES.format(cohort=cohort)), bound)).all()}
    per: dict[date, dict[int, CohortMonth]] = defaultdict(dict)
    for r in (await session.execute(text(_COHORT_MONTHS.format(cohort=cohort)), bound)).all():
        per[r.month][int(r.since)] = CohortMonth(int(r.since), int(r.depositing_clients), int(r.trading),
                                                 r.net_revenue_usd, r.deposits_usd, r.withdrawals_usd)
    for month, c in out.items():
        last = max(per[month], default=0)
        c.months = [per[month].get(k, CohortMonth(k)) for k in range(last + 1)]
    return [out[m] for m in sorted(out)]


# --- IB return --------------------------------------------------------------------------------------

_IB_DIRECT = """
WITH {active}, att AS (
    SELECT ia.ib_id, c.user_id, c.created_at FROM ib_client_attributions ia JOIN clients c ON c.user_id = ia.client_id
    WHERE ia.valid_to IS NULL AND {scope} AND {within})
SELECT att.ib_id, count(*) AS clients, count(*) FILTER (WHERE att.created_at >= :t0 AND att.created_at < :t1) AS new,
    count(a.user_id) FILTER (WHERE a.deals > 0) AS trading,
    count(a.user_id) FILTER (WHERE a.deposits > 0) AS depositing,
    COALESCE(sum(a.deals), 0) AS deals, COALESCE(sum(a.volume_lots), 0) AS volume_lots,
    COALESCE(sum(a.deposits_usd), 0) AS deposits_usd, COALESCE(sum(a.withdrawals_usd), 0) AS withdrawals_usd,
    COALESCE(sum(a.net_revenue_usd), 0) AS net_revenue_usd
FROM att LEFT JOIN act a ON a.user_id = att.user_id GROUP BY att.ib_id
"""
# The commission lines of the period of clients in scope, in USD at the rate in force at the line's deal time.
_IB_COMMISSION_ROWS = """
SELECT l.id, l.ib_id, l.client_id, l.deal_time, l.source, l.kind, l.level, l.amount, l.currency, l.server_id,
    l.deal_id, l.amount * u.usd AS amount_usd
FROM ib_commission_lines l JOIN clients c ON c.user_id = l.client_id
LEFT JOIN LATERAL (
    SELECT CASE WHEN l.currency = 'USD' THEN 1::numeric ELSE (
        SELECT r.rate FROM trading_usd_rates r WHERE r.currency = l.currency AND r.valid_from <= l.deal_time
        ORDER BY r.valid_from DESC LIMIT 1) END AS usd
) u ON true
WHERE l.deal_time >= :t0 AND l.deal_time < :t1 AND {scope} AND {within}
"""
_IB_COMMISSIONS = """
SELECT ib_id, COALESCE(sum(amount_usd), 0) AS usd, count(*) FILTER (WHERE amount_usd IS NULL) AS unpriced
FROM ({rows}) m GROUP BY ib_id
"""
_SUBTREE = "(SELECT s.descendant_id FROM ib_closure s WHERE s.ancestor_id = :ib AND s.valid_to IS NULL)"


@dataclass
class IbFigures(_Summed):
    clients: int = 0
    new_clients: int = 0
    trading_clients: int = 0
    depositing_clients: int = 0
    deals: int = 0
    volume_lots: Decimal = ZERO
    deposits_usd: Decimal = ZERO
    withdrawals_usd: Decimal = ZERO
    net_revenue_usd: Decimal = ZERO
    commissions_usd: Decimal = ZERO
    unpriced_commissions: int = 0

    @property
    def return_usd(self) -> Decimal:
        """What the IB's clients brought the broker after the IB's commissions."""
        return self.net_revenue_usd - self.commissions_usd

    @property
    def revenue_per_commission(self) -> Decimal | None:
        return (self.net_revenue_usd / self.commissions_usd).quantize(Decimal("0.0001")) \
            if self.commissions_usd else None



@dataclass
class IbLine:
    ib_id: int
    direct: IbFigures
    subtree: IbFigures


@dataclass
class IbReturn:
    since: date
    until: date
    lines: list[IbLine]
    total: IbFigures


async def ib_return(session: AsyncSession, scope: Scope, since: date, until: date, *, ib_id: int | None = None,
                    top: int = MAX_TOP) -> IbReturn:
    """Per IB (the top N by subtree net revenue; with `ib_id`, that IB and those below it) its direct clients'
    figures over days [since, until) and its commissions, and the same summed over its current subtree."""
    if not 1 <= top <= 500:
        raise ReportDimensionInvalid("top is between 1 and 500", field="top")
    where, bound = _bound(scope, since, until)
    within_att, within_line = "true", "true"
    if ib_id is not None:
        within_att, within_line = f"ia.ib_id IN {_SUBTREE}", f"l.ib_id IN {_SUBTREE}"
        bound["ib"] = ib_id
    direct: dict[int, IbFigures] = defaultdict(IbFigures)
    for r in (await session.execute(text(_IB_DIRECT.format(active=_ACTIVE, scope=where, within=within_att)),
                                    bound)).all():
        direct[int(r.ib_id)] = IbFigures(int(r.clients), int(r.new), int(r.trading), int(r.depositing), int(r.deals),
                                         r.volume_lots, r.deposits_usd, r.withdrawals_usd, r.net_revenue_usd)
    rows = _IB_COMMISSION_ROWS.format(scope=where, within=within_line)
    for r in (await session.execute(text(_IB_COMMISSIONS.format(rows=rows)), bound)).all():
        d = direct[int(r.ib_id)]
        d.commissions_usd, d.unpriced_commissions = r.usd, int(r.unpriced)
    subtree: dict[int, IbFigures] = defaultdict(IbFigures)
    if direct:
        pairs = (await session.execute(text(
            "SELECT ancestor_id, descendant_id FROM ib_closure WHERE valid_to IS NULL AND descendant_id = ANY(:ids)"),
            {"ids": list(direct)})).all()
        for p in pairs:
            subtree[int(p.ancestor_id)].add(direct[int(p.descendant_id)])
        for ib in direct:  # an IB outside the closure (never placed in the tree) is its own subtree
            if ib not in subtree:
                subtree[ib].add(direct[ib])
    ids = set(subtree)
    if ib_id is not None:
        ids &= {int(x) for x in (await session.execute(text(_SUBTREE), {"ib": ib_id})).scalars()} | {ib_id}
    total = IbFigures()
    for figures in direct.values():
        total.add(figures)
    ranked = sorted(ids, key=lambda i: (-subtree[i].net_revenue_usd, i))[:top]
    return IbReturn(since, until, [IbLine(i, direct.get(i) or IbFigures(), subtree[i]) for i in ranked], total)


@dataclass(frozen=True)
class CommissionRow:
    line_id: int
    ib_id: int
    client_id: int
    deal_time: datetime
    source: str
    kind: str
    level: int
    amount: Decimal
    currency: str
    amount_usd: Decimal | None
    server_id: int | None
    deal_id: int | None


async def ib_commission_rows(session: AsyncSession, scope: Scope, since: date, until: date, page: PageRequest, *,
                             ib_id: int, subtree: bool = False) -> Page[CommissionRow]:
    """The commission lines behind an IB's (or its subtree's) commissions figure."""
    where, bound = _bound(scope, since, until)
    bound["ib"] = ib_id
    within = f"l.ib_id IN {_SUBTREE}" if subtree else "l.ib_id = :ib"
    return await sql_page(
        session, page, columns="m.*", source=f"({_IB_COMMISSION_ROWS.format(scope=where, within=within)}) m",
        where=["true"], params=bound, key=("m.deal_time", "m.id"), descending=False,
        convert=lambda r: CommissionRow(int(r.id), int(r.ib_id), int(r.client_id), r.deal_time, r.source, r.kind,
                                        int(r.level), r.amount, r.currency, r.amount_usd, r.server_id, r.deal_id))


# --- client rows (drill-down) -----------------------------------------------------------------------


@dataclass(frozen=True)
class ClientRow:
    user_id: int
    country: str
    region: str
    campaign: str
    source: str
    ib_id: int | None
    registered_at: datetime
    registered: bool
    first_deposit_day: date | None
    first_deposit_usd: Decimal | None
    first_deposit: bool
    first_trade_day: date | None
    deals: int
    volume_lots: Decimal
    deposits: int
    deposits_usd: Decimal
    withdrawals_usd: Decimal
    net_revenue_usd: Decimal
    lifetime_net_revenue_usd: Decimal


@dataclass(frozen=True)
class ClientFilter:
    """Which clients: those behind a breakdown's key (`dimension` and `key`), a cohort (`cohort_month`), or an
    IB's (`ib_id`, with `subtree` its subtree's); every client of the period without any."""

    dimension: ClientDimension | None = None
    key: str | None = None
    cohort_month: date | None = None
    ib_id: int | None = None
    subtree: bool = False


async def client_rows(session: AsyncSession, scope: Scope, since: date, until: date, page: PageRequest,
                      flt: ClientFilter) -> Page[ClientRow]:
    """The clients behind a client figure, each with its figures over days [since, until) (they sum to the
    breakdown's, the IB's or, over the cohort's months, the cohort's) and its lifetime value."""
    where, bound = _bound(scope, since, until)
    population = "who"
    if flt.cohort_month is not None:
        if flt.cohort_month.day != 1:
            raise ReportDimensionInvalid("a cohort month is the first day of a month", field="cohortMonth")
        population = ("(SELECT user_id FROM reporting_first_deposits WHERE day >= :cm AND "
                      "day < (:cm + interval '1 month')) who")
        bound["cm"] = flt.cohort_month
    elif flt.ib_id is not None:
        within = _SUBTREE if flt.subtree else "(:ib)"
        population = ("(SELECT client_id AS user_id FROM ib_client_attributions "  # noqa: S608 - constants
                      f"WHERE valid_to IS NULL AND ib_id IN {within}) who")
        bound["ib"] = flt.ib_id
    conds = ["true"]
    if flt.dimension is not None:
        if flt.dimension is ClientDimension.REGION:
            known = country_regions()
            bound["region_countries"] = [c for c, r in known.items() if r == (flt.key or "")]
            conds.append("(p.country = ANY(:region_countries)" + (
                " OR NOT p.country = ANY(:known))" if (flt.key or "") == "Unknown" else ")"))
            bound["known"] = list(known)
        else:
            conds.append("p.key = :key")
            bound["key"] = flt.key or ""
    sql = f"""(WITH {_ACTIVE}, {_WHO} {_PER_CLIENT.format(
        key=_KEY[flt.dimension or ClientDimension.COUNTRY], population=population, scope=where)}) p"""
    lifetime = ("(SELECT COALESCE(sum(x.net_revenue_usd), 0) FROM reporting_client_daily x WHERE x.user_id = p.user_id "
                "AND x.day >= p.first_deposit_day) AS lifetime")
    return await sql_page(
        session, page, columns=f"p.*, {lifetime}", source=sql, where=conds, params=bound, key=("p.user_id",),
        descending=False,
        convert=lambda r: ClientRow(
            int(r.user_id), r.country, region_of(r.country), r.campaign, r.source,
            int(r.ib_id) if r.ib_id is not None else None, r.registered_at, bool(r.registered), r.first_deposit_day,
            r.first_deposit_usd, bool(r.first_deposit), r.first_trade_day, int(r.deals), r.volume_lots,
            int(r.deposits), r.deposits_usd, r.withdrawals_usd, r.net_revenue_usd, r.lifetime))
