"""Compliance screening: list imports (FollowTheMoney JSON, OFAC SDN CSV), the hit review queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.file_uploads import Upload
from strawberry.types import Info

from domain.compliance import lists, screening
from domain.shared.actor import ActorKind
from schema.clients.types import ScreeningHit, ScreeningHitPayload
from schema.compliance.aml import AmlMutations, AmlQueries
from schema.compliance.case_attachments import AmlCaseAttachmentMutations
from schema.compliance.profile_changes import ProfileChangeMutations
from schema.compliance.reports import AmlReportMutations, AmlReportQueries
from schema.compliance.screening_runs import ScreeningRunMutations, ScreeningRunQueries
from schema.compliance.signals import SignalMutations, SignalQueries
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.node import AnyId, global_id, key_of, node_type
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires

Ctx = Info[Context, Any]
MAX_LIST_BYTES = 200 * 1024 * 1024


@strawberry.type
class ScreeningListInfo:
    name: str
    format: str
    version: str
    entity_count: int
    added: int = strawberry.field(default=0, description="Entities the file added to the list.")
    changed: int = strawberry.field(default=0, description="Entities whose names, dates, countries or topics changed.")
    removed: int = strawberry.field(default=0, description="Entities the file no longer holds.")
    screening_run_id: strawberry.ID | None = strawberry.field(
        default=None, description="The delta run re-screening clients against the changes (ScreeningRun.id); null "
                                  "when nothing changed.")


@strawberry.type
class ScreeningListPayload:
    screening_list: ScreeningListInfo | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@node_type("ScreeningHit")
async def _hit_nodes(ctx: Context, keys: Sequence[int]) -> list[ScreeningHit | None]:
    """Staff with kyc.review (screeningHits, resolveScreeningHit) or clients.read (Client360.screening) for clients
    they may see (desk scoping as `client`, as ClientDocument)."""
    actor = ctx.actor
    if not (actor.kind is ActorKind.STAFF and (actor.has("clients.read") or actor.has("kyc.review"))):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await screening.visible_hits(session, actor, list(keys))
    return [ScreeningHit.from_row(h) if (h := found.get(k)) else None for k in keys]


@strawberry.type
class ComplianceQueries:
    @strawberry.field(permission_classes=[Requires("kyc.review")],
                      description="Screening hits in one status (pending: awaiting review), oldest first.")
    async def screening_hits(self, info: Ctx, status: str = "pending", first: int | None = None,
                             after: str | None = None, last: int | None = None,
                             before: str | None = None) -> Connection[ScreeningHit]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await screening.hits(session, status, req)
        return to_connection(page, ScreeningHit.from_row, lambda r: (r.created_at, r.id))


@strawberry.type
class ComplianceMutations:
    @declares_errors("INVALID_SCREENING_LIST")
    @strawberry.mutation(permission_classes=[Requires("compliance.manage")],
                         description="Load a sanctions/PEP list file (format ftm or ofac); every eligible client is "
                                     "re-screened against the added and changed entities (a delta run).")
    async def import_screening_list(self, info: Ctx, name: str, format: str, file: Upload) -> ScreeningListPayload:
        ctx = info.context
        data: bytes = await file.read(MAX_LIST_BYTES)  # type: ignore[attr-defined]

        async def work() -> ScreeningListPayload:
            async def txn(session: AsyncSession) -> ScreeningListPayload:
                loaded = await lists.load_list(session, ctx.actor, name=name, fmt=format, data=data)
                row, delta = loaded.screening_list, loaded.delta
                return ScreeningListPayload(screening_list=ScreeningListInfo(
                    name=row.name, format=row.format, version=row.version, entity_count=row.entity_count,
                    added=len(delta.added), changed=len(delta.changed), removed=len(delta.removed),
                    screening_run_id=global_id("ScreeningRun", loaded.run.id) if loaded.run else None))

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: ScreeningListPayload(errors=e))

    @declares_errors("INVALID_ID", "INVALID_STATUS_TRANSITION", "NOT_FOUND", "SCREENING_ALREADY_RESOLVED")
    @strawberry.mutation(permission_classes=[Requires("kyc.review")],
                         description="Confirm (blocks the client) or dismiss a screening hit.")
    async def resolve_screening_hit(self, info: Ctx, result_id: AnyId, confirmed: bool,
                                    reason: str) -> ScreeningHitPayload:
        ctx = info.context

        async def work() -> ScreeningHitPayload:
            key = key_of(result_id, "ScreeningHit", field="resultId")

            async def txn(session: AsyncSession) -> ScreeningHitPayload:
                row = await screening.resolve_hit(session, ctx.actor, key,
                                                  confirmed=confirmed, reason=reason)
                return ScreeningHitPayload(hit=ScreeningHit.from_row(row))

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: ScreeningHitPayload(errors=e))


QUERIES = (ComplianceQueries, SignalQueries, AmlQueries, AmlReportQueries, ScreeningRunQueries)
MUTATIONS = (ComplianceMutations, SignalMutations, AmlMutations, AmlReportMutations,
             ScreeningRunMutations, AmlCaseAttachmentMutations, ProfileChangeMutations)
SUBSCRIPTIONS = ()
