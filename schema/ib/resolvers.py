"""IB queries and mutations.

Partner (portal) fields act for the signed-in IB, or for the owner of an API token whose scopes
include `ib.tree.read` (rate-limited per token); every read is scoped to that IB's own downline in
domain/ib/portal.py. Staff fields declare `ib.*` permissions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.ib import attribution, cpa, disputes, network, partners, plans, portal, reports
from domain.ib import payouts as payouts_service
from domain.ib.errors import ClientNotFound, IbNotFound, PlanNotFound
from domain.shared.actor import ActorKind
from domain.shared.db import utcnow
from domain.shared.errors import DomainError, ValidationFailed
from domain.shared.money import parse_decimal
from domain.shared.pagination import decode_id_cursor
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.ib.access import IsIbPartner, IsSignedInIb, _id, _read, partner_id, partner_of
from schema.ib.operable import IbOperableMutations, IbOperableQueries, IbPartnerLinkQueries
from schema.ib.types import (
    AddIbPlanVersionInput,
    ApproveIbInput,
    ApproveIbPayoutInput,
    AssignIbPlanInput,
    ClawbackIbCpaInput,
    CreateIbPlanInput,
    IbChangePayload,
    IbClauseInput,
    IbClient,
    IbCommissionGroup,
    IbCommissionGroupBy,
    IbCommissionLine,
    IbDispute,
    IbDisputePayload,
    IbPartnerProfile,
    IbPartnerSummary,
    IbPayout,
    IbPayoutsPayload,
    IbPayoutStatus,
    IbPerformance,
    IbPlan,
    IbReferralLink,
    IbTree,
    IbTreeMember,
    MoveIbInput,
    OpenIbDisputeInput,
    OpenMyIbDisputeInput,
    ReassignIbClientInput,
    ResolveIbDisputeInput,
    UpdateIbSettingsInput,
)
from schema.node import key_of, node_type
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires

Ctx = Info[Context, Any]
T = TypeVar("T")
def _staff(ctx: Context, *permissions: str) -> bool:
    return ctx.actor.kind is ActorKind.STAFF and any(ctx.actor.has(p) for p in permissions)


@node_type("IbPayout")
async def _payout_nodes(ctx: Context, keys: Sequence[int]) -> list[IbPayout | None]:
    """The IB's own (myIbPayouts); staff with ib.read (ibPayoutPreview) or ib.payouts (runs, approval)."""
    staff = _staff(ctx, "ib.read", "ib.payouts")
    owner = None if staff else await partner_id(ctx)
    if not staff and owner is None:
        return [None] * len(keys)
    async with ctx.session() as s:
        found = {p.id: p for p in await payouts_service.by_ids(s, list(keys)) if staff or p.ib_id == owner}
    return [IbPayout.of(p) if (p := found.get(k)) else None for k in keys]


@node_type("IbPlan")
async def _plan_nodes(ctx: Context, keys: Sequence[int]) -> list[IbPlan | None]:
    """Staff with ib.read (ibPlans); nobody else."""
    if not _staff(ctx, "ib.read"):
        return [None] * len(keys)
    async with ctx.session() as s:
        found = await plans.plans_by_ids(s, list(keys))
    return [IbPlan.of(p) if (p := found.get(k)) else None for k in keys]


@node_type("IbDispute")
async def _dispute_nodes(ctx: Context, keys: Sequence[int]) -> list[IbDispute | None]:
    """The IB's own (myIbDisputes); staff with ib.read (ibDisputes) or ib.manage_plans (open, resolve)."""
    staff = _staff(ctx, "ib.read", "ib.manage_plans")
    owner = None if staff else await partner_id(ctx)
    if not staff and owner is None:
        return [None] * len(keys)
    async with ctx.session() as s:
        found = await disputes.by_ids(s, list(keys))
    return [IbDispute.of(d) if (d := found.get(k)) and (staff or d.ib_id == owner) else None for k in keys]


