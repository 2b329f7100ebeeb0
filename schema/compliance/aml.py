"""Transaction monitoring (domain/compliance/aml): scenarios as data with versions and four-eyes
activation, test runs over history beside the live version, decisions with their explanation, cases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.compliance import screening
from domain.compliance.aml import cases, scenarios, scope, templates
from domain.compliance.aml.test_runs import RunResult
from domain.identity import roles
from domain.shared.actor import ActorKind
from domain.shared.errors import NotFound
from domain.shared.pagination import decode_id_cursor
from schema.clients.ids import client_id_of
from schema.clients.types import ScreeningHit
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.node import DATABASE_ID_DOC, AnyId, Node, global_id, key_of, node_type, optional_global_id, query_key
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires

if TYPE_CHECKING:
    from schema.compliance.case_attachments import AmlCaseAttachment
    from schema.compliance.reports import AmlReport

Ctx = Info[Context, Any]
T = TypeVar("T")
P = TypeVar("P")
READ, MANAGE, REVIEW = "compliance.read", "compliance.manage", "compliance.review"


@strawberry.enum
class AmlOutcome(Enum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"
    DECLINE = "decline"


@strawberry.enum
class AmlCaseStatus(Enum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    ESCALATED = "escalated"
    CLOSED = "closed"


@strawberry.enum
class AmlCaseOutcome(Enum):
    FALSE_POSITIVE = "false_positive"
    VALUABLE_ALERT = "valuable_alert"
    RISK_CONFIRMED = "risk_confirmed"


@strawberry.enum
class AmlActivationStatus(Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


def _plain(v: Decimal) -> str:
    """A decimal without trailing zeros and never in exponent form (60, not 6E+1)."""
    return format(v.normalize(), "f")


def _id(v: int | None) -> strawberry.ID | None:
    return strawberry.ID(str(v)) if v is not None else None


@strawberry.type(description="A committed (immutable) version or the draft of a scenario: its rule document.")
class AmlScenarioVersion(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    scenario_id: strawberry.ID = strawberry.field(description="The scenario's global id (AmlScenario.id).")
    version: int | None = strawberry.field(description="The version number; null for the draft.")
    status: str = strawberry.field(description="draft or committed.")
    document: JSON
    created_by_id: strawberry.ID | None = strawberry.field(description="The staff user's global id.")
    created_at: dt.datetime
    committed_at: dt.datetime | None

    @classmethod
    def of(cls, v: scenarios.ScenarioVersion) -> AmlScenarioVersion:
        return cls(id=global_id("AmlScenarioVersion", v.id), database_id=strawberry.ID(str(v.id)),
                   scenario_id=global_id("AmlScenario", v.scenario_id), version=v.version, status=v.status,
                   document=cast(JSON, v.document), created_by_id=optional_global_id("StaffUser", v.created_by),
                   created_at=v.created_at, committed_at=v.committed_at)


@strawberry.type(description="A monitoring scenario: scored rules over an event and the client's history.")
class AmlScenario(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    name: str
    description: str
    team: str = strawberry.field(description="The inbox its alerts' cases go to.")
    live_version_id: strawberry.ID | None = strawberry.field(description="The live version's global id.")
    created_at: dt.datetime

    @strawberry.field(description="The draft, if any.")
    async def draft(self, info: Ctx) -> AmlScenarioVersion | None:
        async with info.context.session() as session:
            found = await scenarios.draft_of(session, int(self.database_id))
        return AmlScenarioVersion.of(found) if found else None

    @strawberry.field(description="Versions (draft and committed), newest first.")
    async def versions(self, info: Ctx, first: int | None = None, after: str | None = None, last: int | None = None,
                       before: str | None = None) -> Connection[AmlScenarioVersion]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await scenarios.list_versions(session, int(self.database_id), req)
        return to_connection(page, AmlScenarioVersion.of, lambda v: (v.created_at, v.id))

    @classmethod
    def of(cls, s: scenarios.Scenario) -> AmlScenario:
        return cls(id=global_id("AmlScenario", s.id), database_id=strawberry.ID(str(s.id)), name=s.name,
                   description=s.description, team=s.team,
                   live_version_id=optional_global_id("AmlScenarioVersion", s.live_version_id), created_at=s.created_at)


@strawberry.type(description="A request to make a committed version live, approved by a second staff member.")
class AmlActivationRequest(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    scenario_id: strawberry.ID
    version_id: strawberry.ID
    requested_by_id: strawberry.ID
    reason: str
    status: AmlActivationStatus
    decided_by_id: strawberry.ID | None
    decision_reason: str | None
    created_at: dt.datetime
    decided_at: dt.datetime | None

    @classmethod
    def of(cls, r: scenarios.ActivationRequest) -> AmlActivationRequest:
        return cls(id=global_id("AmlActivationRequest", r.id), database_id=strawberry.ID(str(r.id)),
                   scenario_id=global_id("AmlScenario", r.scenario_id),
                   version_id=global_id("AmlScenarioVersion", r.version_id),
                   requested_by_id=global_id("StaffUser", r.requested_by), reason=r.reason,
                   status=AmlActivationStatus(r.status), decided_by_id=optional_global_id("StaffUser", r.decided_by),
                   decision_reason=r.decision_reason, created_at=r.created_at, decided_at=r.decided_at)


@strawberry.type(description="One rule's part in a decision: whether it hit, what it added, the values it read.")
class AmlRuleExplanation:
    rule: str
    hit: bool
    score: str
    values: JSON


@strawberry.type(description="What a live scenario decided on an event, and why (each rule's values).")
class AmlDecision(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    scenario_id: strawberry.ID
    version_id: strawberry.ID
    user_id: strawberry.ID = strawberry.field(description="The client's user id.")
    trigger: str
    payment_id: strawberry.ID | None = strawberry.field(description="The payment's global id (Payment.id).")
    subject: str | None = strawberry.field(description=(
        "What the decision is about: payment:<id>, transfer:<id>, wallet_transfer:<entry>, exchange:<entry>, "
        "deal_batch:<batch>:<user>, client:<id>, session:<id> or schedule:<date>."))
    event: JSON
    score: str
    outcome: AmlOutcome
    explain: list[AmlRuleExplanation]
    hold_status: str | None = strawberry.field(description="held, released or declined; null when nothing was held.")
    case_id: strawberry.ID | None = strawberry.field(description="The case's global id (AmlCase.id).")
    created_at: dt.datetime

    @classmethod
    def of(cls, d: cases.Decision) -> AmlDecision:
        return cls(id=global_id("AmlDecision", d.id), database_id=strawberry.ID(str(d.id)),
                   scenario_id=global_id("AmlScenario", d.scenario_id),
                   version_id=global_id("AmlScenarioVersion", d.version_id), user_id=strawberry.ID(str(d.user_id)),
                   trigger=d.trigger, payment_id=optional_global_id("Payment", d.payment_id), subject=d.subject,
                   event=cast(JSON, d.event), score=_plain(d.score), outcome=AmlOutcome(d.outcome),
                   explain=[AmlRuleExplanation(rule=e["rule"], hit=e["hit"], score=e["score"],
                                               values=cast(JSON, e["values"])) for e in d.explain],
                   hold_status=d.hold_status, case_id=optional_global_id("AmlCase", d.case_id),
                   created_at=d.created_at)


@strawberry.type(description="A note on a case.")
class AmlCaseNote(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    case_id: strawberry.ID
    author_id: strawberry.ID | None = strawberry.field(description="The staff member who wrote it; null when the "
                                                       "system did (a screening hit behind the case was delisted).")
    body: str
    created_at: dt.datetime

    @classmethod
    def of(cls, n: cases.Note) -> AmlCaseNote:
        return cls(id=global_id("AmlCaseNote", n.id), database_id=strawberry.ID(str(n.id)),
                   case_id=global_id("AmlCase", n.case_id), author_id=optional_global_id("StaffUser", n.author_id),
                   body=n.body, created_at=n.created_at)


@strawberry.type(description="A staff member a case may be assigned to (amlAssignableStaff).")
class AmlAssignee:
    id: strawberry.ID = strawberry.field(description="The staff member's global id (StaffUser.id), what "
                                                     "assignAmlCase's assigneeId takes.")
    display_name: str


@strawberry.type(description="A client's monitoring case in one team's inbox: its alerts, notes, files and outcome.")
class AmlCase(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    user_id: strawberry.ID = strawberry.field(description="The client's user id.")
    team: str
    status: AmlCaseStatus
    assignee_id: strawberry.ID | None = strawberry.field(description="The assignee's global id (StaffUser.id).")
    outcome: AmlCaseOutcome | None
    closing_note: str | None
    alert_count: int
    sla_due_at: dt.datetime
    sla_breached: bool = strawberry.field(description="Still open after its SLA (or closed after it).")
    opened_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None

    @strawberry.field(description="The client's global id (Client360.id) of userId; null for a user without a "
                                  "client record.")
    async def client_id(self, info: Ctx) -> strawberry.ID | None:
        found = await client_id_of(info, self.user_id)
        return global_id("Client360", int(found)) if found is not None else None

    @strawberry.field(description="The case's alerts, newest first.")
    async def alerts(self, info: Ctx, first: int | None = None, after: str | None = None, last: int | None = None,
                     before: str | None = None) -> Connection[AmlDecision]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await cases.list_decisions(session, cases.DecisionFilter(case_id=int(self.database_id)), req)
        return to_connection(page, AmlDecision.of, lambda d: (d.created_at, d.id))

    @strawberry.field(description="The screening hits (possible sanctions or PEP matches) that opened or joined the "
                                  "case, oldest first.")
    async def screening_hits(self, info: Ctx, first: int | None = None, after: str | None = None,
                             last: int | None = None, before: str | None = None) -> Connection[ScreeningHit]:
        req = page_request(info, first, after, last, before, decode=decode_id_cursor)
        async with info.context.session() as session:
            page = await screening.for_case(session, int(self.database_id), req)
        return to_connection(page, ScreeningHit.from_row, lambda r: (r.id,))

    @strawberry.field(description="Notes, oldest first.")
    async def notes(self, info: Ctx, first: int | None = None, after: str | None = None, last: int | None = None,
                    before: str | None = None) -> Connection[AmlCaseNote]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await cases.list_notes(session, int(self.database_id), req)
        return to_connection(page, AmlCaseNote.of, lambda n: (n.created_at, n.id))

    @strawberry.field(description="Files attached to the case, oldest first (at most 200).")
    async def attachments(self, info: Ctx) -> list[
            Annotated[AmlCaseAttachment, strawberry.lazy("schema.compliance.case_attachments")]]:
        from schema.compliance.case_attachments import case_attachments

        return await case_attachments(info, int(self.database_id))

    @strawberry.field(permission_classes=[Requires("compliance.reports")],
                      description="The suspicious transaction reports built from this case, oldest first.")
    async def reports(self, info: Ctx, first: int | None = None, after: str | None = None, last: int | None = None,
                      before: str | None = None
                      ) -> Connection[Annotated[AmlReport, strawberry.lazy("schema.compliance.reports")]]:
        from schema.compliance.reports import case_reports

        return await case_reports(info, int(self.database_id), first, after, last, before)

    @classmethod
    def of(cls, c: cases.Case) -> AmlCase:
        now = dt.datetime.now(dt.UTC)
        breached = (c.closed_at or now) > c.sla_due_at
        return cls(id=global_id("AmlCase", c.id), database_id=strawberry.ID(str(c.id)),
                   user_id=strawberry.ID(str(c.user_id)), team=c.team, status=AmlCaseStatus(c.status),
                   assignee_id=optional_global_id("StaffUser", c.assignee_id),
                   outcome=AmlCaseOutcome(c.outcome) if c.outcome else None, closing_note=c.closing_note,
                   alert_count=c.alert_count, sla_due_at=c.sla_due_at, sla_breached=breached, opened_at=c.opened_at,
                   updated_at=c.updated_at, closed_at=c.closed_at)


@strawberry.type
class AmlOutcomeCounts:
    allow: int
    review: int
    block: int
    decline: int


@strawberry.type(description="A payment the draft or the live version would have raised.")
class AmlTestRunHit:
    payment_id: strawberry.ID
    user_id: strawberry.ID
    at: dt.datetime
    amount: str
    currency: str
    direction: str
    draft_score: str
    draft_outcome: AmlOutcome
    live_score: str | None
    live_outcome: AmlOutcome | None
    draft_rules: list[str]


@strawberry.type(description="The draft over a period of history beside the live version.")
class AmlTestRun:
    evaluated: int
    draft: AmlOutcomeCounts
    live: AmlOutcomeCounts | None
    hits: list[AmlTestRunHit] = strawberry.field(description="In time order, at most 500 (hitsTruncated says more).")
    hits_truncated: bool
    seconds: float

    @classmethod
    def of(cls, r: RunResult) -> AmlTestRun:
        def counts(c: dict[str, int] | None) -> AmlOutcomeCounts | None:
            return AmlOutcomeCounts(**c) if c is not None else None

        def dec(v: Decimal | None) -> str | None:
            return _plain(v) if v is not None else None

        draft = counts(r.draft_counts)
        assert draft is not None
        return cls(evaluated=r.evaluated, draft=draft, live=counts(r.live_counts), hits=[
            AmlTestRunHit(payment_id=global_id("Payment", h.payment_id), user_id=strawberry.ID(str(h.user_id)), at=h.at,
                          amount=_plain(h.amount), currency=h.currency, direction=h.direction,
                          draft_score=_plain(h.draft_score), draft_outcome=AmlOutcome(h.draft_outcome),
                          live_score=dec(h.live_score),
                          live_outcome=AmlOutcome(h.live_outcome) if h.live_outcome else None,
                          draft_rules=h.draft_rules) for h in r.hits],
            hits_truncated=r.hits_truncated, seconds=round(r.seconds, 3))


@strawberry.type
class AmlScenarioPayload:
    scenario: AmlScenario | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AmlScenarioVersionPayload:
    version: AmlScenarioVersion | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AmlActivationPayload:
    request: AmlActivationRequest | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AmlTestRunPayload:
    run: AmlTestRun | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AmlList:
    name: str
    entries: list[str]
    updated_at: dt.datetime


@strawberry.type
class AmlListPayload:
    aml_list: AmlList | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AmlCasePayload:
    case: AmlCase | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AmlCaseNotePayload:
    note: AmlCaseNote | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AmlDecisionPayload:
    decision: AmlDecision | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


# --- node loaders ----------------------------------------------------------------------------------------


def _reader(ctx: Context) -> bool:
    return ctx.actor.kind is ActorKind.STAFF and ctx.actor.has(READ)


def _loader(fetch: Callable[[AsyncSession, list[int]], Awaitable[dict[int, Any]]],
            convert: Callable[[Any], Any], *, owner: str | None = None,
            reader: Callable[[Context], bool] | None = None,
            ) -> Callable[[Context, Sequence[int]], Awaitable[list[Any]]]:
    """Node loading for staff with compliance.read (or `reader`); with `owner` ("user_id": the object's own
    client, "case_id": its case's client) desk-scoped as well (domain/compliance/aml/scope.py)."""
    allowed = reader or _reader

    async def load(ctx: Context, keys: Sequence[int]) -> list[Any]:
        if not allowed(ctx):
            return [None] * len(keys)
        async with ctx.session() as session:
            found = await fetch(session, list(keys))
            if owner is not None and found:
                if owner == "case_id":
                    users = await scope.case_users(session, {r.case_id for r in found.values()})
                    user_of = {k: users.get(r.case_id) for k, r in found.items()}
                else:
                    user_of = {k: r.user_id for k, r in found.items()}
                seen = await scope.visible_users(session, ctx.actor, {u for u in user_of.values() if u is not None})
                found = {k: r for k, r in found.items() if user_of[k] in seen}
        return [convert(r) if (r := found.get(k)) else None for k in keys]

    return load


node_type("AmlScenario")(_loader(scenarios.scenarios_by_ids, AmlScenario.of))
node_type("AmlScenarioVersion")(_loader(scenarios.versions_by_ids, AmlScenarioVersion.of))
node_type("AmlActivationRequest")(_loader(scenarios.activations_by_ids, AmlActivationRequest.of))
node_type("AmlCase")(_loader(cases.cases_by_ids, AmlCase.of, owner="user_id"))
node_type("AmlDecision")(_loader(cases.decisions_by_ids, AmlDecision.of, owner="user_id"))
node_type("AmlCaseNote")(_loader(cases.notes_by_ids, AmlCaseNote.of, owner="case_id"))


@strawberry.type(description="A scenario template: a rule document to start a scenario from and tune.")
class AmlTemplate:
    key: str
    title: str
    description: str
    document: JSON


# --- queries ---------------------------------------------------------------------------------------------


@strawberry.type
class AmlQueries:
    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Scenario templates for what brokers see (a fixed, short catalogue).")
    def aml_templates(self) -> list[AmlTemplate]:
        return [AmlTemplate(key=t.key, title=t.title, description=t.description, document=cast(JSON, t.document))
                for t in templates.TEMPLATES]

    @strawberry.field(permission_classes=[Requires(READ)], description="Monitoring scenarios, oldest first.")
    async def aml_scenarios(self, info: Ctx, first: int | None = None, after: str | None = None,
                            last: int | None = None, before: str | None = None) -> Connection[AmlScenario]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await scenarios.list_scenarios(session, req)
        return to_connection(page, AmlScenario.of, lambda s: (s.created_at, s.id))

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Activation requests (pending: awaiting a second staff member), oldest first.")
    async def aml_activation_requests(self, info: Ctx, status: AmlActivationStatus | None = None,
                                      first: int | None = None, after: str | None = None, last: int | None = None,
                                      before: str | None = None) -> Connection[AmlActivationRequest]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await scenarios.list_activations(session, status.value if status else None, req)
        return to_connection(page, AmlActivationRequest.of, lambda r: (r.created_at, r.id))

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Whom a case may be assigned to: the active staff members holding "
                                  "compliance.review (the permission that works cases), by name; their id and "
                                  "display name only, so compliance needs no staff.manage to pick one.")
    async def aml_assignable_staff(self, info: Ctx) -> list[AmlAssignee]:
        async with info.context.read() as session:
            found = await roles.active_staff_holding(session, REVIEW)
        return [AmlAssignee(id=global_id("StaffUser", i), display_name=name) for i, name in found]

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Cases, oldest first: a team's inbox, by status, assignee, client, or overdue.")
    async def aml_cases(self, info: Ctx, team: str | None = None, status: list[AmlCaseStatus] | None = None,
                        assignee_id: AnyId | None = None, user_id: strawberry.ID | None = None, overdue: bool = False,
                        first: int | None = None, after: str | None = None, last: int | None = None,
                        before: str | None = None) -> Connection[AmlCase]:
        req = page_request(info, first, after, last, before)
        criteria = cases.CaseFilter(
            team=team, statuses=tuple(s.value for s in status or ()),
            assignee_id=query_key(assignee_id, "StaffUser", field="assigneeId") if assignee_id is not None else None,
            user_id=query_key(user_id, "StaffUser", field="userId") if user_id is not None else None, overdue=overdue,
            visible_to=info.context.actor)
        async with info.context.session() as session:
            page = await cases.list_cases(session, criteria, req)
        return to_connection(page, AmlCase.of, lambda c: (c.opened_at, c.id))

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Monitoring decisions newest first, with their explanations: a client's timeline "
                                  "(userId, alertsOnly), a case's alerts, a payment's decisions.")
    async def aml_decisions(self, info: Ctx, user_id: strawberry.ID | None = None, case_id: AnyId | None = None,
                            payment_id: AnyId | None = None, alerts_only: bool = False, first: int | None = None,
                            after: str | None = None, last: int | None = None,
                            before: str | None = None) -> Connection[AmlDecision]:
        req = page_request(info, first, after, last, before)
        criteria = cases.DecisionFilter(
            user_id=query_key(user_id, "StaffUser", field="userId") if user_id is not None else None,
            case_id=query_key(case_id, "AmlCase", field="caseId") if case_id is not None else None,
            payment_id=query_key(payment_id, "Payment", field="paymentId") if payment_id is not None else None,
            alerts_only=alerts_only, visible_to=info.context.actor)
        async with info.context.session() as session:
            page = await cases.list_decisions(session, criteria, req)
        return to_connection(page, AmlDecision.of, lambda d: (d.created_at, d.id))


