"""IB fields that make the IB side operable through the API: applications, referral links managed
by the IB, commission explain outside disputes, payout preview and staff-triggered payout runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.ib import applications, links, portal
from domain.ib import payouts as payouts_service
from domain.ib.errors import IbNotFound, PlanNotFound
from domain.ib.explain import LineExplanation, explain_for
from domain.ledger import idempotency
from domain.shared.actor import ActorKind
from domain.shared.db import utcnow
from domain.shared.money import at_scale
from schema.context import Context
from schema.errors import PublicError, UserError, declares_errors, payload_or_errors
from schema.ib.access import IsIbPartner, IsSignedInIb, _id, _read, partner_id
from schema.ib.types import IbPayout, IbReferralLink
from schema.node import DATABASE_ID_DOC, RAW_ID_NOTE, Node, global_id, key_of, node_type
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Declared, Requires
from schema.scalars import Money

Ctx = Info[Context, Any]


class IsApplicant(Declared):
    """A signed-in client (or IB, who is told it is one already); no staff, no API tokens."""

    message = "Only a signed-in client may apply to become an IB."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Ctx, **kwargs: Any) -> bool:
        actor = info.context.actor
        if not actor.is_authenticated:
            raise PublicError("You must be signed in.", "UNAUTHENTICATED")
        return actor.kind in (ActorKind.CLIENT, ActorKind.IB)


# --- applications ----------------------------------------------------------------------------------

@strawberry.enum(description="How an IB promotes the brokerage.")
class IbChannel(Enum):
    WEBSITE = "website"
    SOCIAL_MEDIA = "social_media"
    YOUTUBE = "youtube"
    TELEGRAM = "telegram"
    EMAIL = "email"
    SEMINARS = "seminars"
    OFFLINE = "offline"
    OTHER = "other"


@strawberry.enum
class IbApplicationStatus(Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@strawberry.type(description="An application to become an IB and its decision.")
class IbApplication(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    user_id: strawberry.ID
    applicant_email: str | None
    status: IbApplicationStatus
    website: str
    channels: list[IbChannel]
    expected_clients: int
    message: str
    created_at: datetime
    decided_at: datetime | None
    decision_reason: str | None
    parent_id: strawberry.ID | None
    plan_id: strawberry.ID | None

    @classmethod
    def of(cls, a: applications.Application, email: str | None = None) -> IbApplication:
        def opt(v: int | None) -> strawberry.ID | None:
            return strawberry.ID(str(v)) if v is not None else None

        return cls(id=global_id("IbApplication", a.id), database_id=strawberry.ID(str(a.id)),
                   user_id=strawberry.ID(str(a.user_id)), applicant_email=email,
                   status=IbApplicationStatus(a.status), website=a.website,
                   channels=[IbChannel(c) for c in a.channels], expected_clients=a.expected_clients,
                   message=a.message, created_at=a.created_at, decided_at=a.decided_at,
                   decision_reason=a.decision_reason, parent_id=opt(a.parent_id), plan_id=opt(a.plan_id))


@strawberry.input(description="What an IB programme asks of an applicant.")
class ApplyForIbInput:
    channels: list[IbChannel]
    expected_clients: int = strawberry.field(description="Clients expected in the first year.")
    website: str = ""
    message: str = ""


@strawberry.input(description="Staff: approve an application; the applicant becomes an IB under parentId "
                              "(none: top level), on planId when given, from now.")
class ApproveIbApplicationInput:
    application_id: strawberry.ID = strawberry.field(description=RAW_ID_NOTE)
    parent_id: strawberry.ID | None = None
    plan_id: strawberry.ID | None = None
    reason: str = ""


@strawberry.input
class RejectIbApplicationInput:
    application_id: strawberry.ID = strawberry.field(description=RAW_ID_NOTE)
    reason: str


@strawberry.type
class IbApplicationPayload:
    application: IbApplication | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@node_type("IbApplication")
async def _application_nodes(ctx: Context, keys: Sequence[int]) -> list[IbApplication | None]:
    """The applicant's own (myIbApplications); staff with ib.read (ibApplications, with the applicant's e-mail) or
    ib.manage_network (approve, reject)."""
    actor = ctx.actor
    staff = actor.kind is ActorKind.STAFF and (actor.has("ib.read") or actor.has("ib.manage_network"))
    if not staff and actor.kind not in (ActorKind.CLIENT, ActorKind.IB):
        return [None] * len(keys)
    async with ctx.session() as s:
        found = {k: a for k, a in (await applications.by_ids(s, list(keys))).items()
                 if staff or a.user_id == actor.user_id}
        shown = actor.kind is ActorKind.STAFF and actor.has("ib.read")
        emails = await applications.applicant_emails(s, [a.user_id for a in found.values()]) if shown else {}
    return [IbApplication.of(a, emails.get(a.user_id)) if (a := found.get(k)) else None for k in keys]


# --- referral links --------------------------------------------------------------------------------

IbLinkTarget = strawberry.enum(links.LinkTarget, name="IbLinkTarget",
                               description="The portal page a referral link lands on.")


@strawberry.type(description="A referral link you manage: /r/<code> counts the click and lands on its target "
                             "with your code; clicks (once per visitor and day), registrations, first deposits.")
class IbManagedLink(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    code: str
    path: str
    referral_url: str = strawberry.field(description="The link to hand out: `path` on the public origin (the "
                                                     "ib_referral_base_url setting, else the origin this "
                                                     "request reached, else public_base_url).")
    name: str
    target: IbLinkTarget  # type: ignore[valid-type]
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_content: str
    clicks: int
    registrations: int
    first_deposits: int
    created_at: datetime
    disabled_at: datetime | None

    @classmethod
    def of(cls, link: links.Link, registrations: int = 0, first_deposits: int = 0, *, base: str) -> IbManagedLink:
        return cls(id=global_id("IbManagedLink", link.id), database_id=strawberry.ID(str(link.id)), code=link.code,
                   path=f"/r/{link.code}", referral_url=f"{base}/r/{link.code}", name=link.name,
                   target=links.LinkTarget(link.target), utm_source=link.utm.get("utm_source", ""),
                   utm_medium=link.utm.get("utm_medium", ""), utm_campaign=link.utm.get("utm_campaign", ""),
                   utm_content=link.utm.get("utm_content", ""), clicks=link.clicks, registrations=registrations,
                   first_deposits=first_deposits, created_at=link.created_at, disabled_at=link.disabled_at)


def referral_base(ctx: Context) -> str:
    """The origin referral links are written with: the ib_referral_base_url setting, else the scheme and host
    this request reached (through a portal's proxy: the portal's origin, which proxies /r/ to the API too)."""
    if ctx.settings.ib_referral_base_url:
        return ctx.settings.ib_referral_base_url.rstrip("/")
    if ctx.request is None:  # executed in process, no request: the API's own public address
        return ctx.settings.public_base_url.rstrip("/")
    url = ctx.request.url
    scheme = {"ws": "http", "wss": "https"}.get(url.scheme, url.scheme)
    return f"{scheme}://{url.netloc}"


LINK_TYPES = ("IbManagedLink", "IbReferralLink")  # one link, read through either list
LINK_ID_NOTE = f"The link's `IbManagedLink.id` or `IbReferralLink.id`. {RAW_ID_NOTE}"


@strawberry.input
class CreateMyIbReferralLinkInput:
    name: str
    target: IbLinkTarget = links.LinkTarget.REGISTRATION  # type: ignore[valid-type]
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_content: str = ""


@strawberry.input
class RenameMyIbReferralLinkInput:
    link_id: strawberry.ID = strawberry.field(description=LINK_ID_NOTE)
    name: str


@strawberry.input
class DisableMyIbReferralLinkInput:
    link_id: strawberry.ID = strawberry.field(description=LINK_ID_NOTE)


async def _own_links(ctx: Context, keys: Sequence[int]) -> dict[int, links.LinkStats]:
    ib = await partner_id(ctx)
    if ib is None:
        return {}
    async with ctx.session() as s:
        return await links.stats_by_ids(s, ib, list(keys))


@node_type("IbManagedLink")
async def _managed_link_nodes(ctx: Context, keys: Sequence[int]) -> list[IbManagedLink | None]:
    """The IB's own links, disabled ones too (myIbManagedLinks(includeDisabled: true))."""
    found = await _own_links(ctx, keys)
    base = referral_base(ctx)
    return [IbManagedLink.of(x.link, x.registrations, x.first_deposits, base=base) if (x := found.get(k)) else None
            for k in keys]


