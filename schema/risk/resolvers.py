"""Risk for the dealing desk: exposure, top clients, history, client metrics, the toxic-flow review
queue, segment assignments and overrides, rules and thresholds, what-if booking (risk.read; changes
need risk.manage_segments), and live exposure throttled per subscriber."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.risk import desk, exposure, limits, metrics, segmentation, whatif
from domain.risk.errors import RiskAccountNotFound, RiskClientNotFound, WhatIfInvalid
from domain.risk.exposure import TOPIC_EXPOSURE_UPDATED, Dimension
from domain.shared.actor import ActorKind
from domain.shared.errors import DomainError
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.events import skipped
from schema.live_session import WAKE
from schema.node import AnyId, key_of, node_type, referenced_key
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires
from schema.risk.config import RiskConfigMutations, RiskConfigQueries
from schema.risk.retail_loss import RetailLossMutations, RetailLossQueries
from schema.risk.types import (
    Book,
    ClientMetricsType,
    ExposureDimension,
    ExposurePointType,
    ExposureReportType,
    ExposureUpdateType,
    FlagDecision,
    FlagStatus,
    RiskAlertType,
    RiskFlagType,
    RiskLimitType,
    RiskRulesType,
    RiskThresholdType,
    SegmentAssignmentType,
    SegmentRuleType,
    TopClientType,
    WhatIfReportType,
)
from schema.scalars import Money

Ctx = Info[Context, Any]
READ = "risk.read"
MANAGE = "risk.manage_segments"
MANAGE_CONFIG = "risk.manage"
MAX_UPDATES_PER_SECOND = 10
DEFAULT_UPDATES_PER_SECOND = 2


def _id(value: strawberry.ID | str, error: type[DomainError], field: str) -> int:
    """A bare database id, or a client's or trading account's global id; anything else is not found."""
    return referenced_key(value, error, field)


def _reads_risk(ctx: Context) -> bool:
    return ctx.actor.kind is ActorKind.STAFF and ctx.actor.has(READ)


@node_type("RiskAlertType")
async def _alert_nodes(ctx: Context, keys: Sequence[int]) -> list[RiskAlertType | None]:
    """Staff with risk.read (riskAlerts), cleared alerts too."""
    if not _reads_risk(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await limits.alerts_by_ids(session, list(keys))
    return [RiskAlertType.from_alert(a) if (a := found.get(k)) else None for k in keys]


@node_type("RiskFlagType")
async def _flag_nodes(ctx: Context, keys: Sequence[int]) -> list[RiskFlagType | None]:
    """Staff with risk.read (riskFlags, every status)."""
    if not _reads_risk(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await desk.flags_by_ids(session, list(keys))
    return [RiskFlagType.of(f) if (f := found.get(k)) else None for k in keys]


@node_type("RiskLimitType")
async def _limit_nodes(ctx: Context, keys: Sequence[int]) -> list[RiskLimitType | None]:
    """Staff with risk.read (riskLimits)."""
    if not _reads_risk(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await limits.limits_by_ids(session, list(keys))
    return [RiskLimitType.of(x) if (x := found.get(k)) else None for k in keys]


@node_type("SegmentRuleType")
async def _segment_rule_nodes(ctx: Context, keys: Sequence[int]) -> list[SegmentRuleType | None]:
    """Staff with risk.read (riskRules: the rules in force)."""
    if not _reads_risk(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await segmentation.rules_by_ids(session, list(keys))
    return [SegmentRuleType.of(r) if (r := found.get(k)) else None for k in keys]


@node_type("SegmentAssignmentType")
async def _assignment_nodes(ctx: Context, keys: Sequence[int]) -> list[SegmentAssignmentType | None]:
    """Staff with risk.read (riskSegmentAssignments, the history too)."""
    if not _reads_risk(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = {a.id: a for a in await desk.assignments_by_id(session, list(keys))}
    return [SegmentAssignmentType.of(a) if (a := found.get(k)) else None for k in keys]


@strawberry.type
class RiskQueries:
    @strawberry.field(permission_classes=[Requires(READ)], description="Net exposure by one dimension.")
    async def risk_exposure(
        self, info: Ctx, by: ExposureDimension, symbol: str | None = None  # type: ignore[valid-type]
    ) -> ExposureReportType:
        async with info.context.session() as session:
            return ExposureReportType.from_report(await exposure.exposure(session, Dimension(by), symbol=symbol))

    @strawberry.field(permission_classes=[Requires(READ)], description="Open limit alerts, newest first.")
    async def risk_alerts(self, info: Ctx, first: int | None = None,
                          after: str | None = None, last: int | None = None,
                          before: str | None = None) -> Connection[RiskAlertType]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await limits.list_alerts(session, req)
        return to_connection(page, RiskAlertType.from_alert, lambda a: (a.opened_at, a.id))

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Accounts with the largest absolute net position in one symbol.")
    async def risk_top_clients(self, info: Ctx, symbol: str, limit: int = 10) -> list[TopClientType]:
        if not 1 <= limit <= 100:
            raise WhatIfInvalid("limit must be between 1 and 100", field="limit")
        async with info.context.session() as session:
            return [TopClientType.of(t) for t in await exposure.top_clients(session, symbol, limit=limit)]

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Exposure snapshots of one symbol over [since, until), oldest first.")
    async def risk_exposure_history(
        self, info: Ctx, symbol: str, since: datetime, until: datetime
    ) -> list[ExposurePointType]:
        async with info.context.session() as session:
            return [ExposurePointType.of(p) for p in await exposure.history(session, symbol, since, until)]

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="A client's trading figures over all its accounts (null: no trading yet).")
    async def risk_client_metrics(self, info: Ctx, client_id: strawberry.ID) -> ClientMetricsType | None:
        async with info.context.session() as session:
            user_id = await desk.client_user(session, _id(client_id, RiskClientNotFound, "clientId"))
            m = await metrics.client_metrics(session, user_id)
        return None if m is None else ClientMetricsType.of(m)

    @strawberry.field(permission_classes=[Requires(READ)], description="One trading account's figures.")
    async def risk_account_metrics(self, info: Ctx, account_id: strawberry.ID) -> ClientMetricsType:
        async with info.context.session() as session:
            m = await metrics.account_metrics(session, _id(account_id, RiskAccountNotFound, "accountId"))
        if m is None:
            raise RiskAccountNotFound("not found", field="accountId")
        return ClientMetricsType.of(m)

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="The toxic-flow review queue, newest first (status null: every status).")
    async def risk_flags(
        self, info: Ctx, status: FlagStatus | None = FlagStatus.OPEN, detector: str | None = None,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[RiskFlagType]:  # fmt: skip
        req = page_request(info, first, after, last, before, maximum=desk.MAX_PAGE)
        async with info.context.session() as session:
            page = await desk.list_flags(session, status=None if status is None else status.value,
                                         detector=detector, page=req)
        return to_connection(page, RiskFlagType.of, desk.flag_key)

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Segment assignments newest first: the one in force per account, or the history.")
    async def risk_segment_assignments(
        self, info: Ctx, client_id: strawberry.ID | None = None, current_only: bool = True,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[SegmentAssignmentType]:  # fmt: skip
        req = page_request(info, first, after, last, before, maximum=desk.MAX_PAGE)
        cid = None if client_id is None else _id(client_id, RiskClientNotFound, "clientId")
        async with info.context.session() as session:
            page = await desk.list_assignments(session, client_id=cid, current_only=current_only, page=req)
        return to_connection(page, SegmentAssignmentType.of, desk.assignment_key)

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Segmentation rules, detector thresholds (defaults and overrides) and limits.")
    async def risk_rules(self, info: Ctx) -> RiskRulesType:
        async with info.context.session() as session:
            rules = await segmentation.rules(session)
            thresholds = await desk.list_thresholds(session)
            lims = await limits.list_limits(session)
        return RiskRulesType(
            segment_rules=[SegmentRuleType.of(r) for r in rules],
            thresholds=[RiskThresholdType.of(t) for t in thresholds],
            limits=[RiskLimitType.of(x) for x in lims],
        )  # fmt: skip

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Broker P&L and net exposure had these clients been booked otherwise over "
                                  "[since, until), beside the booking in force.")
    async def risk_what_if(
        self, info: Ctx, client_ids: list[strawberry.ID], book: Book, a_book_percent: Decimal, since: datetime,
        until: datetime | None = None,
    ) -> WhatIfReportType:  # fmt: skip
        async with info.context.session() as session:
            accounts: list[int] = []
            for cid in client_ids:
                accounts += await desk.client_accounts(session, _id(cid, RiskClientNotFound, "clientIds"))
            end = until or await session.scalar(text("SELECT now()"))
            report = await whatif.what_if(session, accounts, book.value, a_book_percent, since, end)
        return WhatIfReportType.of(report)


@strawberry.type
class ReviewRiskFlagPayload:
    flag: RiskFlagType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class OverrideSegmentPayload:
    assignments: list[SegmentAssignmentType] | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SetRiskLimitPayload:
    limit: RiskLimitType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RiskMutations:
    @declares_errors("AMOUNT_PRECISION", "INVALID_AMOUNT", "RISK_LIMIT_INVALID")
    @strawberry.mutation(permission_classes=[Requires(MANAGE_CONFIG)],
                         description="Create or update the exposure limit of a scope and key (scope `symbol`, "
                                     "`asset_class`, `region` or `book` with key A, B, HYBRID or UNMAPPED): net lots, "
                                     "USD notional or both. Alerts open and clear as exposure is evaluated.")
    async def set_risk_limit(
        self, info: Ctx, scope: str, key: str, max_net_lots: Decimal | None = None,
        max_notional_usd: Money | None = None,  # type: ignore[valid-type]
    ) -> SetRiskLimitPayload:
        ctx = info.context

        async def work() -> SetRiskLimitPayload:
            x = await ctx.transaction(lambda s: limits.set_limit(s, ctx.actor, scope, key, max_net_lots,
                                                                 max_notional_usd))
            return SetRiskLimitPayload(limit=RiskLimitType.of(x))

        return await payload_or_errors(work, lambda errors: SetRiskLimitPayload(errors=errors))

    @declares_errors("INVALID_ID", "RISK_FLAG_NOT_FOUND", "RISK_FLAG_REVIEW_INVALID")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Confirm or dismiss an open toxic-flow flag (dismissing needs a note).")
    async def review_risk_flag(
        self, info: Ctx, id: AnyId, decision: FlagDecision, note: str = ""
    ) -> ReviewRiskFlagPayload:
        ctx = info.context

        async def work() -> ReviewRiskFlagPayload:
            fid = key_of(id, "RiskFlagType")
            flag = await ctx.transaction(lambda s: desk.review_flag(s, ctx.actor, fid, decision.value, note))
            return ReviewRiskFlagPayload(flag=RiskFlagType.of(flag))

        return await payload_or_errors(work, lambda errors: ReviewRiskFlagPayload(errors=errors))

    @declares_errors(
        "RISK_ACCOUNT_NOT_FOUND", "RISK_CLIENT_NOT_FOUND", "RISK_GROUP_MAPPING_MISSING", "RISK_SEGMENT_RULE_INVALID",
    )
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Book every account of a client by hand (sticks until the next override).")
    async def override_segment(
        self, info: Ctx, client_id: strawberry.ID, book: Book, a_book_percent: Decimal, reason: str
    ) -> OverrideSegmentPayload:
        ctx = info.context

        async def work() -> OverrideSegmentPayload:
            cid = _id(client_id, RiskClientNotFound, "clientId")

            async def txn(s: AsyncSession) -> list[desk.AssignmentRow]:
                ids = await desk.override_client(s, ctx.actor, cid, book.value, a_book_percent, reason)
                return await desk.assignments_by_id(s, ids)

            rows = await ctx.transaction(txn)
            return OverrideSegmentPayload(assignments=[SegmentAssignmentType.of(a) for a in rows])

        return await payload_or_errors(work, lambda errors: OverrideSegmentPayload(errors=errors))


@strawberry.type
class RiskSubscriptions:
    @strawberry.subscription(permission_classes=[Requires(READ)],
                             description="Exposure by symbol as it changes, at most `maxPerSecond` updates a second "
                                         "(default 2, at most 10); updates in between are coalesced, the latest wins.")
    async def exposure_updated(self, info: Ctx, max_per_second: int = DEFAULT_UPDATES_PER_SECOND
                               ) -> AsyncGenerator[ExposureUpdateType, None]:
        ctx = info.context
        interval = 1.0 / max(1, min(MAX_UPDATES_PER_SECOND, max_per_second))
        last = float("-inf")
        async with ctx.subscribe(info, TOPIC_EXPOSURE_UPDATED) as sub:
            while True:
                event = await ctx.next_event(sub)
                folded = 0
                wait = last + interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # later updates queue up meanwhile and are folded below
                while not sub.queue.empty():
                    queued = sub.queue.get_nowait()
                    if queued is not WAKE:  # a nudge to look at the session again, not an update
                        event = queued
                        folded += 1
                await ctx.admit(sub)  # the session may have changed while this slept
                last = time.monotonic()
                try:  # folded differs per subscriber: converted here, not once per event
                    update = ExposureUpdateType.of(event.id, event.payload, folded)
                except Exception as exc:  # a malformed event is skipped, never the end of the stream
                    skipped(event, exc)
                    continue
                yield update


QUERIES = (RiskQueries, RiskConfigQueries, RetailLossQueries)
MUTATIONS = (RiskMutations, RiskConfigMutations, RetailLossMutations)
SUBSCRIPTIONS = (RiskSubscriptions,)
