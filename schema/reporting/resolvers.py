"""Reports (reports.read, desk-scoped for staff with a desk), their drill-down to deals and postings, and
the rollups' upkeep: rebuild a period, set a group's spread markup (reports.manage)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from domain.reporting import config, funnel, reports, rollups
from domain.reporting.errors import ReportServerNotFound
from domain.shared.pagination import cursor_decoder
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.node import AnyId, referenced_key
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires
from schema.reporting.clients import ClientReportQueries
from schema.reporting.schedules import ReportScheduleMutations, ReportScheduleQueries
from schema.reporting.source import ReportSource
from schema.reporting.types import (
    FunnelDimension,
    FunnelReport,
    MoneyDirection,
    MoneyFlowDimension,
    MoneyFlowReport,
    ReportBucket,
    ReportDeal,
    ReportLpCommission,
    ReportPosting,
    ReportRebuild,
    ReportSpreadMarkup,
    RevenueDimension,
    RevenueReport,
)

Ctx = Info[Context, Any]
READ = "reports.read"
MANAGE = "reports.manage"
MAX_PAGE = 500
_DEAL_CURSOR = cursor_decoder(datetime, int, int)
_POSTING_CURSOR = cursor_decoder(datetime, int)


@strawberry.type(description="The deals behind a revenue figure, and where they were read.")
class ReportDealConnection(Connection[ReportDeal]):
    source: ReportSource | None = strawberry.field(default=None, description="Read on the replica or the primary")


@strawberry.type(description="The postings behind a money figure, and where they were read.")
class ReportPostingConnection(Connection[ReportPosting]):
    source: ReportSource | None = strawberry.field(default=None, description="Read on the replica or the primary")


@strawberry.type
class ReportingQueries:
    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Revenue over days [since, until) by a dimension and time bucket, from the daily "
                                  "rollups: the top N keys by net revenue as lines, the rest as one `other` line.")
    async def revenue_report(self, info: Ctx, since: date, until: date, dimension: RevenueDimension,
                             bucket: ReportBucket = ReportBucket.DAY, top: int = 10) -> RevenueReport:
        scope = reports.scope_of(info.context.actor)
        dim, buck = reports.RevenueDimension(dimension.value), reports.Bucket(bucket.value)
        report, source = await info.context.heavy_read(
            lambda s: reports.revenue(s, scope, since, until, dim, buck, top))
        return RevenueReport.of(report, ReportSource.of(source))

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Deposits, withdrawals, net deposits and first deposits over days [since, until) "
                                  "by a dimension and time bucket (top N by deposits, the rest as `other`).")
    async def money_flow_report(self, info: Ctx, since: date, until: date, dimension: MoneyFlowDimension,
                                bucket: ReportBucket = ReportBucket.DAY, top: int = 10) -> MoneyFlowReport:
        scope = reports.scope_of(info.context.actor)
        dim, buck = reports.MoneyDimension(dimension.value), reports.Bucket(bucket.value)
        report, source = await info.context.heavy_read(
            lambda s: reports.money_flow(s, scope, since, until, dim, buck, top))
        return MoneyFlowReport.of(report, ReportSource.of(source))

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="The deals behind a revenue figure: those of days [since, until) whose `dimension` "
                                  "is `key` (every deal without a dimension), of one client's accounts with `userId`, "
                                  "oldest first. Read on the replica when configured and current.")
    async def revenue_report_deals(
        self, info: Ctx, since: date, until: date, dimension: RevenueDimension | None = None, key: str | None = None,
        user_id: int | None = None,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> ReportDealConnection:
        req = page_request(info, first, after, last, before, maximum=MAX_PAGE, decode=_DEAL_CURSOR)
        scope = reports.scope_of(info.context.actor)
        dim = reports.RevenueDimension(dimension.value) if dimension is not None else None
        page, source = await info.context.heavy_read(
            lambda s: reports.revenue_deals(s, scope, since, until, req, dimension=dim, key=key, user_id=user_id))
        conn = to_connection(page, ReportDeal.of, lambda d: (d.time, d.server_id, d.deal_id))
        return ReportDealConnection(edges=conn.edges, page_info=conn.page_info, total_count=conn.total_count,
                                    source=ReportSource.of(source))

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="The client-wallet postings behind a deposit/withdrawal figure: those of days "
                                  "[since, until) of this direction whose `dimension` is `key`; `firstDeposits` keeps "
                                  "only clients' first deposits; `userId` one client's. Read on the replica when "
                                  "configured and current.")
    async def money_flow_report_postings(
        self, info: Ctx, since: date, until: date, direction: MoneyDirection | None = None,
        dimension: MoneyFlowDimension | None = None, key: str | None = None, first_deposits: bool = False,
        user_id: int | None = None,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> ReportPostingConnection:
        req = page_request(info, first, after, last, before, maximum=MAX_PAGE, decode=_POSTING_CURSOR)
        scope = reports.scope_of(info.context.actor)
        dim = reports.MoneyDimension(dimension.value) if dimension is not None else None
        page, source = await info.context.heavy_read(
            lambda s: reports.money_postings(s, scope, since, until, req,
                                             direction=direction.value if direction else None, dimension=dim,
                                             key=key, first_deposits=first_deposits, user_id=user_id))
        conn = to_connection(page, ReportPosting.of, lambda p: (p.time, p.posting_id))
        return ReportPostingConnection(edges=conn.edges, page_info=conn.page_info, total_count=conn.total_count,
                                       source=ReportSource.of(source))


@strawberry.type
class FunnelQueries:
    @strawberry.field(permission_classes=[Requires(READ)],
                      description="The acquisition funnel of the clients registered (and leads captured) in days "
                                  "[since, until), by campaign, source, country or IB, with conversion and median "
                                  "hours between steps.")
    async def funnel_report(self, info: Ctx, since: date, until: date, dimension: FunnelDimension) -> FunnelReport:
        scope = reports.scope_of(info.context.actor)
        async with info.context.read() as session:
            found = await funnel.funnel(session, scope, since, until, funnel.FunnelDimension(dimension.value))
        return FunnelReport.of(found)


@strawberry.type
class RebuildReportRollupsPayload:
    rebuild: ReportRebuild | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SetReportSpreadMarkupPayload:
    spread_markup: ReportSpreadMarkup | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SetReportLpCommissionPayload:
    lp_commission: ReportLpCommission | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReportingMutations:
    @declares_errors("REPORT_PERIOD_INVALID")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Recompute the report rollups of days [since, until) from the raw deals and "
                                     "postings (after a regrouping, a desk move or a markup change).")
    async def rebuild_report_rollups(self, info: Ctx, since: date, until: date) -> RebuildReportRollupsPayload:
        ctx = info.context

        async def work() -> RebuildReportRollupsPayload:
            done = await ctx.transaction(lambda s: rollups.rebuild(s, ctx.actor, since, until))
            return RebuildReportRollupsPayload(rebuild=ReportRebuild(
                since=done.since, until=done.until, deal_rows=done.deal_rows, money_rows=done.money_rows,
                first_deposits=done.first_deposits))

        return await payload_or_errors(work, lambda errors: RebuildReportRollupsPayload(errors=errors))

    @declares_errors("REPORT_MARKUP_INVALID", "REPORT_SERVER_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Set the spread markup (pips) built into a group's prices: revenue counts it on "
                                     "the group's opening deals from now on (rebuild a period to apply it there).")
    async def set_report_spread_markup(self, info: Ctx, server_id: AnyId, group: str,
                                       markup_pips: Decimal) -> SetReportSpreadMarkupPayload:
        ctx = info.context

        async def work() -> SetReportSpreadMarkupPayload:
            sid = referenced_key(server_id, ReportServerNotFound, "serverId")
            m = await ctx.transaction(lambda s: config.set_spread_markup(s, ctx.actor, sid, group, markup_pips))
            return SetReportSpreadMarkupPayload(spread_markup=ReportSpreadMarkup.of(m))

        return await payload_or_errors(work, lambda errors: SetReportSpreadMarkupPayload(errors=errors))


    @declares_errors("REPORT_LP_COMMISSION_INVALID", "REPORT_SERVER_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Set what the liquidity provider charges per lot (USD) on a server's symbol: "
                                     "revenue counts it as a cost on the A-booked share of each deal's volume from now "
                                     "on (rebuild a period to apply it there).")
    async def set_report_lp_commission(self, info: Ctx, server_id: AnyId, symbol: str,
                                       per_lot_usd: Decimal) -> SetReportLpCommissionPayload:
        ctx = info.context

        async def work() -> SetReportLpCommissionPayload:
            sid = referenced_key(server_id, ReportServerNotFound, "serverId")
            c = await ctx.transaction(lambda s: config.set_lp_commission(s, ctx.actor, sid, symbol, per_lot_usd))
            return SetReportLpCommissionPayload(lp_commission=ReportLpCommission.of(c))

        return await payload_or_errors(work, lambda errors: SetReportLpCommissionPayload(errors=errors))


QUERIES = (ReportingQueries, FunnelQueries, ClientReportQueries, ReportScheduleQueries)
MUTATIONS = (ReportingMutations, ReportScheduleMutations)
SUBSCRIPTIONS = ()