@node_type("IbReferralLink")
async def _referral_link_nodes(ctx: Context, keys: Sequence[int]) -> list[IbReferralLink | None]:
    """The IB's own active links (myIbReferralLinks lists no disabled one)."""
    found = await _own_links(ctx, keys)
    return [IbReferralLink.of_link(x) if (x := found.get(k)) and x.link.disabled_at is None else None for k in keys]


@strawberry.type
class IbReferralLinkPayload:
    link: IbManagedLink | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


# --- explain ---------------------------------------------------------------------------------------

@strawberry.type(description="How one commission line was computed: the line (formula, inputs, rate, amount), the "
                             "deal it came from and the plan clause as stored.")
class IbLineExplanation:
    line_id: strawberry.ID
    ib_id: strawberry.ID
    kind: str
    source: str
    level: int
    currency: str
    amount: Money  # type: ignore[valid-type]
    formula: str
    deal_time: datetime
    line: JSON  # type: ignore[valid-type]
    deal: JSON | None  # type: ignore[valid-type]
    clause: JSON | None  # type: ignore[valid-type]

    @classmethod
    def of(cls, e: LineExplanation) -> IbLineExplanation:
        m = e.line
        return cls(line_id=strawberry.ID(str(m["id"])), ib_id=strawberry.ID(str(m["ib_id"])), kind=m["kind"],
                   source=m["source"], level=int(m["level"]), currency=m["currency"],
                   amount=at_scale(Decimal(str(m["amount"])), m["currency"]), formula=m["formula"],
                   deal_time=datetime.fromisoformat(str(m["deal_time"])),
                   line=m, deal=e.deal, clause=e.clause)  # type: ignore[arg-type]