@node_type("IbCommissionLine")
async def _commission_line_nodes(ctx: Context, keys: Sequence[int]) -> list[IbCommissionLine | None]:
    """As myIbCommissionLines: the caller's own lines."""
    p = await partner_of(ctx)
    if p is None:
        return [None] * len(keys)
    async with ctx.session() as s:
        found = await portal.commission_lines_by_ids(s, p, list(keys))
    return [IbCommissionLine.of(line) if (line := found.get(k)) else None for k in keys]


@node_type("IbTreeMember")
async def _tree_member_nodes(ctx: Context, keys: Sequence[int]) -> list[IbTreeMember | None]:
    """As myIbTree: a sub-IB of the caller's tree within its visible depth, contact masked as the IB's settings say."""
    p = await partner_of(ctx)
    if p is None:
        return [None] * len(keys)
    async with ctx.session() as s:
        found = await portal.tree_members(s, p, list(keys))
    return [IbTreeMember.of(m) if (m := found.get(k)) else None for k in keys]


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    t1 = until or utcnow()
    t0 = since or datetime(t1.year, t1.month, 1, tzinfo=t1.tzinfo)
    reports.check_period(t0, t1)
    return t0, t1


@strawberry.type
class IbQueries:
    @strawberry.field(permission_classes=[IsIbPartner], description="IB portal: your settings.")
    async def my_ib_profile(self, info: Ctx) -> IbPartnerProfile:
        async def go(_s: AsyncSession, p: portal.Partner) -> IbPartnerProfile:
            return IbPartnerProfile.of(p)

        return await _read(info, go)

    @strawberry.field(permission_classes=[IsIbPartner],
                      description="IB portal: your sub-IBs to `depth` (capped at your visible depth).")
    async def my_ib_tree(self, info: Ctx, depth: int | None = None) -> IbTree:
        async def go(s: AsyncSession, p: portal.Partner) -> IbTree:
            shown = portal.clamp_depth(p, depth)
            return IbTree(visible_depth=p.visible_depth, depth=shown, partner=p)

        return await _read(info, go)

    @strawberry.field(permission_classes=[IsIbPartner],
                      description="IB portal: clients of your downline (depth 0 = your own clients).")
    async def my_ib_clients(self, info: Ctx, first: int | None = None,
                            after: str | None = None, last: int | None = None, before: str | None = None,
                            depth: int | None = None) -> Connection[IbClient]:
        req = page_request(info, first, after, last, before)

        async def go(s: AsyncSession, p: portal.Partner) -> Connection[IbClient]:
            page = await portal.clients(s, p, page=req, depth=depth)
            return to_connection(page, IbClient.of, lambda c: (c.registered_at, c.client_id))

        return await _read(info, go)

    @strawberry.field(permission_classes=[IsIbPartner],
                      description="IB portal: one client of your downline; any other id is not found.")
    async def my_ib_client(self, info: Ctx, client_id: strawberry.ID) -> IbClient:
        cid = _id(client_id, ClientNotFound, "clientId")

        async def go(s: AsyncSession, p: portal.Partner) -> IbClient:
            return IbClient.of(await portal.client(s, p, cid))

        return await _read(info, go)

    @strawberry.field(permission_classes=[IsIbPartner],
                      description="IB portal: your net commissions in [since, until), grouped.")
    async def my_ib_commissions(self, info: Ctx, group_by: IbCommissionGroupBy, since: datetime | None = None,
                                until: datetime | None = None,
                                client_id: strawberry.ID | None = None) -> list[IbCommissionGroup]:
        t0, t1 = _period(since, until)
        cid = _id(client_id, ClientNotFound, "clientId") if client_id is not None else None

        async def go(s: AsyncSession, p: portal.Partner) -> list[IbCommissionGroup]:
            groups = await portal.commissions(s, p, t0, t1, portal.GroupBy(group_by.value), client_id=cid)
            return [IbCommissionGroup.of(g) for g in groups]

        return await _read(info, go)

    @strawberry.field(permission_classes=[IsIbPartner],
                      description="IB portal: your commission lines with deal time in [since, until) (default: this "
                                  "month to now), newest first.")
    async def my_ib_commission_lines(self, info: Ctx, since: datetime | None = None, until: datetime | None = None,
                                     first: int | None = None, after: str | None = None, last: int | None = None,
                                     before: str | None = None) -> Connection[IbCommissionLine]:
        req = page_request(info, first, after, last, before)
        t0, t1 = _period(since, until)

        async def go(s: AsyncSession, p: portal.Partner) -> Connection[IbCommissionLine]:
            page = await portal.commission_lines(s, p, req, t0, t1)
            return to_connection(page, IbCommissionLine.of, lambda x: (x.deal_time, x.id))

        return await _read(info, go)

    @strawberry.field(permission_classes=[IsIbPartner], description="IB portal: your payouts, newest first.")
    async def my_ib_payouts(self, info: Ctx, first: int | None = None,
                            after: str | None = None, last: int | None = None,
                            before: str | None = None) -> Connection[IbPayout]:
        req = page_request(info, first, after, last, before)

        async def go(s: AsyncSession, p: portal.Partner) -> Connection[IbPayout]:
            page = await payouts_service.list_for(s, p.ib_id, req)
            return to_connection(page, IbPayout.of, lambda x: (x.created_at, x.id))

        return await _read(info, go)

    @strawberry.field(permission_classes=[IsIbPartner],
                      description="IB portal: your commission statement for [since, until) as CSV text.")
    async def my_ib_statement_csv(self, info: Ctx, since: datetime, until: datetime) -> str:
        async def go(s: AsyncSession, p: portal.Partner) -> str:
            return await reports.statement_csv(s, p, since, until)

        return await _read(info, go)

    @strawberry.field(permission_classes=[IsIbPartner],
                      description="IB portal: your commission statement for [since, until) as a PDF, base64-encoded.")
    async def my_ib_statement_pdf(self, info: Ctx, since: datetime, until: datetime) -> str:
        import base64

        from domain.ib.statement_pdf import statement_pdf

        async def go(s: AsyncSession, p: portal.Partner) -> str:
            data = await statement_pdf(s, p, since, until, title="Commission statement")
            return base64.b64encode(data).decode()

        return await _read(info, go)

    @strawberry.field(permission_classes=[IsIbPartner],
                      description="IB portal: your referral links with registrations and depositing clients.")
    async def my_ib_referral_links(self, info: Ctx, first: int | None = None,
                                   after: str | None = None, last: int | None = None,
                                   before: str | None = None) -> Connection[IbReferralLink]:
        req = page_request(info, first, after, last, before)

        async def go(s: AsyncSession, p: portal.Partner) -> Connection[IbReferralLink]:
            page = await portal.referral_links(s, p, req)
            return to_connection(page, IbReferralLink.of, lambda x: (x.created_at, x.id))

        return await _read(info, go)

    @strawberry.field(permission_classes=[IsIbPartner], description="IB portal: your disputes, newest first.")
    async def my_ib_disputes(self, info: Ctx, first: int | None = None,
                             after: str | None = None, last: int | None = None,
                             before: str | None = None) -> Connection[IbDispute]:
        req = page_request(info, first, after, last, before)

        async def go(s: AsyncSession, p: portal.Partner) -> Connection[IbDispute]:
            page = await disputes.list_disputes(s, req, ib_id=p.ib_id)
            return to_connection(page, IbDispute.of, lambda d: (d.created_at, d.id))

        return await _read(info, go)

    @strawberry.field(permission_classes=[Requires("ib.read")],
                      description="Staff: the commission plans, oldest first, each with its latest version and the "
                                  "IBs on it now (a plan's id is what approveIbApplication and assignIbPlan take).")
    async def ib_plans(self, info: Ctx, first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None) -> Connection[IbPlan]:
        req = page_request(info, first, after, last, before, decode=decode_id_cursor)  # keyed by id alone
        async with info.context.read() as s:
            page = await plans.list_plans(s, req)
        return to_connection(page, IbPlan.of, lambda p: (p.id,))

    @strawberry.field(permission_classes=[Requires("ib.read")],
                      description="Staff: every IB, applicants included, oldest first, with its parent and plan now; "
                                  "`search` matches a part of the name or e-mail, or the IB's id.")
    async def ib_partners(self, info: Ctx, search: str | None = None, status: str | None = None,
                          first: int | None = None, after: str | None = None, last: int | None = None,
                          before: str | None = None) -> Connection[IbPartnerSummary]:
        req = page_request(info, first, after, last, before, decode=decode_id_cursor)
        async with info.context.read() as s:
            page = await partners.list_partners(s, req, search=search, status=status)
        return to_connection(page, IbPartnerSummary.of, lambda p: (p.ib_id,))

    @strawberry.field(permission_classes=[Requires("ib.read")],
                      description="Staff: every IB's payouts newest first, optionally one status or one IB's.")
    async def ib_payouts(self, info: Ctx, status: IbPayoutStatus | None = None, ib_id: strawberry.ID | None = None,
                         first: int | None = None, after: str | None = None, last: int | None = None,
                         before: str | None = None) -> Connection[IbPayout]:
        req = page_request(info, first, after, last, before)
        ib = _id(ib_id, IbNotFound, "ibId") if ib_id is not None else None
        async with info.context.read() as s:
            page = await payouts_service.list_all(s, req, status=status.value if status is not None else None,
                                                  ib_id=ib)
        return to_connection(page, IbPayout.of, lambda x: (x.created_at, x.id))

    @strawberry.field(permission_classes=[Requires("ib.read")],
                      description="Staff: disputes, newest first, by status and IB.")
    async def ib_disputes(self, info: Ctx, status: str | None = None, ib_id: strawberry.ID | None = None,
                          first: int | None = None,
                          after: str | None = None, last: int | None = None,
                          before: str | None = None) -> Connection[IbDispute]:
        req = page_request(info, first, after, last, before)
        ib = _id(ib_id, IbNotFound, "ibId") if ib_id is not None else None
        async with info.context.session() as s:
            page = await disputes.list_disputes(s, req, ib_id=ib, status=status)
        return to_connection(page, IbDispute.of, lambda d: (d.created_at, d.id))

    @strawberry.field(permission_classes=[Requires("ib.read")],
                      description="Staff: an IB's clients, volume, deposits, commissions, revenue, cost per client.")
    async def ib_performance(self, info: Ctx, ib_id: strawberry.ID, since: datetime | None = None,
                             until: datetime | None = None) -> IbPerformance:
        t0, t1 = _period(since, until)
        async with info.context.session() as s:
            return IbPerformance.of(await reports.performance(s, _id(ib_id, IbNotFound, "ibId"), t0, t1))

    @strawberry.field(permission_classes=[Requires("ib.read")],
                      description="Staff: IB relationships and commission lines of a period, as CSV for regulators.")
    async def ib_regulator_export_csv(self, info: Ctx, since: datetime, until: datetime) -> str:
        async with info.context.session() as s:
            return await reports.regulator_export_csv(s, since, until)


