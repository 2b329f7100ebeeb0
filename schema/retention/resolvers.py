"""Retention and erasure: schedules per jurisdiction, legal holds, enforcement runs (progress and
outcome), and clients' erasure requests with the staff's four-eyes decision."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.clients.access import client_for, own_client
from domain.clients.storage import default_store
from domain.retention import erasure, holds, runs, schedules
from domain.shared.actor import ActorKind
from domain.shared.pagination import decode_id_cursor
from schema.clients.ids import client_key
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.node import DATABASE_ID_DOC, AnyId, Node, global_id, key_of, node_type
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import IsAuthenticated, Requires

Ctx = Info[Context, Any]


@strawberry.type(description="How long one kind of record is kept in a jurisdiction ('*': the default).")
class RetentionSchedule:
    jurisdiction: str
    record_kind: str = strawberry.field(description="kyc_documents, identity_data, communications, audit or "
                                                    "aml_records (AML cases with their notes, files and reports, and "
                                                    "monitoring decisions; counted from relationship_end only).")
    years: int
    basis: str = strawberry.field(description="relationship_end (years after the client relationship ended) or "
                                              "created (years after each record was made).")
    updated_at: dt.datetime

    @classmethod
    def of(cls, s: schedules.Schedule) -> RetentionSchedule:
        return cls(jurisdiction=s.jurisdiction, record_kind=s.record_kind, years=s.years, basis=s.basis,
                   updated_at=s.updated_at)


@strawberry.type
class RetentionSchedulePayload:
    schedule: RetentionSchedule | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="A legal hold: while active, nothing of the client's is erased.")
class LegalHold:
    database_id: strawberry.ID
    client_id: strawberry.ID
    reason: str
    placed_at: dt.datetime
    released_at: dt.datetime | None
    release_reason: str | None
    active: bool

    @classmethod
    def of(cls, h: holds.LegalHold) -> LegalHold:
        return cls(database_id=strawberry.ID(str(h.id)), client_id=global_id("Client360", h.client_id),
                   reason=h.reason, placed_at=h.placed_at, released_at=h.released_at,
                   release_reason=h.release_reason, active=h.active)


@strawberry.type
class LegalHoldPayload:
    hold: LegalHold | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="What an erasure decision did to one kind of record.")
class ErasureKindOutcome:
    kind: str = strawberry.field(description="kyc_documents, identity_data, communications, audit, aml_records or "
                                             "marketing.")
    outcome: str = strawberry.field(description="erased (now), scheduled (erased when its retention ends: `until`, "
                                                "or after the relationship ends) or retained (legal hold or another "
                                                "duty, see note).")
    until: dt.date | None
    note: str


@strawberry.type(description="A client's request to erase their personal data (GDPR Art. 17) and its decision.")
class ErasureRequest(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    client_id: strawberry.ID
    reason: str
    status: str = strawberry.field(description="pending, approved or rejected.")
    awaiting_second_approval: bool
    requested_at: dt.datetime
    decided_at: dt.datetime | None
    decision_reason: str | None
    outcome: list[ErasureKindOutcome]

    @classmethod
    def of(cls, r: erasure.ErasureRequest) -> ErasureRequest:
        return cls(id=global_id("ErasureRequest", r.id), database_id=strawberry.ID(str(r.id)),
                   client_id=global_id("Client360", r.client_id), reason=r.reason, status=r.status,
                   awaiting_second_approval=r.status == "pending" and r.first_approver_id is not None,
                   requested_at=r.requested_at, decided_at=r.decided_at, decision_reason=r.decision_reason,
                   outcome=[ErasureKindOutcome(kind=o["kind"], outcome=o["outcome"],
                                               until=dt.date.fromisoformat(o["until"]) if o.get("until") else None,
                                               note=o.get("note", "")) for o in (r.outcome or [])])


@strawberry.type
class ErasureRequestPayload:
    request: ErasureRequest | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="One retention enforcement run: its progress while running, its outcome after.")
class RetentionRun(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    status: str = strawberry.field(description="queued, running, completed or failed.")
    as_of: dt.date
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    clients_examined: int
    clients_held: int
    clients_erased: int
    documents_deleted: int
    communications_deleted: int
    keys_destroyed: int
    aml_cases_erased: int = strawberry.field(description="AML cases whose personal content (notes, reports) "
                                                         "was erased.")
    aml_files_deleted: int = strawberry.field(description="Files attached to AML cases deleted from storage.")
    error: str | None

    @classmethod
    def of(cls, r: runs.RetentionRun) -> RetentionRun:
        return cls(id=global_id("RetentionRun", r.id), database_id=strawberry.ID(str(r.id)), status=r.status,
                   as_of=r.as_of, created_at=r.created_at,
                   started_at=r.started_at, finished_at=r.finished_at, clients_examined=r.clients_examined,
                   clients_held=r.clients_held, clients_erased=r.clients_erased,
                   documents_deleted=r.documents_deleted, communications_deleted=r.communications_deleted,
                   keys_destroyed=r.keys_destroyed, aml_cases_erased=r.aml_cases_erased,
                   aml_files_deleted=r.aml_files_deleted, error=r.error)


@strawberry.type
class RetentionRunPayload:
    run: RetentionRun | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _staff_reader(ctx: Context) -> bool:
    return ctx.actor.kind is ActorKind.STAFF and ctx.actor.has("retention.read")


@node_type("RetentionRun")
async def _run_nodes(ctx: Context, keys: Sequence[int]) -> list[RetentionRun | None]:
    """Staff with retention.read, as retentionRuns."""
    if not _staff_reader(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await runs.runs_by_ids(session, list(keys))
    return [RetentionRun.of(r) if (r := found.get(k)) else None for k in keys]


@node_type("ErasureRequest")
async def _request_nodes(ctx: Context, keys: Sequence[int]) -> list[ErasureRequest | None]:
    """Staff with retention.read, as erasureRequests (a client reads their own through myErasureRequest)."""
    if not _staff_reader(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await erasure.requests_by_ids(session, list(keys))
    return [ErasureRequest.of(r) if (r := found.get(k)) else None for k in keys]


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@strawberry.type
class RetentionQueries:
    @strawberry.field(permission_classes=[Requires("retention.read")],
                      description="Retention schedules: every jurisdiction's own and the defaults ('*').")
    async def retention_schedules(self, info: Ctx, jurisdiction: str | None = None) -> list[RetentionSchedule]:
        async with info.context.session() as session:
            found = await schedules.list_schedules(session, jurisdiction.upper() if jurisdiction else None)
        return [RetentionSchedule.of(s) for s in found]

    @strawberry.field(permission_classes=[Requires("retention.read")],
                      description="A client's legal holds, the active one first.")
    async def legal_holds(self, info: Ctx, client_id: AnyId) -> list[LegalHold]:
        ctx = info.context
        async with ctx.session() as session:
            client = await client_for(session, ctx.actor, client_key(client_id))
            found = await holds.holds_of(session, client.id)
        return [LegalHold.of(h) for h in found]

    @strawberry.field(permission_classes=[Requires("retention.read")],
                      description="Retention enforcement runs, newest first.")
    async def retention_runs(self, info: Ctx, first: int | None = None, after: str | None = None,
                             last: int | None = None, before: str | None = None) -> Connection[RetentionRun]:
        req = page_request(info, first, after, last, before, decode=decode_id_cursor)
        async with info.context.session() as session:
            page = await runs.list_runs(session, req)
        return to_connection(page, RetentionRun.of, lambda r: (r.id,))

    @strawberry.field(permission_classes=[Requires("retention.read")],
                      description="Erasure requests in one status (pending: awaiting a decision), oldest first.")
    async def erasure_requests(self, info: Ctx, status: str = "pending", first: int | None = None,
                               after: str | None = None, last: int | None = None,
                               before: str | None = None) -> Connection[ErasureRequest]:
        req = page_request(info, first, after, last, before, decode=decode_id_cursor)
        async with info.context.session() as session:
            page = await erasure.list_requests(session, req, status=status)
        return to_connection(page, ErasureRequest.of, lambda r: (r.id,))

    @strawberry.field(permission_classes=[IsAuthenticated],
                      description="Your latest erasure request and its decision (null: none).")
    async def my_erasure_request(self, info: Ctx) -> ErasureRequest | None:
        ctx = info.context
        async with ctx.session() as session:
            client = await own_client(session, ctx.actor)
            found = await erasure.latest_of(session, client.id)
        return ErasureRequest.of(found) if found else None


@strawberry.type
class RetentionMutations:
    @declares_errors("INVALID_COUNTRY", "INVALID_RETENTION_SCHEDULE")
    @strawberry.mutation(permission_classes=[Requires("retention.manage")],
                         description="Set how long a kind of record is kept in a jurisdiction ('*': the default).")
    async def set_retention_schedule(self, info: Ctx, jurisdiction: str, record_kind: str, years: int,
                                     basis: str) -> RetentionSchedulePayload:
        ctx = info.context

        async def work() -> RetentionSchedulePayload:
            async def txn(session: AsyncSession) -> RetentionSchedulePayload:
                row = await schedules.set_schedule(session, ctx.actor, jurisdiction=jurisdiction,
                                                   record_kind=record_kind, years=years, basis=basis)
                return RetentionSchedulePayload(schedule=RetentionSchedule.of(row))

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: RetentionSchedulePayload(errors=e))

    @declares_errors("INVALID_ID", "LEGAL_HOLD_ACTIVE", "NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("retention.manage")],
                         description="Place a legal hold on a client: nothing of theirs is erased until released.")
    async def place_legal_hold(self, info: Ctx, client_id: AnyId, reason: str) -> LegalHoldPayload:
        ctx = info.context

        async def work() -> LegalHoldPayload:
            key = client_key(client_id)

            async def txn(session: AsyncSession) -> LegalHoldPayload:
                client = await client_for(session, ctx.actor, key, lock=True)
                return LegalHoldPayload(hold=LegalHold.of(await holds.place(session, ctx.actor, client.id, reason)))

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: LegalHoldPayload(errors=e))

    @declares_errors("INVALID_ID", "NO_LEGAL_HOLD", "NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("retention.manage")],
                         description="Release a client's legal hold, saying why.")
    async def release_legal_hold(self, info: Ctx, client_id: AnyId, reason: str) -> LegalHoldPayload:
        ctx = info.context

        async def work() -> LegalHoldPayload:
            key = client_key(client_id)

            async def txn(session: AsyncSession) -> LegalHoldPayload:
                client = await client_for(session, ctx.actor, key, lock=True)
                return LegalHoldPayload(hold=LegalHold.of(await holds.release(session, ctx.actor, client.id, reason)))

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: LegalHoldPayload(errors=e))

    @declares_errors("VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("retention.manage")],
                         description="Queue a retention enforcement run (the worker executes it; follow it in "
                                     "retentionRuns). `asOf` is today unless given, and never later than today.")
    async def run_retention_enforcement(self, info: Ctx, as_of: dt.date | None = None) -> RetentionRunPayload:
        ctx = info.context

        async def work() -> RetentionRunPayload:
            from domain.shared.errors import ValidationFailed

            day = as_of or _today()
            if day > _today():
                raise ValidationFailed("a run cannot look into the future", field="asOf")

            async def txn(session: AsyncSession) -> RetentionRunPayload:
                return RetentionRunPayload(run=RetentionRun.of(await runs.request_run(session, ctx.actor, day)))

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: RetentionRunPayload(errors=e))

    @declares_errors("CLIENT_DATA_ERASED", "ERASURE_ALREADY_REQUESTED", "NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Ask for your personal data to be erased (GDPR Art. 17). Staff decide: what "
                                     "no retention duty keeps is erased at once, the rest when its duty ends.")
    async def request_my_erasure(self, info: Ctx, reason: str = "") -> ErasureRequestPayload:
        ctx = info.context

        async def work() -> ErasureRequestPayload:
            async def txn(session: AsyncSession) -> ErasureRequestPayload:
                client = await own_client(session, ctx.actor, lock=True)
                return ErasureRequestPayload(request=ErasureRequest.of(
                    await erasure.request(session, ctx.actor, client.id, reason)))

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: ErasureRequestPayload(errors=e))

    @declares_errors("ERASURE_ALREADY_DECIDED", "EXTERNAL_SERVICE_UNAVAILABLE", "FOUR_EYES_RELATED_APPROVER",
                     "INVALID_ID", "NOT_FOUND", "SELF_APPROVAL_FORBIDDEN", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("retention.erase")],
                         description="Decide an erasure request. Rejecting takes one staff member; approving two "
                                     "(the first approval records itself, the second, by someone else unrelated, "
                                     "erases what no duty keeps and schedules the rest).")
    async def decide_erasure_request(self, info: Ctx, request_id: AnyId, approve: bool,
                                     reason: str) -> ErasureRequestPayload:
        ctx = info.context

        async def work() -> ErasureRequestPayload:
            key = key_of(request_id, "ErasureRequest", field="requestId")
            store = default_store(ctx.settings)

            async def txn(session: AsyncSession) -> ErasureRequestPayload:
                return ErasureRequestPayload(request=ErasureRequest.of(await erasure.decide(
                    session, ctx.actor, store, key, approve=approve, reason=reason, today=_today())))

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: ErasureRequestPayload(errors=e))


QUERIES = (RetentionQueries,)
MUTATIONS = (RetentionMutations,)
SUBSCRIPTIONS = ()