# --- payouts ---------------------------------------------------------------------------------------

@strawberry.enum(description="What a run for the period does for this IB and currency.")
class IbPayoutOutcome(Enum):
    PAY = "pay"
    HOLD = "hold"
    BELOW_MINIMUM = "below_minimum"
    NOTHING_DUE = "nothing_due"
    ALREADY_RUN = "already_run"


@strawberry.type(description="A payout a run would make (or made) for one IB and currency.")
class IbPayoutDue:
    ib_id: strawberry.ID
    currency: str
    period_key: str
    amount: Money  # type: ignore[valid-type]
    minimum: Money  # type: ignore[valid-type]
    held_before: Money  # type: ignore[valid-type]
    outcome: IbPayoutOutcome
    lines: int
    lines_amount: Money  # type: ignore[valid-type]
    existing_payout: IbPayout | None

    @classmethod
    def of(cls, d: payouts_service.Due) -> IbPayoutDue:
        return cls(ib_id=strawberry.ID(str(d.ib_id)), currency=d.currency, period_key=d.period_key,
                   amount=at_scale(d.amount, d.currency), minimum=d.minimum.normalize(),
                   held_before=at_scale(d.held_before, d.currency), outcome=IbPayoutOutcome(d.outcome),
                   lines=d.lines, lines_amount=at_scale(d.lines_amount, d.currency),
                   existing_payout=IbPayout.of(d.existing) if d.existing else None)