def _rate(value: str, field: str) -> Any:
    d = parse_decimal(value, field=field)
    if d < 0:
        raise ValidationFailed("rates cannot be negative", field=field)
    return d


def _clause(c: IbClauseInput) -> plans.ClauseSpec:
    return plans.ClauseSpec(
        kind=plans.ClauseKind(c.kind), level_rates=tuple(_rate(r, "levelRates") for r in c.level_rates),
        base_rate=_rate(c.base_rate, "baseRate"), max_total=_rate(c.max_total, "maxTotal"),
        symbols=tuple(c.symbols) if c.symbols is not None else None, excluded_symbols=tuple(c.excluded_symbols),
        account_groups=tuple(c.account_groups) if c.account_groups is not None else None,
        side=plans.Side(c.side), lot_modifier=_rate(c.lot_modifier, "lotModifier"),
        markup_pips=_rate(c.markup_pips, "markupPips"), min_hold_seconds=c.min_hold_seconds,
        params=_params(c.params))


def _clause_at(index: int, c: IbClauseInput) -> plans.ClauseSpec:
    with plans.at_clause(index):
        return _clause(c)


def _params(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed("params is an object", field="params")
    return dict(value)


async def _change(info: Ctx, fn: Callable[[AsyncSession], Awaitable[int | None]]) -> IbChangePayload:
    ctx = info.context

    async def work() -> IbChangePayload:
        made = await ctx.transaction(fn)
        return IbChangePayload(ok=True, id=strawberry.ID(str(made)) if made is not None else None)

    return await payload_or_errors(work, lambda errors: IbChangePayload(errors=errors))


def _errors(errors: list[UserError]) -> IbPayoutsPayload:
    return IbPayoutsPayload(errors=errors)


@strawberry.type
class IbMutations:
    @declares_errors("CONFLICT", "UNKNOWN_CURRENCY", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("ib.manage_plans")], description="Staff: a new commission plan.")
    async def create_ib_plan(self, info: Ctx, input: CreateIbPlanInput) -> IbChangePayload:
        actor = info.context.actor
        return await _change(info, lambda s: plans.create_plan(s, actor, name=input.name, currency=input.currency,
                                                                is_default=input.is_default))

    @declares_errors(
        "AMOUNT_PRECISION", "IB_PLAN_EXCEEDS_CAP", "IB_PLAN_INVALID", "IB_PLAN_NOT_FOUND", "IB_PLAN_VERSION_OVERLAP",
        "IB_RETROACTIVE_NOT_ALLOWED", "INVALID_AMOUNT", "VALIDATION_FAILED",
    )
    @strawberry.mutation(permission_classes=[Requires("ib.manage_plans")],
                         description="Staff: a plan version in force from validFrom (never overlapping another).")
    async def add_ib_plan_version(self, info: Ctx, input: AddIbPlanVersionInput) -> IbChangePayload:
        actor = info.context.actor

        async def fn(s: AsyncSession) -> int:
            return await plans.add_version(
                s, actor, _id(input.plan_id, PlanNotFound, "planId"),
                distribution=plans.Distribution(input.distribution),
                clauses=[_clause_at(i, c) for i, c in enumerate(input.clauses)],
                valid_from=input.valid_from, valid_to=input.valid_to, allow_retroactive=input.allow_retroactive)

        return await _change(info, fn)

    @declares_errors("IB_NOT_FOUND", "IB_PLAN_NOT_FOUND", "IB_PLAN_VERSION_OVERLAP", "IB_RETROACTIVE_NOT_ALLOWED")
    @strawberry.mutation(permission_classes=[Requires("ib.manage_plans")], description="Staff: assign a plan to an IB.")
    async def assign_ib_plan(self, info: Ctx, input: AssignIbPlanInput) -> IbChangePayload:
        actor = info.context.actor

        async def fn(s: AsyncSession) -> None:
            await plans.assign(s, actor, _id(input.ib_id, IbNotFound, "ibId"),
                               _id(input.plan_id, PlanNotFound, "planId"), effective_from=input.effective_from,
                               reason=input.reason, allow_retroactive=input.allow_retroactive)

        return await _change(info, fn)

    @declares_errors("IB_NOT_FOUND", "IB_NOT_PENDING")
    @strawberry.mutation(permission_classes=[Requires("ib.manage_network")],
                         description="Staff: approve an IB application (under its requested or the given parent).")
    async def approve_ib(self, info: Ctx, input: ApproveIbInput) -> IbChangePayload:
        actor = info.context.actor

        async def fn(s: AsyncSession) -> None:
            parent = _id(input.parent_id, IbNotFound, "parentId") if input.parent_id is not None else None
            await network.approve(s, actor, _id(input.ib_id, IbNotFound, "ibId"), parent_id=parent)

        return await _change(info, fn)

    @declares_errors(
        "IB_CHANGE_BEFORE_LAST_CHANGE", "IB_NOT_APPROVED", "IB_NOT_FOUND", "IB_RETROACTIVE_NOT_ALLOWED",
        "IB_TREE_CYCLE",
    )
    @strawberry.mutation(permission_classes=[Requires("ib.manage_network")],
                         description="Staff: move an IB with its downline under another parent from a date.")
    async def move_ib(self, info: Ctx, input: MoveIbInput) -> IbChangePayload:
        actor = info.context.actor

        async def fn(s: AsyncSession) -> None:
            parent = _id(input.new_parent_id, IbNotFound, "newParentId") if input.new_parent_id is not None else None
            try:
                await network.move(s, actor, _id(input.ib_id, IbNotFound, "ibId"), parent,
                                   effective_from=input.effective_from, reason=input.reason,
                                   allow_retroactive=input.allow_retroactive)
            except DomainError as exc:
                # The tree names the parent `parentId` (as approveIbApplication's input does); here it is
                # this input's newParentId, so a portal shows a cycle beside that field.
                if exc.field == "parentId":
                    exc.field = "newParentId"
                raise

        return await _change(info, fn)

    @declares_errors(
        "IB_CHANGE_BEFORE_LAST_CHANGE", "IB_CLIENT_NOT_FOUND", "IB_NOT_FOUND", "IB_RETROACTIVE_NOT_ALLOWED",
        "IB_SELF_REFERRAL", "VALIDATION_FAILED",
    )
    @strawberry.mutation(permission_classes=[Requires("ib.manage_network")],
                         description="Staff: move a client to another IB from a date, with a reason.")
    async def reassign_ib_client(self, info: Ctx, input: ReassignIbClientInput) -> IbChangePayload:
        actor = info.context.actor

        async def fn(s: AsyncSession) -> None:
            await attribution.reassign(s, actor, _id(input.client_id, ClientNotFound, "clientId"),
                                       _id(input.ib_id, IbNotFound, "ibId"), effective_from=input.effective_from,
                                       reason=input.reason, allow_retroactive=input.allow_retroactive)

        return await _change(info, fn)

    @declares_errors("IB_NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("ib.manage_network")],
                         description="Staff: an IB's visible depth, PII flag and payout cycle, minimum and hold.")
    async def update_ib_settings(self, info: Ctx, input: UpdateIbSettingsInput) -> IbChangePayload:
        actor = info.context.actor
        change = partners.SettingsChange(input.visible_depth, input.show_client_pii, input.payout_cycle,
                                          input.payout_min, input.payout_hold)

        async def fn(s: AsyncSession) -> None:
            await partners.update_settings(s, actor, _id(input.ib_id, IbNotFound, "ibId"), change)

        return await _change(info, fn)

    @declares_errors(
        "AMOUNT_PRECISION", "CONFLICT", "ENTRY_ALREADY_REVERSED", "FOUR_EYES_RELATED_APPROVER",
        "IB_PAYOUT_EXCEEDS_PAYABLE", "IB_PAYOUT_NOT_FOUND", "IB_PAYOUT_NOT_HELD", "INSUFFICIENT_FUNDS",
        "INVALID_AMOUNT", "INVALID_ID", "SELF_APPROVAL_FORBIDDEN", "UNBALANCED_ENTRY", "UNKNOWN_CURRENCY",
    )
    @strawberry.mutation(permission_classes=[Requires("ib.payouts")],
                         description="Staff: release a payout held for review (the money moves now).")
    async def approve_ib_payout(self, info: Ctx, input: ApproveIbPayoutInput) -> IbPayoutsPayload:
        ctx = info.context

        async def work() -> IbPayoutsPayload:
            payout = key_of(input.payout_id, "IbPayout", field="payoutId")
            paid = await ctx.transaction(lambda s: payouts_service.approve(s, ctx.actor, payout, reason=input.reason))
            return IbPayoutsPayload(payouts=[IbPayout.of(paid)])

        return await payload_or_errors(work, _errors)


