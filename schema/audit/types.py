from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.audit import verify as verify_service
from domain.audit.models import AuditEvent as AuditEventRow
from domain.identity.models import User
from schema.loaders import register_loader
from schema.node import DATABASE_ID_DOC, Node, bare_id_deprecation, global_id, optional_global_id

DISPLAY_NAMES = "UserDisplayNameLoader"


@register_loader(DISPLAY_NAMES)
async def _display_names(session: AsyncSession, keys: Sequence[int]) -> list[str | None]:
    found = dict((await session.execute(select(User.id, User.display_name).where(User.id.in_(keys)))).all())
    return [found.get(k) or None for k in keys]


@strawberry.type(description="One entry of the append-only, hash-chained audit trail.")
class AuditEvent(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    occurred_at: datetime
    actor_kind: str
    actor_user_id: int | None
    api_token_id: int | None
    ip: str | None
    user_agent: str | None
    action: str
    entity_type: str
    entity_id: str | None
    before: JSON | None = strawberry.field(description="The changed fields before the change (secrets redacted).")
    after: JSON | None = strawberry.field(description="The changed fields after the change (secrets redacted).")
    reason: str | None
    category: str
    correlation_id: str | None
    retain_until: date
    partition: int
    seq: int
    hash: str = strawberry.field(description="SHA-256 of the previous hash and this event, hex.")

    @strawberry.field(description="The acting user's display name now (null for the system, an anonymous caller or "
                                  "a user without one); actorUserId names who it was.")
    async def actor_display_name(self, info: Info[Any, Any]) -> str | None:
        if self.actor_user_id is None:
            return None
        name: str | None = await info.context.loaders.get(DISPLAY_NAMES).load(self.actor_user_id)
        return name

    @classmethod
    def from_row(cls, row: AuditEventRow) -> AuditEvent:
        return cls(
            id=global_id("AuditEvent", row.id), database_id=strawberry.ID(str(row.id)), occurred_at=row.occurred_at,
            actor_kind=row.actor_kind,
            actor_user_id=row.actor_user_id, api_token_id=row.api_token_id, ip=row.ip, user_agent=row.user_agent,
            action=row.action, entity_type=row.entity_type, entity_id=row.entity_id, before=cast(JSON, row.before),
            after=cast(JSON, row.after), reason=row.reason, category=row.category, correlation_id=row.correlation_id,
            retain_until=row.retain_until, partition=row.partition, seq=row.seq, hash=bytes(row.hash).hex(),
        )


@strawberry.input(description="Every given field narrows the result; `to` is exclusive.")
class AuditEventFilter:
    entity_type: str | None = None
    entity_id: str | None = None
    actor_user_id: int | None = None
    action: str | None = None
    category: str | None = None
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None


AuditProblemKind = strawberry.enum(verify_service.ProblemKind, name="AuditProblemKind")


@strawberry.type(description="The first broken link found in one chain, or a seal that no longer matches.")
class AuditProblem:
    kind: AuditProblemKind  # type: ignore[valid-type]
    detail: str
    partition: int | None
    seq: int | None
    event_id: strawberry.ID | None = strawberry.field(deprecation_reason=bare_id_deprecation("auditEventId"))
    audit_event_id: strawberry.ID | None = strawberry.field(description="The AuditEvent's global id.")
    day: date | None

    @classmethod
    def from_problem(cls, p: verify_service.Problem) -> AuditProblem:
        return cls(kind=p.kind, detail=p.detail, partition=p.partition, seq=p.seq,
                   event_id=None if p.event_id is None else strawberry.ID(str(p.event_id)),
                   audit_event_id=optional_global_id("AuditEvent", p.event_id), day=p.day)


@strawberry.type(description="The result of recomputing every audit chain and daily seal.")
class AuditVerification:
    ok: bool
    rows_checked: int
    partitions_checked: int
    seals_checked: int
    first_problem: AuditProblem | None
    problems: list[AuditProblem]

    @classmethod
    def from_report(cls, report: verify_service.VerifyReport) -> AuditVerification:
        problems = [AuditProblem.from_problem(p) for p in report.problems]
        return cls(ok=report.ok, rows_checked=report.rows_checked, partitions_checked=report.partitions_checked,
                   seals_checked=report.seals_checked, first_problem=problems[0] if problems else None,
                   problems=problems)