# --- mutations -------------------------------------------------------------------------------------------


async def _run(info: Ctx, fn: Callable[[AsyncSession], Awaitable[T]], wrap: Callable[[T], P],
               empty: Callable[[list[UserError]], P]) -> P:
    ctx = info.context

    async def work() -> P:
        return wrap(await ctx.transaction(fn))

    return await payload_or_errors(work, empty)


DOC_ERRORS = ("INVALID_RULE_DOCUMENT", "VALIDATION_FAILED")


@strawberry.type
class AmlMutations:
    @declares_errors(*DOC_ERRORS, "SCENARIO_NAME_TAKEN")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Create a scenario with its first draft (the rule document, checked node by "
                                     "node: every bad node is one INVALID_RULE_DOCUMENT error naming its path).")
    async def create_aml_scenario(self, info: Ctx, name: str, document: JSON, team: str = "compliance",
                                  description: str = "") -> AmlScenarioPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> scenarios.Scenario:
            scenario, _ = await scenarios.create_scenario(session, actor, name=name, description=description,
                                                          team=team, document=document)
            return scenario

        return await _run(info, txn, lambda s: AmlScenarioPayload(scenario=AmlScenario.of(s)),
                          lambda e: AmlScenarioPayload(errors=e))

    @declares_errors(*DOC_ERRORS, "INVALID_ID", "SCENARIO_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Replace the scenario's draft (or start one); nothing is kept when invalid.")
    async def save_aml_draft(self, info: Ctx, scenario_id: AnyId, document: JSON) -> AmlScenarioVersionPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> scenarios.ScenarioVersion:
            key = key_of(scenario_id, "AmlScenario", field="scenarioId")
            return await scenarios.save_draft(session, actor, key, document)

        return await _run(info, txn, lambda v: AmlScenarioVersionPayload(version=AmlScenarioVersion.of(v)),
                          lambda e: AmlScenarioVersionPayload(errors=e))

    @declares_errors(*DOC_ERRORS, "INVALID_ID", "NO_DRAFT", "SCENARIO_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="The draft becomes the next numbered, immutable version.")
    async def commit_aml_draft(self, info: Ctx, scenario_id: AnyId) -> AmlScenarioVersionPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> scenarios.ScenarioVersion:
            key = key_of(scenario_id, "AmlScenario", field="scenarioId")
            return await scenarios.commit_draft(session, actor, key)

        return await _run(info, txn, lambda v: AmlScenarioVersionPayload(version=AmlScenarioVersion.of(v)),
                          lambda e: AmlScenarioVersionPayload(errors=e))

    @declares_errors(*DOC_ERRORS, "INVALID_ID", "NO_DRAFT", "SCENARIO_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Score every payment of [since, until) with the draft (or `document`, unsaved) "
                                     "beside the live version: what each would have raised. Changes nothing. A "
                                     "document with neither the deposit nor the withdrawal trigger is refused.")
    async def run_aml_test(self, info: Ctx, scenario_id: AnyId, since: dt.datetime, until: dt.datetime,
                           document: JSON | None = None) -> AmlTestRunPayload:
        async def txn(session: AsyncSession) -> RunResult:
            key = key_of(scenario_id, "AmlScenario", field="scenarioId")
            return await scenarios.test_run(session, key, since=since, until=until, document=document)

        return await _run(info, txn, lambda r: AmlTestRunPayload(run=AmlTestRun.of(r)),
                          lambda e: AmlTestRunPayload(errors=e))

    @declares_errors("ACTIVATION_ALREADY_PENDING", "INVALID_ID", "SCENARIO_NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Ask for a committed version to go live; a second staff member approves.")
    async def request_aml_activation(self, info: Ctx, scenario_id: AnyId, version: int,
                                     reason: str) -> AmlActivationPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> scenarios.ActivationRequest:
            key = key_of(scenario_id, "AmlScenario", field="scenarioId")
            return await scenarios.request_activation(session, actor, key, version, reason)

        return await _run(info, txn, lambda r: AmlActivationPayload(request=AmlActivationRequest.of(r)),
                          lambda e: AmlActivationPayload(errors=e))

    @declares_errors("ACTIVATION_NOT_FOUND", "ACTIVATION_NOT_PENDING", "FOUR_EYES_RELATED_APPROVER", "INVALID_ID",
                     "SCENARIO_NOT_FOUND", "SELF_APPROVAL_FORBIDDEN")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Approve an activation (not its requester, nor someone related to them): the "
                                     "version goes live.")
    async def approve_aml_activation(self, info: Ctx, request_id: AnyId) -> AmlActivationPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> scenarios.ActivationRequest:
            key = key_of(request_id, "AmlActivationRequest", field="requestId")
            return await scenarios.approve_activation(session, actor, key)

        return await _run(info, txn, lambda r: AmlActivationPayload(request=AmlActivationRequest.of(r)),
                          lambda e: AmlActivationPayload(errors=e))

    @declares_errors("ACTIVATION_NOT_FOUND", "ACTIVATION_NOT_PENDING", "INVALID_ID", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)], description="Reject an activation, with a reason.")
    async def reject_aml_activation(self, info: Ctx, request_id: AnyId, reason: str) -> AmlActivationPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> scenarios.ActivationRequest:
            key = key_of(request_id, "AmlActivationRequest", field="requestId")
            return await scenarios.reject_activation(session, actor, key, reason)

        return await _run(info, txn, lambda r: AmlActivationPayload(request=AmlActivationRequest.of(r)),
                          lambda e: AmlActivationPayload(errors=e))

    @declares_errors("INVALID_ID", "SCENARIO_NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Take a scenario off (no version live), with a reason.")
    async def deactivate_aml_scenario(self, info: Ctx, scenario_id: AnyId, reason: str) -> AmlScenarioPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> scenarios.Scenario:
            key = key_of(scenario_id, "AmlScenario", field="scenarioId")
            return await scenarios.deactivate(session, actor, key, reason)

        return await _run(info, txn, lambda s: AmlScenarioPayload(scenario=AmlScenario.of(s)),
                          lambda e: AmlScenarioPayload(errors=e))

    @declares_errors("VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Set a custom list's entries (rules read it with in_list / country_in_list).")
    async def set_aml_list(self, info: Ctx, name: str, entries: list[str]) -> AmlListPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> scenarios.CustomList:
            return await scenarios.set_list(session, actor, name, entries)

        return await _run(info, txn, lambda r: AmlListPayload(aml_list=AmlList(name=r.name, entries=r.entries,
                                                                           updated_at=r.updated_at)),
                          lambda e: AmlListPayload(errors=e))

    @declares_errors("CASE_CLOSED", "CASE_NOT_FOUND", "INVALID_ID", "NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(REVIEW)],
                         description="Assign a case to a staff member (null: unassign).")
    async def assign_aml_case(self, info: Ctx, case_id: AnyId, assignee_id: AnyId | None = None) -> AmlCasePayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> cases.Case:
            key = key_of(case_id, "AmlCase", field="caseId")
            who = key_of(assignee_id, "StaffUser", field="assigneeId") if assignee_id is not None else None
            await scope.require_case(session, actor, key)
            return await cases.assign(session, actor, key, who)

        return await _run(info, txn, lambda c: AmlCasePayload(case=AmlCase.of(c)), lambda e: AmlCasePayload(errors=e))

    @declares_errors("CASE_CLOSED", "CASE_NOT_FOUND", "INVALID_ID", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REVIEW)],
                         description="Move an open case between open, investigating and escalated.")
    async def set_aml_case_status(self, info: Ctx, case_id: AnyId, status: AmlCaseStatus) -> AmlCasePayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> cases.Case:
            key = key_of(case_id, "AmlCase", field="caseId")
            await scope.require_case(session, actor, key)
            return await cases.set_status(session, actor, key, status.value)

        return await _run(info, txn, lambda c: AmlCasePayload(case=AmlCase.of(c)), lambda e: AmlCasePayload(errors=e))

    @declares_errors("CASE_CLOSED", "CASE_NOT_FOUND", "INVALID_ID", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REVIEW)], description="Add a note to an open case.")
    async def add_aml_case_note(self, info: Ctx, case_id: AnyId, body: str) -> AmlCaseNotePayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> cases.Note:
            key = key_of(case_id, "AmlCase", field="caseId")
            await scope.require_case(session, actor, key)
            return await cases.add_note(session, actor, key, body)

        return await _run(info, txn, lambda n: AmlCaseNotePayload(note=AmlCaseNote.of(n)),
                          lambda e: AmlCaseNotePayload(errors=e))

    @declares_errors("CASE_CLOSED", "CASE_NOT_FOUND", "DECISION_NOT_HELD", "INVALID_ID", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REVIEW)],
                         description="Close a case with its outcome and a note (its held payments decided first).")
    async def close_aml_case(self, info: Ctx, case_id: AnyId, outcome: AmlCaseOutcome, note: str) -> AmlCasePayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> cases.Case:
            key = key_of(case_id, "AmlCase", field="caseId")
            await scope.require_case(session, actor, key)
            return await cases.close(session, actor, key, outcome.value, note)

        return await _run(info, txn, lambda c: AmlCasePayload(case=AmlCase.of(c)), lambda e: AmlCasePayload(errors=e))

    @declares_errors("DECISION_NOT_HELD", "HOLD_NOT_ACTIVE", "INVALID_ID", "NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REVIEW)],
                         description="Release what a decision holds: the withdrawal may be approved again, a held "
                                     "deposit's money is available again, a held transfer goes on to the trading "
                                     "account.")
    async def release_aml_hold(self, info: Ctx, decision_id: AnyId, reason: str) -> AmlDecisionPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> cases.Decision:
            key = key_of(decision_id, "AmlDecision", field="decisionId")
            await scope.require_decision(session, actor, key, NotFound("no such decision", field="decisionId"))
            return await cases.release(session, actor, key, reason)

        return await _run(info, txn, lambda d: AmlDecisionPayload(decision=AmlDecision.of(d)),
                          lambda e: AmlDecisionPayload(errors=e))

    @declares_errors("DECISION_NOT_HELD", "HOLD_NOT_ACTIVE", "INVALID_ID", "NOT_FOUND", "PAYMENT_INVALID_TRANSITION",
                     "PAYMENT_NOT_FOUND", "VALIDATION_FAILED", "WITHDRAWAL_NOT_AWAITING_APPROVAL")
    @strawberry.mutation(permission_classes=[Requires(REVIEW)],
                         description="Decline a held withdrawal or transfer: it is cancelled (the transfer fails "
                                     "with AML_DECLINED) and its hold released.")
    async def decline_aml_hold(self, info: Ctx, decision_id: AnyId, reason: str) -> AmlDecisionPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> cases.Decision:
            key = key_of(decision_id, "AmlDecision", field="decisionId")
            await scope.require_decision(session, actor, key, NotFound("no such decision", field="decisionId"))
            return await cases.decline(session, actor, key, reason)

        return await _run(info, txn, lambda d: AmlDecisionPayload(decision=AmlDecision.of(d)),
                          lambda e: AmlDecisionPayload(errors=e))