def _dispute_errors(errors: list[UserError]) -> IbDisputePayload:
    return IbDisputePayload(errors=errors)


async def _dispute(info: Ctx, fn: Callable[[AsyncSession], Awaitable[disputes.Dispute]]) -> IbDisputePayload:
    ctx = info.context

    async def work() -> IbDisputePayload:
        return IbDisputePayload(dispute=IbDispute.of(await ctx.transaction(fn)))

    return await payload_or_errors(work, _dispute_errors)


@strawberry.type
class IbDisputeMutations:
    @declares_errors("IB_NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[IsSignedInIb],
                         description="IB portal: dispute one of your commission lines or a period of them.")
    async def open_my_ib_dispute(self, info: Ctx, input: OpenMyIbDisputeInput) -> IbDisputePayload:
        actor = info.context.actor

        async def fn(s: AsyncSession) -> disputes.Dispute:
            p = await portal.partner(s, actor.user_id)
            line = _id(input.line_id, IbNotFound, "lineId") if input.line_id is not None else None
            return await disputes.open_dispute(s, actor, p.ib_id, reason=input.reason, line_id=line,
                                               period_from=input.since, period_to=input.until)

        return await _dispute(info, fn)

    @declares_errors("IB_NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("ib.manage_plans")],
                         description="Staff: open a dispute for an IB on one of its lines or a period.")
    async def open_ib_dispute(self, info: Ctx, input: OpenIbDisputeInput) -> IbDisputePayload:
        actor = info.context.actor

        async def fn(s: AsyncSession) -> disputes.Dispute:
            line = _id(input.line_id, IbNotFound, "lineId") if input.line_id is not None else None
            return await disputes.open_dispute(s, actor, _id(input.ib_id, IbNotFound, "ibId"), reason=input.reason,
                                               line_id=line, period_from=input.since, period_to=input.until)

        return await _dispute(info, fn)

    @declares_errors(
        "AMOUNT_PRECISION", "CONFLICT", "ENTRY_ALREADY_REVERSED", "IB_DISPUTE_NOT_FOUND", "IB_DISPUTE_NOT_OPEN",
        "INSUFFICIENT_FUNDS", "INVALID_AMOUNT", "INVALID_ID", "UNBALANCED_ENTRY", "UNKNOWN_CURRENCY",
        "VALIDATION_FAILED",
    )
    @strawberry.mutation(permission_classes=[Requires("ib.manage_plans")],
                         description="Staff: accept a dispute with an adjustment, or reject it, with a reason.")
    async def resolve_ib_dispute(self, info: Ctx, input: ResolveIbDisputeInput) -> IbDisputePayload:
        actor = info.context.actor

        async def fn(s: AsyncSession) -> disputes.Dispute:
            return await disputes.resolve(s, actor, key_of(input.dispute_id, "IbDispute", field="disputeId"),
                                          accept=input.accept, reason=input.reason, adjustment=input.adjustment,
                                          currency=input.currency, now=utcnow())

        return await _dispute(info, fn)

    @declares_errors(
        "AMOUNT_PRECISION", "CONFLICT", "ENTRY_ALREADY_REVERSED", "IB_CLIENT_NOT_FOUND", "IB_CPA_ALREADY_CLAWED_BACK",
        "IB_CPA_NOT_FOUND", "INSUFFICIENT_FUNDS", "INVALID_AMOUNT", "UNBALANCED_ENTRY", "UNKNOWN_CURRENCY",
        "VALIDATION_FAILED",
    )
    @strawberry.mutation(permission_classes=[Requires("ib.manage_plans")],
                         description="Staff: claw back the CPA paid for a client (fraud), with a reason.")
    async def clawback_ib_cpa(self, info: Ctx, input: ClawbackIbCpaInput) -> IbChangePayload:
        actor = info.context.actor

        async def fn(s: AsyncSession) -> int:
            client = _id(input.client_id, ClientNotFound, "clientId")
            await cpa.clawback(s, actor, client, cause="fraud", reason=input.reason, now=utcnow())
            return client

        return await _change(info, fn)


QUERIES = (IbQueries, IbOperableQueries, IbPartnerLinkQueries)
MUTATIONS = (IbMutations, IbDisputeMutations, IbOperableMutations)

