"""Ongoing screening's runs (domain/compliance/runs.py, rescreen.py): what each re-screening run is doing or did,
and a full run started by a compliance officer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.compliance import runs
from domain.shared.actor import ActorKind
from domain.shared.pagination import decode_id_cursor
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.node import DATABASE_ID_DOC, AnyId, Node, global_id, node_type, optional_global_id, query_key
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires

Ctx = Info[Context, Any]
READ, MANAGE = "compliance.read", "compliance.manage"


@strawberry.type(description="A re-screening run: a list import's delta (its added and changed entities; the "
                             "removed ones' pending hits delisted) or a full run, its progress and figures.")
class ScreeningRun(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    kind: str = strawberry.field(description="delta or full.")
    trigger: str = strawberry.field(description="import, manual or schedule.")
    status: str = strawberry.field(description="queued, running, completed or failed.")
    list_name: str | None = strawberry.field(description="The list; null for a full run over every list.")
    list_version: str | None
    entities_screened: int = strawberry.field(description="Added and changed entities (delta runs; 0 for full).")
    entities_removed: int = strawberry.field(description="Removed entities whose pending hits were delisted.")
    matcher_version: str
    threshold: float
    clients_total: int = strawberry.field(description="Eligible clients when the run started.")
    clients_done: int
    hits_found: int = strawberry.field(description="New hits (a hit already on file is not counted again).")
    hits_delisted: int
    requested_by_id: strawberry.ID | None = strawberry.field(description="The staff user's global id (StaffUser.id).")
    created_at: dt.datetime
    started_at: dt.datetime | None
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None

    @classmethod
    def of(cls, r: runs.ScreeningRun) -> ScreeningRun:
        return cls(id=global_id("ScreeningRun", r.id), database_id=strawberry.ID(str(r.id)), kind=r.kind,
                   trigger=r.trigger, status=r.status, list_name=r.list_name, list_version=r.list_version,
                   entities_screened=len(r.entity_ids), entities_removed=len(r.removed_ids),
                   matcher_version=r.matcher_version, threshold=float(r.threshold), clients_total=r.clients_total,
                   clients_done=r.clients_done, hits_found=r.hits_found, hits_delisted=r.hits_delisted,
                   requested_by_id=optional_global_id("StaffUser", r.requested_by), created_at=r.created_at,
                   started_at=r.started_at, updated_at=r.updated_at, finished_at=r.finished_at, error=r.error)


@strawberry.type
class ScreeningRunPayload:
    run: ScreeningRun | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@node_type("ScreeningRun")
async def _run_nodes(ctx: Context, keys: Sequence[int]) -> list[ScreeningRun | None]:
    """Staff with compliance.read, as screeningRuns."""
    if not (ctx.actor.kind is ActorKind.STAFF and ctx.actor.has(READ)):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await runs.runs_by_ids(session, list(keys))
    return [ScreeningRun.of(r) if (r := found.get(k)) else None for k in keys]


@strawberry.type
class ScreeningRunQueries:
    @strawberry.field(permission_classes=[Requires(READ)],
                      description="Re-screening runs newest first, by kind (delta, full) and status.")
    async def screening_runs(self, info: Ctx, kind: str | None = None, status: str | None = None,
                             first: int | None = None, after: str | None = None, last: int | None = None,
                             before: str | None = None) -> Connection[ScreeningRun]:
        req = page_request(info, first, after, last, before, decode=decode_id_cursor)
        async with info.context.session() as session:
            page = await runs.list_runs(session, req, kind=kind, status=status)
        return to_connection(page, ScreeningRun.of, lambda r: (r.id,))

    @strawberry.field(permission_classes=[Requires(READ)], description="One re-screening run (null: no such run).")
    async def screening_run(self, info: Ctx, id: AnyId) -> ScreeningRun | None:
        key = query_key(id, "ScreeningRun", field="id")
        async with info.context.session() as session:
            run = await runs.get_run(session, key)
        return ScreeningRun.of(run) if run else None


@strawberry.type
class ScreeningRunMutations:
    @declares_errors("SCREENING_LIST_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Queue a full re-screening of every eligible client against one list (listName) "
                                     "or every list; the worker executes it (follow it in screeningRuns).")
    async def start_full_screening_run(self, info: Ctx, list_name: str | None = None) -> ScreeningRunPayload:
        ctx = info.context

        async def work() -> ScreeningRunPayload:
            async def txn(session: AsyncSession) -> ScreeningRunPayload:
                run = await runs.queue_full(session, ctx.actor, list_name=list_name, trigger="manual")
                return ScreeningRunPayload(run=ScreeningRun.of(run))

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: ScreeningRunPayload(errors=e))
