"""GraphQL types of the IB context: partner (portal) views and staff inputs/payloads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.ib import disputes, links, plans, portal, reports
from domain.ib import payouts as payouts_service
from domain.ib.partners import PartnerRow
from domain.ib.plans import ClauseKind, Distribution, PlanSummary, Side
from domain.shared.money import at_scale
from schema.audit.types import DISPLAY_NAMES
from schema.errors import UserError
from schema.loaders import register_loader
from schema.node import DATABASE_ID_DOC, RAW_ID_NOTE, Node, global_id, optional_global_id
from schema.pagination import Connection, page_request, to_connection
from schema.scalars import Money


@strawberry.type(description="An amount in one currency.")
class IbAmount:
    currency: str
    amount: Money  # type: ignore[valid-type]


def amounts(values: dict[str, Decimal]) -> list[IbAmount]:
    return [IbAmount(currency=c, amount=at_scale(a, c)) for c, a in sorted(values.items())]


@strawberry.type(description="Contact data as this IB may see it: masked unless the brokerage allows it.")
class IbContact:
    name: str
    email: str
    phone: str
    masked: bool = strawberry.field(description="True when name, e-mail and phone are shown masked (the brokerage "
                                                "does not let this IB see its clients' contact data).")

    @classmethod
    def of(cls, c: portal.Contact) -> IbContact:
        return cls(name=c.name, email=c.email, phone=c.phone, masked=c.masked)


@strawberry.type(description="The signed-in IB's own settings.")
class IbPartnerProfile:
    ib_id: strawberry.ID
    visible_depth: int
    shows_client_pii: bool
    payout_cycle: str
    payout_min: Money  # type: ignore[valid-type]
    payout_hold: bool

    @classmethod
    def of(cls, p: portal.Partner) -> IbPartnerProfile:
        return cls(ib_id=strawberry.ID(str(p.ib_id)), visible_depth=p.visible_depth,
                   shows_client_pii=p.show_client_pii, payout_cycle=p.payout_cycle,
                   payout_min=p.payout_min.normalize(),  # one threshold for every currency: no scale of its own
                   payout_hold=p.payout_hold)


@strawberry.type(description="A sub-IB in your downline; depth 1 = your direct sub-IBs.")
class IbTreeMember(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC + " (the sub-IB's id, as ibId).")
    ib_id: strawberry.ID
    parent_id: strawberry.ID | None
    parent_member_id: strawberry.ID | None = strawberry.field(
        description="The parent's global id (IbTreeMember.id) when it is in your tree; null for your direct sub-IBs.")
    depth: int
    contact: IbContact
    clients: int
    joined_at: datetime | None

    @classmethod
    def of(cls, m: portal.TreeMember) -> IbTreeMember:
        return cls(id=global_id("IbTreeMember", m.ib_id), database_id=strawberry.ID(str(m.ib_id)),
                   ib_id=strawberry.ID(str(m.ib_id)),
                   parent_id=strawberry.ID(str(m.parent_id)) if m.parent_id is not None else None,
                   parent_member_id=optional_global_id("IbTreeMember", m.parent_id if m.depth > 1 else None),
                   depth=m.depth,
                   contact=IbContact.of(m.contact), clients=m.clients, joined_at=m.joined_at)


@strawberry.type(description="Your downline to the depth shown (never beyond your visible depth).")
class IbTree:
    visible_depth: int
    depth: int
    partner: strawberry.Private[portal.Partner]

    @strawberry.field(description="Your sub-IBs to `depth`, level by level.")
    async def members(self, info: strawberry.Info[Any, Any], first: int | None = None, after: str | None = None,
                      last: int | None = None, before: str | None = None) -> Connection[IbTreeMember]:
        req = page_request(info, first, after, last, before, decode=portal.decode_tree_cursor)
        async with info.context.session() as session:
            page = await portal.tree(session, self.partner, req, self.depth)
        return to_connection(page, IbTreeMember.of, portal.tree_key)


@strawberry.type(description="A client of your downline: status, lots traded, deposits; contact masked.")
class IbClient:
    client_id: strawberry.ID
    ib_id: strawberry.ID
    depth: int
    contact: IbContact
    status: str
    registered_at: datetime
    lots: Decimal
    deposits: list[IbAmount]

    @classmethod
    def of(cls, c: portal.ClientRow) -> IbClient:
        return cls(client_id=strawberry.ID(str(c.client_id)), ib_id=strawberry.ID(str(c.ib_id)), depth=c.depth,
                   contact=IbContact.of(c.contact), status=c.status, registered_at=c.registered_at, lots=c.lots,
                   deposits=amounts(c.deposits))


@strawberry.enum(description="How commissions are grouped.")
class IbCommissionGroupBy(Enum):
    DAY = "day"
    MONTH = "month"
    SYMBOL = "symbol"
    LEVEL = "level"
    CLIENT = "client"
    SOURCE = "source"


@strawberry.type(description="Net commissions (accruals, adjustments, clawbacks) of one group.")
class IbCommissionGroup:
    key: str
    currency: str
    amount: Money  # type: ignore[valid-type]
    lines: int
    lots: Decimal

    @classmethod
    def of(cls, g: portal.CommissionGroup) -> IbCommissionGroup:
        return cls(key=g.key, currency=g.currency, amount=at_scale(g.amount, g.currency), lines=g.lines, lots=g.lots)


@strawberry.type(description="One commission line of yours: what a deal (or a revenue-share period, a CPA) earned "
                               "you; myIbCommissionLine(lineId: databaseId) explains how it was computed.")
class IbCommissionLine(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    deal_time: datetime
    kind: str
    source: str
    level: int
    client_id: strawberry.ID | None = strawberry.field(
        description="The client whose deal it was; null below your visible depth.")
    symbol: str | None
    volume: Decimal | None = strawberry.field(description="Lots of the deal; null for lines without a deal.")
    amount: Money  # type: ignore[valid-type]
    currency: str
    formula: str

    @classmethod
    def of(cls, line: portal.CommissionLine) -> IbCommissionLine:
        return cls(id=global_id("IbCommissionLine", line.id), database_id=strawberry.ID(str(line.id)),
                   deal_time=line.deal_time, kind=line.kind, source=line.source, level=line.level,
                   client_id=strawberry.ID(str(line.client_id)) if line.client_id is not None else None,
                   symbol=line.symbol, volume=line.volume, amount=at_scale(line.amount, line.currency),
                   currency=line.currency, formula=line.formula)


VERSIONS_BY_PLAN = "IbPlanVersionsByPlanLoader"


@register_loader(VERSIONS_BY_PLAN)
async def _versions_by_plan(session: AsyncSession, keys: Sequence[int]) -> list[list[plans.PlanVersion]]:
    found = await plans.versions_of(session, list(keys))
    return [found[k] for k in keys]


def _plain(d: Decimal) -> str:
    """A stored rate as the decimal string staff typed (0.2000000000 -> 0.2), never in exponent form."""
    return format(d.normalize(), "f")


@strawberry.type(description="A clause of a plan version as stored: what it pays on, which deals it matches, the "
                             "rates entered (decimal strings) and what each level earns per unit, derived from them.")
class IbPlanClause:
    clause_no: int
    kind: IbClauseKind  # type: ignore[valid-type]
    level_rates: list[str]
    payout_rates: list[str] = strawberry.field(description="What level L (0 = the client's own IB) earns per unit.")
    base_rate: str
    max_total: str
    symbols: list[str] | None = strawberry.field(description="Symbol patterns (% and _ wildcards); null = all.")
    excluded_symbols: list[str]
    account_groups: list[str] | None = strawberry.field(description="Account group patterns; null = all.")
    side: IbSide  # type: ignore[valid-type]
    lot_modifier: str
    markup_pips: str = strawberry.field(description="Spread share: the markup built into the group's spread.")
    min_hold_seconds: int
    params: JSON = strawberry.field(description="CPA and revenue share settings as stored.")  # type: ignore[valid-type]

    @classmethod
    def of(cls, c: plans.StoredClause) -> IbPlanClause:
        return cls(clause_no=c.clause_no, kind=ClauseKind(c.kind), level_rates=[_plain(r) for r in c.level_rates],
                   payout_rates=[_plain(r) for r in c.payout_rates], base_rate=_plain(c.base_rate),
                   max_total=_plain(c.max_total), symbols=list(c.symbols) if c.symbols is not None else None,
                   excluded_symbols=list(c.excluded_symbols),
                   account_groups=list(c.account_groups) if c.account_groups is not None else None,
                   side=Side(c.side), lot_modifier=_plain(c.lot_modifier), markup_pips=_plain(c.markup_pips),
                   min_hold_seconds=c.min_hold_seconds, params=cast(JSON, c.params))


@strawberry.type(description="A version of a commission plan: in force during [validFrom, validTo), its clauses.")
class IbPlanVersion:
    database_id: strawberry.ID = strawberry.field(description="The version's id (what addIbPlanVersion returned).")
    version: int
    distribution: IbDistribution  # type: ignore[valid-type]
    valid_from: datetime
    valid_to: datetime | None = strawberry.field(description="None: in force until a successor starts.")
    created_by: int | None = strawberry.field(description="The staff member's user id who added it.")
    created_at: datetime
    clauses: list[IbPlanClause]

    @strawberry.field(description="The display name of the staff member who added it, now.")
    async def created_by_name(self, info: Info[Any, Any]) -> str | None:
        if self.created_by is None:
            return None
        name: str | None = await info.context.loaders.get(DISPLAY_NAMES).load(self.created_by)
        return name

    @classmethod
    def of(cls, v: plans.PlanVersion) -> IbPlanVersion:
        return cls(database_id=strawberry.ID(str(v.id)), version=v.version, distribution=Distribution(v.distribution),
                   valid_from=v.valid_from, valid_to=v.valid_to, created_by=v.created_by, created_at=v.created_at,
                   clauses=[IbPlanClause.of(c) for c in v.clauses])


@strawberry.type(description="A commission plan (staff with ib.read): its latest version and the IBs on it now.")
class IbPlan(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    name: str
    currency: str
    is_default: bool
    created_at: datetime
    latest_version: int | None = strawberry.field(description="The newest version's number; none before the first.")
    latest_valid_from: datetime | None = strawberry.field(description="When the newest version applies from.")
    current_ibs: int = strawberry.field(description="IBs assigned this plan now.")

    @strawberry.field(description="Every version of the plan, newest first, with its clauses (batched over a page "
                                  "of plans).")
    async def versions(self, info: Info[Any, Any]) -> list[IbPlanVersion]:
        found: list[plans.PlanVersion] = await info.context.loaders.get(VERSIONS_BY_PLAN).load(int(self.database_id))
        return [IbPlanVersion.of(v) for v in found]

    @classmethod
    def of(cls, p: PlanSummary) -> IbPlan:
        return cls(id=global_id("IbPlan", p.id), database_id=strawberry.ID(str(p.id)), name=p.name,
                   currency=p.currency, is_default=p.is_default, created_at=p.created_at,
                   latest_version=p.latest_version, latest_valid_from=p.latest_valid_from, current_ibs=p.current_ibs)


@strawberry.type(description="An IB as the back office lists them (staff with ib.read): who, its parent in the tree "
                             "and its plan now.")
class IbPartnerSummary:
    ib_id: strawberry.ID = strawberry.field(description="The IB's user id (what ibId arguments take).")
    name: str
    email: str
    status: str = strawberry.field(description="pending, approved, rejected or suspended.")
    parent_ib_id: strawberry.ID | None = strawberry.field(description="The parent IB's user id; none at the top.")
    plan_id: strawberry.ID | None = strawberry.field(description="The IbPlan's global id of the plan it is on now.")
    plan_name: str | None
    payout_hold: bool = strawberry.field(description="Its payouts are held for review.")
    applied_at: datetime

    @classmethod
    def of(cls, p: PartnerRow) -> IbPartnerSummary:
        return cls(ib_id=strawberry.ID(str(p.ib_id)), name=p.name, email=p.email, status=p.status,
                   parent_ib_id=strawberry.ID(str(p.parent_id)) if p.parent_id is not None else None,
                   plan_id=optional_global_id("IbPlan", p.plan_id), plan_name=p.plan_name,
                   payout_hold=p.payout_hold, applied_at=p.applied_at)


@strawberry.enum(description="Where a payout is: held for review, or paid to the IB's wallet.")
class IbPayoutStatus(Enum):
    HELD = "held"
    PAID = "paid"


@strawberry.type(description="A payout of an IB's payable to its wallet for one cycle period.")
class IbPayout(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    ib_id: strawberry.ID
    currency: str
    period_key: str
    amount: Money  # type: ignore[valid-type]
    status: str
    entry_id: strawberry.ID | None
    created_at: datetime
    paid_at: datetime | None

    @classmethod
    def of(cls, p: payouts_service.Payout) -> IbPayout:
        return cls(id=global_id("IbPayout", p.id), database_id=strawberry.ID(str(p.id)),
                   ib_id=strawberry.ID(str(p.ib_id)), currency=p.currency,
                   period_key=p.period_key, amount=at_scale(p.amount, p.currency), status=p.status,
                   entry_id=strawberry.ID(str(p.entry_id)) if p.entry_id is not None else None,
                   created_at=p.created_at, paid_at=p.paid_at)


@strawberry.type(description="A referral link and how it converts (registrations, then depositing clients).")
class IbReferralLink(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    code: str
    campaign: str
    clicks: int
    registrations: int
    depositors: int
    created_at: datetime

    @classmethod
    def of(cls, s: portal.LinkStats) -> IbReferralLink:
        return cls(id=global_id("IbReferralLink", s.id), database_id=strawberry.ID(str(s.id)), code=s.code,
                   campaign=s.campaign, clicks=s.clicks, registrations=s.registrations, depositors=s.depositors,
                   created_at=s.created_at)

    @classmethod
    def of_link(cls, s: links.LinkStats) -> IbReferralLink:
        """The same link and counts as read through the managed links (`node(id:)`)."""
        return cls.of(portal.LinkStats(s.link.id, s.link.code, s.link.campaign, s.link.clicks, s.registrations,
                                       s.first_deposits, s.link.created_at))


@strawberry.type(description="Staff: an IB's performance over a period.")
class IbPerformance:
    ib_id: strawberry.ID
    clients: int
    new_clients: int
    lots: Decimal
    deposits: list[IbAmount]
    commissions_paid: list[IbAmount]
    revenue_generated: list[IbAmount]
    cost_per_acquired_client: list[IbAmount]

    @classmethod
    def of(cls, p: reports.Performance) -> IbPerformance:
        return cls(ib_id=strawberry.ID(str(p.ib_id)), clients=p.clients, new_clients=p.new_clients, lots=p.lots,
                   deposits=amounts(p.deposits), commissions_paid=amounts(p.commissions_paid),
                   revenue_generated=amounts(p.revenue), cost_per_acquired_client=amounts(p.cost_per_client))


IbClauseKind = strawberry.enum(ClauseKind, name="IbClauseKind")
IbDistribution = strawberry.enum(Distribution, name="IbDistribution")
IbSide = strawberry.enum(Side, name="IbSide")


@strawberry.input
class CreateIbPlanInput:
    name: str
    currency: str
    is_default: bool = False


@strawberry.input(description="One clause; rates are decimal strings (\"0.2\" = 20% for share/percent plans).")
class IbClauseInput:
    kind: IbClauseKind  # type: ignore[valid-type]
    level_rates: list[str]
    base_rate: str = "1"
    max_total: str = "1"
    symbols: list[str] | None = None
    excluded_symbols: list[str] = strawberry.field(default_factory=list)
    account_groups: list[str] | None = None
    side: IbSide = Side.BOTH  # type: ignore[valid-type]
    lot_modifier: str = "1"
    markup_pips: str = "0"
    min_hold_seconds: int = 0
    params: JSON | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="CPA: minDeposit, depositDays, minLots, lotsDays (as min_deposit, ...); "
                                  "revenue share: cost_per_lot, carry_forward.")


@strawberry.input
class AddIbPlanVersionInput:
    plan_id: strawberry.ID
    distribution: IbDistribution  # type: ignore[valid-type]
    clauses: list[IbClauseInput]
    valid_from: datetime
    valid_to: datetime | None = None
    allow_retroactive: bool = False


@strawberry.input
class AssignIbPlanInput:
    ib_id: strawberry.ID
    plan_id: strawberry.ID
    effective_from: datetime
    reason: str = ""
    allow_retroactive: bool = False


@strawberry.input
class ApproveIbInput:
    ib_id: strawberry.ID
    parent_id: strawberry.ID | None = None


@strawberry.input
class MoveIbInput:
    ib_id: strawberry.ID
    new_parent_id: strawberry.ID | None
    effective_from: datetime
    reason: str
    allow_retroactive: bool = False


@strawberry.input
class ReassignIbClientInput:
    client_id: strawberry.ID
    ib_id: strawberry.ID
    effective_from: datetime
    reason: str
    allow_retroactive: bool = False


@strawberry.input
class UpdateIbSettingsInput:
    ib_id: strawberry.ID
    visible_depth: int | None = None
    show_client_pii: bool | None = None
    payout_cycle: str | None = None
    payout_min: Money | None = None  # type: ignore[valid-type]
    payout_hold: bool | None = None


@strawberry.input
class ApproveIbPayoutInput:
    payout_id: strawberry.ID = strawberry.field(description=RAW_ID_NOTE)
    reason: str = ""


@strawberry.type(description="Result of an IB management mutation; `id` is what was created, when anything was.")
class IbChangePayload:
    ok: bool = False
    id: strawberry.ID | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class IbPayoutsPayload:
    payouts: list[IbPayout] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="A dispute on a commission line or a period, with the explanation as it was when opened.")
class IbDispute(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    ib_id: strawberry.ID
    line_id: strawberry.ID | None
    period_from: datetime | None
    period_to: datetime | None
    reason: str
    explanation: JSON  # type: ignore[valid-type]
    status: str
    resolution: str | None
    adjustment_line_id: strawberry.ID | None
    created_at: datetime
    resolved_at: datetime | None

    @classmethod
    def of(cls, d: disputes.Dispute) -> IbDispute:
        def opt(v: int | None) -> strawberry.ID | None:
            return strawberry.ID(str(v)) if v is not None else None

        return cls(id=global_id("IbDispute", d.id), database_id=strawberry.ID(str(d.id)),
                   ib_id=strawberry.ID(str(d.ib_id)), line_id=opt(d.line_id),
                   period_from=d.period_from, period_to=d.period_to, reason=d.reason,
                   explanation=d.explanation,  # type: ignore[arg-type]
                   status=d.status, resolution=d.resolution, adjustment_line_id=opt(d.adjustment_line_id),
                   created_at=d.created_at, resolved_at=d.resolved_at)


@strawberry.input(description="Dispute one of your lines (lineId) or a period (since, until).")
class OpenMyIbDisputeInput:
    reason: str
    line_id: strawberry.ID | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.input(description="Staff: open a dispute for an IB on one of its lines or a period.")
class OpenIbDisputeInput:
    ib_id: strawberry.ID
    reason: str
    line_id: strawberry.ID | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.input(description="Accept with a non-zero adjustment (currency defaults to the line's) or reject.")
class ResolveIbDisputeInput:
    dispute_id: strawberry.ID = strawberry.field(description=RAW_ID_NOTE)
    accept: bool
    reason: str
    adjustment: Money | None = None  # type: ignore[valid-type]
    currency: str | None = None


@strawberry.input(description="Staff: claw back the CPA paid for a client (fraud), with a reason.")
class ClawbackIbCpaInput:
    client_id: strawberry.ID
    reason: str


@strawberry.type
class IbDisputePayload:
    dispute: IbDispute | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