@strawberry.input(description="Staff: pay a closed period (2025-01-14, 2025-W03 or 2025-01) to every IB on that "
                              "cycle, or to ibId only; or, on demand, everything accrued before a past instant "
                              "(2025-01-14T10:30:00Z) whatever the cycle. A period already paid pays nothing "
                              "again, and no money is paid twice across runs.")
class RunIbPayoutsInput:
    period: str
    idempotency_key: str
    ib_id: strawberry.ID | None = None


@strawberry.input
class RequestMyIbPayoutInput:
    idempotency_key: str


@strawberry.type
class IbPayoutRun:
    period_key: str
    ibs: int
    created: list[IbPayout]
    existing: list[IbPayout]
    replayed: bool


@strawberry.type
class IbPayoutRunPayload:
    run: IbPayoutRun | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


# --- resolvers -------------------------------------------------------------------------------------

@strawberry.type
class IbOperableQueries:
    @strawberry.field(permission_classes=[IsApplicant], description="Your IB applications, newest first.")
    async def my_ib_applications(self, info: Ctx, first: int | None = None,
                                 after: str | None = None, last: int | None = None,
                                 before: str | None = None) -> Connection[IbApplication]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as s:
            page = await applications.mine(s, info.context.actor.user_id or 0, req)
        return to_connection(page, IbApplication.of, lambda a: (a.created_at, a.id))

    @strawberry.field(permission_classes=[Requires("ib.read")],
                      description="Staff: IB applications, newest first, by status.")
    async def ib_applications(self, info: Ctx, status: IbApplicationStatus | None = None, first: int | None = None,
                              after: str | None = None,
                              last: int | None = None, before: str | None = None) -> Connection[IbApplication]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as s:
            page = await applications.list_applications(s, status=status.value if status else None, page=req)
            emails = await applications.applicant_emails(s, [a.user_id for a in page.items])
        return to_connection(page, lambda a: IbApplication.of(a, emails.get(a.user_id)),
                             lambda a: (a.created_at, a.id))

    @strawberry.field(permission_classes=[Requires("ib.read")],
                      description="Staff: how any commission line was computed.")
    async def ib_commission_line(self, info: Ctx, line_id: strawberry.ID) -> IbLineExplanation:
        line = _id(line_id, IbNotFound, "lineId")
        async with info.context.session() as s:
            return IbLineExplanation.of(await explain_for(s, line))

    @strawberry.field(permission_classes=[Requires("ib.read")],
                      description="Staff: what a payout run for a closed period would pay per IB and currency "
                                  "(nothing is written).")
    async def ib_payout_preview(self, info: Ctx, period: str, ib_id: strawberry.ID | None = None) -> list[IbPayoutDue]:
        ib = _id(ib_id, IbNotFound, "ibId") if ib_id is not None else None
        async with info.context.session() as s:
            return [IbPayoutDue.of(d) for d in await payouts_service.preview_period(s, period, now=utcnow(),
                                                                                  ib_id=ib)]


@strawberry.type
class IbPartnerLinkQueries:
    @strawberry.field(permission_classes=[IsIbPartner],
                      description="IB portal: how one of your commission lines was computed; any other line is "
                                  "not found.")
    async def my_ib_commission_line(self, info: Ctx, line_id: strawberry.ID) -> IbLineExplanation:
        line = _id(line_id, IbNotFound, "lineId")

        async def go(s: AsyncSession, p: portal.Partner) -> IbLineExplanation:
            return IbLineExplanation.of(await explain_for(s, line, ib_id=p.ib_id, visible_depth=p.visible_depth))

        return await _read(info, go)

    @strawberry.field(permission_classes=[IsIbPartner],
                      description="IB portal: the referral links you manage, with clicks, registrations and first "
                                  "deposits.")
    async def my_ib_managed_links(self, info: Ctx, include_disabled: bool = False, first: int | None = None,
                                  after: str | None = None, last: int | None = None,
                                  before: str | None = None) -> Connection[IbManagedLink]:
        req = page_request(info, first, after, last, before)
        base = referral_base(info.context)

        async def go(s: AsyncSession, p: portal.Partner) -> Connection[IbManagedLink]:
            page = await links.stats(s, p.ib_id, req, include_disabled=include_disabled)
            return to_connection(page, lambda x: IbManagedLink.of(x.link, x.registrations, x.first_deposits,
                                                                  base=base),
                                 lambda x: (x.link.created_at, x.link.id))

        return await _read(info, go)


