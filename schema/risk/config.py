"""Risk configuration for staff (risk.manage; reads risk.read): exposure limits, which trading-server
groups route which book, detector thresholds, the economic calendar and account links."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.risk import calendar, detectors, limits, links, segmentation
from domain.risk.desk import list_thresholds
from domain.risk.errors import (
    RiskAccountNotFound,
    RiskServerNotFound,
)
from domain.shared.actor import ActorKind
from domain.shared.errors import DomainError
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.node import (
    DATABASE_ID_DOC,
    AnyId,
    Node,
    bare_id_deprecation,
    global_id,
    key_of,
    node_type,
    referenced_key,
)
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires
from schema.risk.types import Book, RiskLimitType, RiskThresholdType

Ctx = Info[Context, Any]
READ = "risk.read"
MANAGE = "risk.manage"


def _id(value: strawberry.ID | str, error: type[DomainError], field: str) -> int:
    """A bare database id, or a client's or trading account's global id; anything else is not found."""
    return referenced_key(value, error, field)


# --- types ---------------------------------------------------------------------------------------


@strawberry.type(description="A trading-server group and the book it routes: A (100 % to the liquidity provider), "
                             "B (0 %) or HYBRID (aBookPercent to the LP, the rest kept).")
class RiskGroupBookType:
    server_id: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("tradingServerId"))
    trading_server_id: strawberry.ID = strawberry.field(description="The TradingServer's global id.")
    group: str
    book: Book
    a_book_percent: Decimal

    @classmethod
    def of(cls, g: segmentation.GroupBook) -> RiskGroupBookType:
        return cls(server_id=strawberry.ID(str(g.server_id)), trading_server_id=global_id("TradingServer", g.server_id),
                   group=g.group, book=Book(g.book),
                   a_book_percent=g.a_book_pct)


@strawberry.input(description="One detector parameter (see riskThresholds for the names and defaults).")
class ThresholdParamInput:
    name: str
    value: Decimal


@strawberry.enum(description="The file format of an economic calendar.")
class CalendarFormat(enum.Enum):
    CSV = "csv"
    ICS = "ics"


@strawberry.enum(description="How much a release is expected to move the market.")
class CalendarImpact(enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@strawberry.type(description="A release in the economic calendar (the news detector watches high-impact ones).")
class RiskCalendarEventType(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    at: datetime
    currency: str
    impact: CalendarImpact
    title: str

    @classmethod
    def of(cls, e: calendar.StoredEvent) -> RiskCalendarEventType:
        return cls(id=global_id("RiskCalendarEventType", e.id), database_id=strawberry.ID(str(e.id)), at=e.at,
                   currency=e.currency, impact=CalendarImpact(e.impact),
                   title=e.title)


@node_type("RiskCalendarEventType")
async def _calendar_nodes(ctx: Context, keys: Sequence[int]) -> list[RiskCalendarEventType | None]:
    """Staff with risk.read (riskCalendarEvents)."""
    if not (ctx.actor.kind is ActorKind.STAFF and ctx.actor.has(READ)):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await calendar.events_by_ids(session, list(keys))
    return [RiskCalendarEventType.of(e) if (e := found.get(k)) else None for k in keys]


@strawberry.type(description="What an import did: releases in the file, new ones stored, already known ones.")
class CalendarImportType:
    events: int
    added: int
    duplicates: int


@strawberry.enum(description="Why two trading accounts are treated as one party by the hedging detector.")
class AccountLinkKind(enum.Enum):
    SAME_PERSON = "person"
    SAME_IP = "ip"
    SAME_DEVICE = "device"
    SAME_PAYMENT_METHOD = "payment"
    KYC_MATCH = "kyc"
    DECLARED = "manual"


@strawberry.type(description="Two trading accounts linked for hedging detection (lower account id first).")
class RiskAccountLinkType:
    account_a: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("tradingAccountAId"))
    trading_account_a_id: strawberry.ID = strawberry.field(description="The first TradingAccount's global id.")
    account_b: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("tradingAccountBId"))
    trading_account_b_id: strawberry.ID = strawberry.field(description="The second TradingAccount's global id.")
    server_a: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("tradingServerAId"))
    trading_server_a_id: strawberry.ID = strawberry.field(description="The first account's TradingServer global id.")
    login_a: str
    server_b: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("tradingServerBId"))
    trading_server_b_id: strawberry.ID = strawberry.field(description="The second account's TradingServer global id.")
    login_b: str
    kind: AccountLinkKind
    detail: str
    created_at: datetime

    @classmethod
    def of(cls, x: links.AccountLink) -> RiskAccountLinkType:
        return cls(account_a=strawberry.ID(str(x.account_a)), account_b=strawberry.ID(str(x.account_b)),
                   server_a=strawberry.ID(str(x.server_a)), login_a=str(x.login_a),
                   server_b=strawberry.ID(str(x.server_b)), login_b=str(x.login_b), kind=AccountLinkKind(x.kind),
                   detail=x.detail, created_at=x.created_at,
                   trading_account_a_id=global_id("TradingAccount", x.account_a),
                   trading_account_b_id=global_id("TradingAccount", x.account_b),
                   trading_server_a_id=global_id("TradingServer", x.server_a),
                   trading_server_b_id=global_id("TradingServer", x.server_b))


# --- queries -------------------------------------------------------------------------------------


@strawberry.type
class RiskConfigQueries:
    @strawberry.field(permission_classes=[Requires(READ)], description="Exposure limits by scope and key.")
    async def risk_limits(self, info: Ctx) -> list[RiskLimitType]:
        async with info.context.session() as session:
            return [RiskLimitType.of(x) for x in await limits.list_limits(session)]

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Which book each mapped trading-server group routes (one server, or every one).")
    async def risk_group_books(self, info: Ctx, server_id: strawberry.ID | None = None) -> list[RiskGroupBookType]:
        sid = None if server_id is None else _id(server_id, RiskServerNotFound, "serverId")
        async with info.context.session() as session:
            return [RiskGroupBookType.of(g) for g in await segmentation.list_group_books(session, sid)]

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Detector thresholds: each detector's defaults (isDefault), then every override "
                                  "per group and/or symbol ('*' = any; the most specific applies).")
    async def risk_thresholds(self, info: Ctx, detector: str | None = None) -> list[RiskThresholdType]:
        async with info.context.session() as session:
            rows = await list_thresholds(session)
        return [RiskThresholdType.of(t) for t in rows if detector is None or t.detector == detector]

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="The thresholds a detector applies to one group and symbol (defaults merged "
                                  "with the overrides in force).")
    async def risk_effective_thresholds(self, info: Ctx, detector: str, group: str = "*", symbol: str = "*") -> JSON:
        if detector not in detectors.DEFAULTS:
            from domain.risk.errors import RiskThresholdInvalid

            raise RiskThresholdInvalid(f"unknown detector {detector}", field="detector")
        async with info.context.session() as session:
            th = await detectors.load_thresholds(session)
        return cast(JSON, th.get(detector, group, symbol))

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Economic-calendar releases in time order over [since, until).")
    async def risk_calendar_events(
        self, info: Ctx, since: datetime | None = None, until: datetime | None = None, currency: str | None = None,
        impact: CalendarImpact | None = None, first: int | None = None,
        after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[RiskCalendarEventType]:  # fmt: skip
        req = page_request(info, first, after, last, before, maximum=calendar.MAX_PAGE)
        async with info.context.session() as session:
            page = await calendar.list_events(session, since=since, until=until, currency=currency,
                                              impact=None if impact is None else impact.value, page=req)  # fmt: skip
        return to_connection(page, RiskCalendarEventType.of, calendar.event_key)

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Account links for hedging detection, newest first (one account's, or all).")
    async def risk_account_links(self, info: Ctx, account_id: strawberry.ID | None = None, first: int | None = None,
                                 after: str | None = None, last: int | None = None,
                                 before: str | None = None) -> Connection[RiskAccountLinkType]:
        req = page_request(info, first, after, last, before, decode=links.decode_link_cursor)
        aid = None if account_id is None else _id(account_id, RiskAccountNotFound, "accountId")
        async with info.context.session() as session:
            page = await links.list_links(session, req, aid)
        return to_connection(page, RiskAccountLinkType.of, links.link_key)


# --- mutations -----------------------------------------------------------------------------------


@strawberry.type
class DeleteRiskLimitPayload:
    limit: RiskLimitType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RiskGroupBookPayload:
    group_book: RiskGroupBookType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RiskThresholdPayload:
    threshold: RiskThresholdType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ImportRiskCalendarPayload:
    result: CalendarImportType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteRiskCalendarEventPayload:
    event: RiskCalendarEventType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RiskAccountLinkPayload:
    link: RiskAccountLinkType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RiskConfigMutations:
    @declares_errors("INVALID_ID", "RISK_LIMIT_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Delete an exposure limit; its open alerts are cleared.")
    async def delete_risk_limit(self, info: Ctx, id: AnyId) -> DeleteRiskLimitPayload:
        ctx = info.context

        async def work() -> DeleteRiskLimitPayload:
            lid = key_of(id, "RiskLimitType")
            gone = await ctx.transaction(lambda s: limits.delete_limit(s, ctx.actor, lid))
            return DeleteRiskLimitPayload(limit=RiskLimitType.of(gone))

        return await payload_or_errors(work, lambda errors: DeleteRiskLimitPayload(errors=errors))

    @declares_errors("RISK_GROUP_BOOK_INVALID", "RISK_SERVER_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Route a trading-server group to a book (A, B, or HYBRID with aBookPercent "
                                     "strictly between 0 and 100); segmentation moves accounts to such groups.")
    async def set_risk_group_book(
        self, info: Ctx, server_id: strawberry.ID, group: str, book: Book, a_book_percent: Decimal | None = None
    ) -> RiskGroupBookPayload:
        ctx = info.context

        async def work() -> RiskGroupBookPayload:
            sid = _id(server_id, RiskServerNotFound, "serverId")
            g = await ctx.transaction(lambda s: segmentation.set_group_book(s, ctx.actor, sid, group, book.value,
                                                                            a_book_percent))
            return RiskGroupBookPayload(group_book=RiskGroupBookType.of(g))

        return await payload_or_errors(work, lambda errors: RiskGroupBookPayload(errors=errors))

    @declares_errors("RISK_GROUP_BOOK_INVALID", "RISK_GROUP_BOOK_NOT_FOUND", "RISK_SERVER_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Stop routing a book to a group (exposure then reports the group unmapped).")
    async def unset_risk_group_book(self, info: Ctx, server_id: strawberry.ID, group: str) -> RiskGroupBookPayload:
        ctx = info.context

        async def work() -> RiskGroupBookPayload:
            sid = _id(server_id, RiskServerNotFound, "serverId")
            g = await ctx.transaction(lambda s: segmentation.unset_group_book(s, ctx.actor, sid, group))
            return RiskGroupBookPayload(group_book=RiskGroupBookType.of(g))

        return await payload_or_errors(work, lambda errors: RiskGroupBookPayload(errors=errors))

    @declares_errors("RISK_THRESHOLD_INVALID")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Override a detector's thresholds for a group and/or symbol ('*' = any), "
                                     "replacing that scope's previous override.")
    async def set_risk_threshold(
        self, info: Ctx, detector: str, params: list[ThresholdParamInput], group: str = "*", symbol: str = "*"
    ) -> RiskThresholdPayload:
        ctx = info.context

        async def work() -> RiskThresholdPayload:
            values = {p.name: float(p.value) for p in params}
            if len(values) != len(params):
                from domain.risk.errors import RiskThresholdInvalid

                raise RiskThresholdInvalid("each parameter once", field="params")
            stored = await ctx.transaction(lambda s: detectors.set_threshold(s, ctx.actor, detector, values,
                                                                             group=group, symbol=symbol))
            return RiskThresholdPayload(threshold=RiskThresholdType(
                detector=detector, group=group.strip(), symbol=symbol.strip(), params=cast(JSON, stored),
                is_default=False))  # fmt: skip

        return await payload_or_errors(work, lambda errors: RiskThresholdPayload(errors=errors))

    @declares_errors("RISK_THRESHOLD_INVALID", "RISK_THRESHOLD_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Remove a threshold override (the less specific ones or the defaults apply).")
    async def clear_risk_threshold(
        self, info: Ctx, detector: str, group: str = "*", symbol: str = "*"
    ) -> RiskThresholdPayload:
        ctx = info.context

        async def work() -> RiskThresholdPayload:
            gone = await ctx.transaction(lambda s: detectors.clear_threshold(s, ctx.actor, detector, group=group,
                                                                             symbol=symbol))
            return RiskThresholdPayload(threshold=RiskThresholdType(
                detector=detector, group=group.strip(), symbol=symbol.strip(), params=cast(JSON, gone),
                is_default=False))  # fmt: skip

        return await payload_or_errors(work, lambda errors: RiskThresholdPayload(errors=errors))

    @declares_errors(
        "RISK_CALENDAR_CURRENCY_INVALID", "RISK_CALENDAR_IMPACT_INVALID", "RISK_CALENDAR_INVALID",
        "RISK_CALENDAR_TIME_INVALID", "RISK_CALENDAR_TITLE_INVALID",
    )
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Import an economic calendar given as the file's text (bounded by the request "
                                     "size). CSV: header time_utc,currency,impact,title. ICS: VEVENTs with DTSTART, "
                                     "SUMMARY, currency and impact from X-CURRENCY/X-IMPACT, CATEGORIES, the summary "
                                     "or PRIORITY. Any bad line refuses the whole file, each reported with its line "
                                     "number; known releases are skipped.")
    async def import_risk_calendar(self, info: Ctx, format: CalendarFormat, content: str) -> ImportRiskCalendarPayload:
        ctx = info.context

        async def work() -> ImportRiskCalendarPayload:
            fmt = calendar.CalendarFormat(format.value)
            r = await ctx.transaction(lambda s: calendar.import_calendar(s, ctx.actor, content, fmt))
            return ImportRiskCalendarPayload(result=CalendarImportType(events=r.events, added=r.added,
                                                                       duplicates=r.duplicates))

        return await payload_or_errors(work, lambda errors: ImportRiskCalendarPayload(errors=errors))

    @declares_errors("INVALID_ID", "RISK_CALENDAR_EVENT_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)], description="Delete one calendar release.")
    async def delete_risk_calendar_event(self, info: Ctx, id: AnyId) -> DeleteRiskCalendarEventPayload:
        ctx = info.context

        async def work() -> DeleteRiskCalendarEventPayload:
            eid = key_of(id, "RiskCalendarEventType")
            gone = await ctx.transaction(lambda s: calendar.delete_event(s, ctx.actor, eid))
            return DeleteRiskCalendarEventPayload(event=RiskCalendarEventType.of(gone))

        return await payload_or_errors(work, lambda errors: DeleteRiskCalendarEventPayload(errors=errors))

    @declares_errors("RISK_ACCOUNT_LINK_INVALID", "RISK_ACCOUNT_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Link two trading accounts for hedging detection (linking twice is a no-op).")
    async def link_risk_accounts(
        self, info: Ctx, account_a: strawberry.ID, account_b: strawberry.ID, kind: AccountLinkKind, detail: str = ""
    ) -> RiskAccountLinkPayload:
        ctx = info.context

        async def work() -> RiskAccountLinkPayload:
            a, b = _id(account_a, RiskAccountNotFound, "accountA"), _id(account_b, RiskAccountNotFound, "accountB")
            x = await ctx.transaction(lambda s: links.link(s, ctx.actor, a, b, kind.value, detail))
            return RiskAccountLinkPayload(link=RiskAccountLinkType.of(x))

        return await payload_or_errors(work, lambda errors: RiskAccountLinkPayload(errors=errors))

    @declares_errors("RISK_ACCOUNT_LINK_INVALID", "RISK_ACCOUNT_LINK_NOT_FOUND", "RISK_ACCOUNT_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)], description="Remove one link between two accounts.")
    async def unlink_risk_accounts(
        self, info: Ctx, account_a: strawberry.ID, account_b: strawberry.ID, kind: AccountLinkKind
    ) -> RiskAccountLinkPayload:
        ctx = info.context

        async def work() -> RiskAccountLinkPayload:
            a, b = _id(account_a, RiskAccountNotFound, "accountA"), _id(account_b, RiskAccountNotFound, "accountB")
            x = await ctx.transaction(lambda s: links.unlink(s, ctx.actor, a, b, kind.value))
            return RiskAccountLinkPayload(link=RiskAccountLinkType.of(x))

        return await payload_or_errors(work, lambda errors: RiskAccountLinkPayload(errors=errors))
