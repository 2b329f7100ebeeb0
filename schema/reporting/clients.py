"""Client reports (reports.read, desk-scoped): lifetime value and cohorts, IB return, geography and attribution,
and the clients and commission lines behind their figures (domain/reporting/cr.py). Read on the replica
when one is configured and current (the answer's `source`)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from domain.reporting import clients as cr
from domain.reporting import reports
from domain.shared.pagination import cursor_decoder
from schema.context import Context
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires
from schema.reporting.source import ReportSource

Ctx = Info[Context, Any]
READ = "reports.read"
MAX_PAGE = 500
_CLIENT_CURSOR = cursor_decoder(int)
_LINE_CURSOR = cursor_decoder(datetime, int)


@strawberry.enum(description="What client figures are broken down by: the client's country, its region, the UTM "
                             "campaign or source it registered with, or its direct IB (user id).")
class ClientReportDimension(enum.Enum):
    COUNTRY = "country"
    REGION = "region"
    CAMPAIGN = "campaign"
    SOURCE = "source"
    IB = "ib"


@strawberry.type(description="Client figures over a period (USD at each deal's or entry's rate).")
class ClientReportFigures:
    registrations: int = strawberry.field(description="Clients registered in the period")
    first_deposits: int = strawberry.field(description="Clients whose first deposit fell in the period")
    first_deposits_usd: Decimal
    first_trades: int = strawberry.field(description="Clients whose first deal fell in the period")
    trading_clients: int = strawberry.field(description="Clients with a deal in the period")
    depositing_clients: int = strawberry.field(description="Clients with a deposit in the period")
    deals: int
    volume_lots: Decimal
    deposits_usd: Decimal
    withdrawals_usd: Decimal
    net_deposits_usd: Decimal
    net_revenue_usd: Decimal = strawberry.field(description="The revenue report's net revenue (LP cost deducted)")

    @classmethod
    def of(cls, f: cr.ClientFigures) -> ClientReportFigures:
        return cls(registrations=f.registrations, first_deposits=f.first_deposits,
                   first_deposits_usd=f.first_deposits_usd, first_trades=f.first_trades,
                   trading_clients=f.trading_clients, depositing_clients=f.depositing_clients, deals=f.deals,
                   volume_lots=f.volume_lots, deposits_usd=f.deposits_usd, withdrawals_usd=f.withdrawals_usd,
                   net_deposits_usd=f.net_deposits_usd, net_revenue_usd=f.net_revenue_usd)


@strawberry.type
class ClientReportLine:
    key: str
    figures: ClientReportFigures


@strawberry.type(description="Client figures by country, region, campaign, source or IB over [since, until), "
                             "largest net revenue first.")
class ClientReport:
    since: date
    until: date
    dimension: ClientReportDimension
    lines: list[ClientReportLine]
    total: ClientReportFigures
    source: ReportSource

    @classmethod
    def of(cls, b: cr.Breakdown, source: ReportSource) -> ClientReport:
        return cls(since=b.since, until=b.until, dimension=ClientReportDimension(b.dimension.value),
                   lines=[ClientReportLine(key=x.key, figures=ClientReportFigures.of(x.figures)) for x in b.lines],
                   total=ClientReportFigures.of(b.total), source=source)


@strawberry.type(description="One month of a cohort's life (0: the month of the first deposit).")
class CohortMonth:
    months_since: int
    depositing_clients: int
    trading_clients: int
    depositing_share: Decimal | None
    trading_share: Decimal | None
    net_revenue_usd: Decimal = strawberry.field(description="From each client's first deposit day on")
    deposits_usd: Decimal
    withdrawals_usd: Decimal


@strawberry.type(description="The clients whose first deposit fell in one month: their lifetime value (net revenue "
                             "since their first deposit, to date) and retention per month since.")
class Cohort:
    month: date
    clients: int
    first_deposits_usd: Decimal
    lifetime_net_revenue_usd: Decimal
    average_lifetime_value_usd: Decimal | None
    lifetime_net_deposits_usd: Decimal
    months: list[CohortMonth]

    @classmethod
    def of(cls, c: cr.Cohort) -> Cohort:
        def share(n: int) -> Decimal | None:
            return (Decimal(n) / Decimal(c.clients)).quantize(Decimal("0.0001")) if c.clients else None

        return cls(month=c.month, clients=c.clients, first_deposits_usd=c.first_deposits_usd,
                   lifetime_net_revenue_usd=c.lifetime_net_revenue_usd,
                   average_lifetime_value_usd=c.average_lifetime_value_usd,
                   lifetime_net_deposits_usd=c.lifetime_net_deposits_usd,
                   months=[CohortMonth(months_since=m.months_since, depositing_clients=m.depositing_clients,
                                       trading_clients=m.trading_clients,
                                       depositing_share=share(m.depositing_clients),
                                       trading_share=share(m.trading_clients), net_revenue_usd=m.net_revenue_usd,
                                       deposits_usd=m.deposits_usd, withdrawals_usd=m.withdrawals_usd)
                           for m in c.months])


@strawberry.type(description="Cohorts by month of first deposit for first deposits in [since, until).")
class CohortReport:
    since: date
    until: date
    cohorts: list[Cohort]
    source: ReportSource


@strawberry.type(description="An IB's clients' figures over the period against its commissions (USD).")
class IbReturnFigures:
    clients: int = strawberry.field(description="Clients attributed to the IB now")
    new_clients: int = strawberry.field(description="Of them, registered in the period")
    trading_clients: int
    depositing_clients: int
    deals: int
    volume_lots: Decimal
    deposits_usd: Decimal
    withdrawals_usd: Decimal
    net_revenue_usd: Decimal
    commissions_usd: Decimal = strawberry.field(description="Commission lines of the period's deals and periods")
    unpriced_commissions: int = strawberry.field(description="Lines of a currency without a USD rate (not counted)")
    return_usd: Decimal = strawberry.field(description="Net revenue less commissions")
    revenue_per_commission: Decimal | None

    @classmethod
    def of(cls, f: cr.IbFigures) -> IbReturnFigures:
        return cls(clients=f.clients, new_clients=f.new_clients, trading_clients=f.trading_clients,
                   depositing_clients=f.depositing_clients, deals=f.deals, volume_lots=f.volume_lots,
                   deposits_usd=f.deposits_usd, withdrawals_usd=f.withdrawals_usd, net_revenue_usd=f.net_revenue_usd,
                   commissions_usd=f.commissions_usd, unpriced_commissions=f.unpriced_commissions,
                   return_usd=f.return_usd, revenue_per_commission=f.revenue_per_commission)


@strawberry.type
class IbReturnLine:
    ib_user_id: int
    direct: IbReturnFigures = strawberry.field(description="The IB's own clients and commissions")
    subtree: IbReturnFigures = strawberry.field(description="The IB and every IB below it now")


@strawberry.type(description="IB performance and return over [since, until).")
class IbReturnReport:
    since: date
    until: date
    lines: list[IbReturnLine]
    total: IbReturnFigures
    source: ReportSource

    @classmethod
    def of(cls, r: cr.IbReturn, source: ReportSource) -> IbReturnReport:
        return cls(since=r.since, until=r.until, total=IbReturnFigures.of(r.total), source=source,
                   lines=[IbReturnLine(ib_user_id=x.ib_id, direct=IbReturnFigures.of(x.direct),
                                       subtree=IbReturnFigures.of(x.subtree)) for x in r.lines])


@strawberry.type(description="A client behind a client figure, with its own figures over the period.")
class ReportClient:
    user_id: int
    country: str
    region: str
    campaign: str
    utm_source: str
    ib_user_id: int | None
    registered_at: datetime
    registered_in_period: bool
    first_deposit_day: date | None
    first_deposit_usd: Decimal | None
    first_deposit_in_period: bool
    first_trade_day: date | None
    deals: int
    volume_lots: Decimal
    deposits: int
    deposits_usd: Decimal
    withdrawals_usd: Decimal
    net_revenue_usd: Decimal
    lifetime_net_revenue_usd: Decimal = strawberry.field(description="Net revenue since the first deposit, to date")

    @classmethod
    def of(cls, r: cr.ClientRow) -> ReportClient:
        return cls(user_id=r.user_id, country=r.country, region=r.region, campaign=r.campaign, utm_source=r.source,
                   ib_user_id=r.ib_id, registered_at=r.registered_at, registered_in_period=r.registered,
                   first_deposit_day=r.first_deposit_day, first_deposit_usd=r.first_deposit_usd,
                   first_deposit_in_period=r.first_deposit, first_trade_day=r.first_trade_day, deals=r.deals,
                   volume_lots=r.volume_lots, deposits=r.deposits, deposits_usd=r.deposits_usd,
                   withdrawals_usd=r.withdrawals_usd, net_revenue_usd=r.net_revenue_usd,
                   lifetime_net_revenue_usd=r.lifetime_net_revenue_usd)


@strawberry.type(description="An IB commission line behind a commissions figure.")
class ReportCommissionLine:
    line_id: int
    ib_user_id: int
    client_user_id: int
    deal_time: datetime
    source: str
    kind: str
    level: int
    amount: Decimal
    currency: str
    amount_usd: Decimal | None
    deal_id: int | None

    @classmethod
    def of(cls, r: cr.CommissionRow) -> ReportCommissionLine:
        return cls(line_id=r.line_id, ib_user_id=r.ib_id, client_user_id=r.client_id, deal_time=r.deal_time,
                   source=r.source, kind=r.kind, level=r.level, amount=r.amount, currency=r.currency,
                   amount_usd=r.amount_usd, deal_id=r.deal_id)


@strawberry.type(description="The clients behind a client figure, and where they were read.")
class ReportClientConnection(Connection[ReportClient]):
    source: ReportSource | None = strawberry.field(default=None, description="Read on the replica or the primary")


@strawberry.type(description="The commission lines behind a commissions figure, and where they were read.")
class ReportCommissionLineConnection(Connection[ReportCommissionLine]):
    source: ReportSource | None = strawberry.field(default=None, description="Read on the replica or the primary")


@strawberry.type
class ClientReportQueries:
    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Clients, registrations, first deposits and trades, deposits, volume and net "
                                  "revenue over days [since, until) by country, region, campaign, source or IB.")
    async def client_report(self, info: Ctx, since: date, until: date,
                            dimension: ClientReportDimension) -> ClientReport:
        scope = reports.scope_of(info.context.actor)
        dim = cr.ClientDimension(dimension.value)
        found, source = await info.context.heavy_read(lambda s: cr.breakdown(s, scope, since, until, dim))
        return ClientReport.of(found, ReportSource.of(source))

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Cohorts of the clients whose first deposit fell in days [since, until), by month: "
                                  "lifetime value and retention (depositing and trading clients) per month since.")
    async def cohort_report(self, info: Ctx, since: date, until: date) -> CohortReport:
        scope = reports.scope_of(info.context.actor)
        found, source = await info.context.heavy_read(lambda s: cr.cohorts(s, scope, since, until))
        return CohortReport(since=since, until=until, cohorts=[Cohort.of(c) for c in found],
                            source=ReportSource.of(source))

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="IB performance and return over days [since, until): per IB (top N by subtree net "
                                  "revenue; with ibUserId that IB and those below it) its clients' figures against "
                                  "its commissions, direct and over its subtree.")
    async def ib_return_report(self, info: Ctx, since: date, until: date, ib_user_id: int | None = None,
                               top: int = 50) -> IbReturnReport:
        scope = reports.scope_of(info.context.actor)
        found, source = await info.context.heavy_read(
            lambda s: cr.ib_return(s, scope, since, until, ib_id=ib_user_id, top=top))
        return IbReturnReport.of(found, ReportSource.of(source))

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="The clients behind a client figure over days [since, until): a clientReport key "
                                  "(dimension and key), a cohort (cohortMonth, the first of its month) or an IB's "
                                  "clients (ibUserId, with subtree those of the IBs below it); by user id. Their deals "
                                  "and postings: revenueReportDeals / moneyFlowReportPostings with userId.")
    async def report_clients(
        self, info: Ctx, since: date, until: date, dimension: ClientReportDimension | None = None,
        key: str | None = None, cohort_month: date | None = None, ib_user_id: int | None = None,
        subtree: bool = False, first: int | None = None, after: str | None = None, last: int | None = None,
        before: str | None = None,
    ) -> ReportClientConnection:
        req = page_request(info, first, after, last, before, maximum=MAX_PAGE, decode=_CLIENT_CURSOR)
        scope = reports.scope_of(info.context.actor)
        flt = cr.ClientFilter(cr.ClientDimension(dimension.value) if dimension else None, key,
                                   cohort_month, ib_user_id, subtree)
        page, source = await info.context.heavy_read(lambda s: cr.client_rows(s, scope, since, until, req, flt))
        conn = to_connection(page, ReportClient.of, lambda r: (r.user_id,))
        return ReportClientConnection(edges=conn.edges, page_info=conn.page_info, total_count=conn.total_count,
                                      source=ReportSource.of(source))

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="The commission lines behind an IB's commissions over days [since, until) (with "
                                  "subtree, those of every IB below it too), oldest first.")
    async def report_ib_commission_lines(
        self, info: Ctx, since: date, until: date, ib_user_id: int, subtree: bool = False,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> ReportCommissionLineConnection:
        req = page_request(info, first, after, last, before, maximum=MAX_PAGE, decode=_LINE_CURSOR)
        scope = reports.scope_of(info.context.actor)
        page, source = await info.context.heavy_read(
            lambda s: cr.ib_commission_rows(s, scope, since, until, req, ib_id=ib_user_id, subtree=subtree))
        conn = to_connection(page, ReportCommissionLine.of, lambda r: (r.deal_time, r.line_id))
        return ReportCommissionLineConnection(edges=conn.edges, page_info=conn.page_info,
                                              total_count=conn.total_count, source=ReportSource.of(source))