def _application_errors(errors: list[UserError]) -> IbApplicationPayload:
    return IbApplicationPayload(errors=errors)


def _link_errors(errors: list[UserError]) -> IbReferralLinkPayload:
    return IbReferralLinkPayload(errors=errors)


def _run_errors(errors: list[UserError]) -> IbPayoutRunPayload:
    return IbPayoutRunPayload(errors=errors)


RUN_OPERATION = "ib.payout_run"
REQUEST_OPERATION = "ib.payout_request"


@strawberry.type
class IbOperableMutations:
    @declares_errors("IB_ALREADY_APPLIED", "IB_ALREADY_PARTNER", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[IsApplicant],
                         description="Apply to become an IB (one open application at a time).")
    async def apply_for_ib(self, info: Ctx, input: ApplyForIbInput) -> IbApplicationPayload:
        ctx = info.context
        data = applications.ApplicationInput(website=input.website, channels=[c.value for c in input.channels],
                                             expected_clients=input.expected_clients, message=input.message)

        async def work() -> IbApplicationPayload:
            made = await ctx.transaction(lambda s: applications.apply(s, ctx.actor, ctx.actor.user_id or 0, data))
            return IbApplicationPayload(application=IbApplication.of(made))

        return await payload_or_errors(work, _application_errors)

    @declares_errors(
        "IB_APPLICATION_NOT_FOUND", "IB_NOT_FOUND", "IB_NOT_PENDING", "IB_PLAN_NOT_FOUND", "IB_PLAN_VERSION_OVERLAP",
        "IB_RETROACTIVE_NOT_ALLOWED", "INVALID_ID",
    )
    @strawberry.mutation(permission_classes=[Requires("ib.manage_network")],
                         description="Staff: approve an IB application under a parent, on a plan.")
    async def approve_ib_application(self, info: Ctx, input: ApproveIbApplicationInput) -> IbApplicationPayload:
        ctx = info.context

        async def fn(s: AsyncSession) -> applications.Application:
            parent = _id(input.parent_id, IbNotFound, "parentId") if input.parent_id is not None else None
            plan = _id(input.plan_id, PlanNotFound, "planId") if input.plan_id is not None else None
            return await applications.approve(s, ctx.actor, key_of(input.application_id, "IbApplication",
                                                                   field="applicationId"),
                                              parent_id=parent, plan_id=plan, reason=input.reason)

        async def work() -> IbApplicationPayload:
            return IbApplicationPayload(application=IbApplication.of(await ctx.transaction(fn)))

        return await payload_or_errors(work, _application_errors)

    @declares_errors("IB_APPLICATION_NOT_FOUND", "IB_NOT_PENDING", "INVALID_ID", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("ib.manage_network")],
                         description="Staff: reject an IB application with a reason the applicant sees.")
    async def reject_ib_application(self, info: Ctx, input: RejectIbApplicationInput) -> IbApplicationPayload:
        ctx = info.context

        async def fn(s: AsyncSession) -> applications.Application:
            return await applications.reject(s, ctx.actor, key_of(input.application_id, "IbApplication",
                                                                  field="applicationId"), reason=input.reason)

        async def work() -> IbApplicationPayload:
            return IbApplicationPayload(application=IbApplication.of(await ctx.transaction(fn)))

        return await payload_or_errors(work, _application_errors)

    @declares_errors("IB_NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[IsSignedInIb],
                         description="IB portal: a new referral link (its code is generated, unguessable).")
    async def create_my_ib_referral_link(self, info: Ctx, input: CreateMyIbReferralLinkInput) -> IbReferralLinkPayload:
        ctx = info.context
        spec = links.LinkSpec(input.name, links.LinkTarget(input.target),
                              {"utm_source": input.utm_source, "utm_medium": input.utm_medium,
                               "utm_campaign": input.utm_campaign, "utm_content": input.utm_content})

        async def fn(s: AsyncSession) -> links.Link:
            p = await portal.partner(s, ctx.actor.user_id)
            return await links.create(s, ctx.actor, p.ib_id, spec)

        async def work() -> IbReferralLinkPayload:
            return IbReferralLinkPayload(link=IbManagedLink.of(await ctx.transaction(fn),
                                                                 base=referral_base(ctx)))

        return await payload_or_errors(work, _link_errors)

    @declares_errors("IB_LINK_NOT_FOUND", "IB_NOT_FOUND", "INVALID_ID", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[IsSignedInIb], description="IB portal: rename one of your links.")
    async def rename_my_ib_referral_link(self, info: Ctx, input: RenameMyIbReferralLinkInput) -> IbReferralLinkPayload:
        ctx = info.context

        async def fn(s: AsyncSession, link: int) -> links.Link:
            p = await portal.partner(s, ctx.actor.user_id)
            return await links.rename(s, ctx.actor, p.ib_id, link, input.name)

        async def work() -> IbReferralLinkPayload:
            link = key_of(input.link_id, *LINK_TYPES, field="linkId")
            return IbReferralLinkPayload(link=IbManagedLink.of(await ctx.transaction(lambda s: fn(s, link)),
                                                                 base=referral_base(ctx)))

        return await payload_or_errors(work, _link_errors)

    @declares_errors("IB_LINK_DISABLED", "IB_LINK_NOT_FOUND", "IB_NOT_FOUND", "INVALID_ID")
    @strawberry.mutation(permission_classes=[IsSignedInIb],
                         description="IB portal: disable one of your links (it stops attributing and counting).")
    async def disable_my_ib_referral_link(self, info: Ctx,
                                          input: DisableMyIbReferralLinkInput) -> IbReferralLinkPayload:
        ctx = info.context

        async def fn(s: AsyncSession, link: int) -> links.Link:
            p = await portal.partner(s, ctx.actor.user_id)
            return await links.disable(s, ctx.actor, p.ib_id, link)

        async def work() -> IbReferralLinkPayload:
            link = key_of(input.link_id, *LINK_TYPES, field="linkId")
            return IbReferralLinkPayload(link=IbManagedLink.of(await ctx.transaction(lambda s: fn(s, link)),
                                                                 base=referral_base(ctx)))

        return await payload_or_errors(work, _link_errors)

    @declares_errors(
        "AMOUNT_PRECISION", "CONFLICT", "ENTRY_ALREADY_REVERSED", "IB_NOT_FOUND", "IDEMPOTENCY_IN_PROGRESS",
        "IDEMPOTENCY_KEY_REUSED", "INSUFFICIENT_FUNDS", "INVALID_AMOUNT", "UNBALANCED_ENTRY", "UNKNOWN_CURRENCY",
        "VALIDATION_FAILED",
    )
    @strawberry.mutation(permission_classes=[IsSignedInIb],
                         description="IB portal: ask for your payout now: your last closed cycle period, paid to your "
                                     "wallet (or held for review) as the 00:15 job would, with your minimum; a period "
                                     "that already ran is returned unchanged (`existing`), nothing due makes none. A "
                                     "repeat with the same idempotency key replays.")
    async def request_my_ib_payout(self, info: Ctx, input: RequestMyIbPayoutInput) -> IbPayoutRunPayload:
        ctx = info.context

        async def fn(s: AsyncSession) -> IbPayoutRun:
            key = idempotency.check_key(input.idempotency_key)
            p = await portal.partner(s, ctx.actor.user_id)
            claim = await idempotency.claim(s, scope=ctx.actor.label, key=key, operation=REQUEST_OPERATION,
                                            payload={"ib_id": p.ib_id})
            if not claim.fresh:
                stored = claim.result or {}
                return IbPayoutRun(
                    period_key=str(stored.get("period", "")), ibs=1,
                    created=[IbPayout.of(x) for x in await payouts_service.by_ids(s, stored.get("created", []))],
                    existing=[IbPayout.of(x) for x in await payouts_service.by_ids(s, stored.get("existing", []))],
                    replayed=True)
            run = await payouts_service.request_for_ib(s, ctx.actor, p.ib_id, now=utcnow())
            await idempotency.finish(s, scope=ctx.actor.label, key=key, result={
                "period": run.period_key, "created": [x.id for x in run.created],
                "existing": [x.id for x in run.existing]})
            return IbPayoutRun(period_key=run.period_key, ibs=1, created=[IbPayout.of(x) for x in run.created],
                               existing=[IbPayout.of(x) for x in run.existing], replayed=False)

        async def work() -> IbPayoutRunPayload:
            return IbPayoutRunPayload(run=await ctx.transaction(fn))

        return await payload_or_errors(work, _run_errors)

    @declares_errors(
        "AMOUNT_PRECISION", "CONFLICT", "ENTRY_ALREADY_REVERSED", "IB_NOT_FOUND", "IB_PAYOUT_CYCLE_MISMATCH",
        "IB_PAYOUT_PERIOD_INVALID", "IB_PAYOUT_PERIOD_NOT_CLOSED", "IDEMPOTENCY_IN_PROGRESS",
        "IDEMPOTENCY_KEY_REUSED", "INSUFFICIENT_FUNDS", "INVALID_AMOUNT", "UNBALANCED_ENTRY", "UNKNOWN_CURRENCY",
        "VALIDATION_FAILED",
    )
    @strawberry.mutation(permission_classes=[Requires("ib.payouts")],
                         description="Staff: run the payouts of a closed period now (what the 00:15 job does). A "
                                     "repeat with the same idempotency key replays; any second run of the period "
                                     "pays nothing again. Held payouts still need approveIbPayout.")
    async def run_ib_payouts(self, info: Ctx, input: RunIbPayoutsInput) -> IbPayoutRunPayload:
        ctx = info.context
        ib = _id(input.ib_id, IbNotFound, "ibId") if input.ib_id is not None else None
        payload = {"period": input.period.strip(), "ib_id": ib}

        async def fn(s: AsyncSession) -> IbPayoutRun:
            key = idempotency.check_key(input.idempotency_key)
            claim = await idempotency.claim(s, scope=ctx.actor.label, key=key, operation=RUN_OPERATION,
                                            payload=payload)
            if not claim.fresh:
                stored = claim.result or {}
                return IbPayoutRun(
                    period_key=str(stored.get("period", "")), ibs=int(stored.get("ibs", 0)),
                    created=[IbPayout.of(p) for p in await payouts_service.by_ids(s, stored.get("created", []))],
                    existing=[IbPayout.of(p) for p in await payouts_service.by_ids(s, stored.get("existing", []))],
                    replayed=True)
            run = await payouts_service.run_period(s, ctx.actor, input.period, now=utcnow(), ib_id=ib)
            await idempotency.finish(s, scope=ctx.actor.label, key=key, result={
                "period": run.period_key, "ibs": run.ibs, "created": [p.id for p in run.created],
                "existing": [p.id for p in run.existing]})
            return IbPayoutRun(period_key=run.period_key, ibs=run.ibs, created=[IbPayout.of(p) for p in run.created],
                               existing=[IbPayout.of(p) for p in run.existing], replayed=False)

        async def work() -> IbPayoutRunPayload:
            return IbPayoutRunPayload(run=await ctx.transaction(fn))

        return await payload_or_errors(work, _run_errors)
