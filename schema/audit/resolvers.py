from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from domain.audit import records, service
from domain.audit import verify as verify_service
from domain.audit.models import AuditEvent as AuditEventRow
from domain.shared.actor import ActorKind
from schema.audit.records import (
    CONVERT,
    RecordExportMutations,
    RegulatorRecord,
    RegulatorRecordFilter,
    RegulatorRecordKind,
    domain_filter,
)
from schema.audit.types import AuditEvent, AuditEventFilter, AuditVerification
from schema.context import Context
from schema.node import node_type
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires


def _key(row: AuditEventRow) -> tuple[datetime, int]:
    return row.occurred_at, row.id


def _record_key(row: Any) -> tuple[datetime, int]:
    return row.occurred_at, row.rid


@node_type("AuditEvent")
async def _event_nodes(ctx: Context, keys: Sequence[int]) -> list[AuditEvent | None]:
    """As auditEvents: staff with audit.read."""
    if not (ctx.actor.kind is ActorKind.STAFF and ctx.actor.has("audit.read")):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = {e.id: e for e in await session.scalars(select(AuditEventRow).where(AuditEventRow.id.in_(keys)))}
    return [AuditEvent.from_row(e) if (e := found.get(k)) else None for k in keys]


@strawberry.type
class AuditQueries:
    @strawberry.field(permission_classes=[Requires("audit.read")], description="Audit events, newest first.")
    async def audit_events(
        self, info: Info[Context, Any], filter: AuditEventFilter | None = None,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[AuditEvent]:
        req = page_request(info, first, after, last, before)
        f = filter or AuditEventFilter()
        flt = service.EventFilter(
            entity_type=f.entity_type, entity_id=f.entity_id, actor_user_id=f.actor_user_id, action=f.action,
            category=f.category, occurred_from=f.from_, occurred_to=f.to,
        )
        async with info.context.session() as session:
            page = await service.list_events(session, flt, page=req)
        return to_connection(page, AuditEvent.from_row, _key)

    @strawberry.field(permission_classes=[Requires("audit.read")],
                      description="Records on request of one kind (commission lines with their plan version and "
                                  "formula, IB relationships over time, balance adjustments, leverage changes, "
                                  "communications), filtered by client, IB and period, newest first; "
                                  "regulatorRecordsExportLink exports the same selection as CSV or XLSX.")
    async def regulator_records(
        self, info: Info[Context, Any], kind: RegulatorRecordKind, filter: RegulatorRecordFilter | None = None,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[RegulatorRecord]:
        req = page_request(info, first, after, last, before)
        domain_kind = records.RecordKind(kind.value)
        flt = domain_filter(filter)
        async with info.context.read() as session:
            page = await records.list_records(session, info.context.actor, domain_kind, flt, req)
        return to_connection(page, CONVERT[domain_kind], _record_key)

    @strawberry.field(permission_classes=[Requires("audit.read")],
                      description="Recompute every audit chain and check it against the exported, signed daily "
                                  "seals; reports the first broken links and days.")
    async def audit_verify(self, info: Info[Context, Any]) -> AuditVerification:
        async with info.context.session() as session:
            report = await verify_service.verify_configured(session, info.context.settings)
        return AuditVerification.from_report(report)


QUERIES = (AuditQueries,)
MUTATIONS = (RecordExportMutations,)
SUBSCRIPTIONS = ()
