"""The audit trail's public API: record() in the caller's transaction, and the staff read queries.

Call record() after the transaction's other writes, right before commit: it takes a chain
partition's lock (pg_advisory_xact_lock plus the partition's head row), held until the
transaction ends. A writer finding its preferred partition locked takes the next free one rather
than queueing behind the holder's commit. A transaction uses a single partition however many
events it records, so two transactions can never deadlock on audit locks.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.chain import (
    LOCK_NAMESPACE,
    PARTITIONS,
    EventContent,
    canonical_json,
    content_digest,
    partition_for,
    truncate_ms,
)
from domain.audit.diff import changed_fields
from domain.audit.errors import InvalidAuditEvent
from domain.audit.models import AuditEvent
from domain.audit.retention import retain_until_for
from domain.shared.actor import Actor
from domain.shared.db import driver, utcnow
from domain.shared.pagination import Page, PageRequest, select_page

# The source of occurred_at; tests replace it to write events into past days.
clock: Callable[[], datetime] = utcnow

_ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_PARTITION_KEY = "audit.partition"
MAX_USER_AGENT = 512
MAX_REASON = 4000

# Appending is one statement: lock a partition, read its head FOR UPDATE, draw the id, insert the
# event with its v2 link computed here (chain.py), move the head. FOR UPDATE returns the newest
# head even though the statement's snapshot predates the lock wait (READ COMMITTED), and raises a
# retryable serialization failure under REPEATABLE READ instead of forking the chain. The id is
# drawn under the lock, so ids rise with seq. $17 lock namespace, $18 partition, $19 partitions.
_APPEND_CTES = """
    {lock}, head AS MATERIALIZED (
        SELECT h.partition, h.seq + 1 AS seq, h.hash AS prev, nextval('audit_events_id_seq') AS id
        FROM lock, audit_chain_heads h WHERE h.partition = lock.p {gate} FOR UPDATE OF h
    ), ins AS (
        INSERT INTO audit_events (
            id, partition, seq, occurred_at, actor_kind, actor_user_id, api_token_id, ip, user_agent,
            action, entity_type, entity_id, before, after, reason, category, correlation_id,
            retain_until, prev_hash, hash
        )
        SELECT id, partition, seq, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12, $13, $14, $15,
               prev, sha256(prev || int8send(id) || int2send(partition) || int8send(seq) || $16::bytea)
        FROM head
        RETURNING id, partition, seq, hash
    ), moved AS (
        UPDATE audit_chain_heads h SET seq = ins.seq, hash = ins.hash FROM ins WHERE h.partition = ins.partition
    )"""
# The first partition from the preferred one whose lock is free: the scan stops at the first lock
# taken (LIMIT 1, no ORDER BY), so only one is held; nothing is appended when all are busy. Writers
# waiting for each other's partitions would queue behind commits (fsync).
_LOCK_FREE = """lock AS MATERIALIZED (
        SELECT c.p FROM (SELECT (($18 + i) % $19)::smallint AS p FROM generate_series(0, $19 - 1) i) c
        WHERE pg_try_advisory_xact_lock($17, c.p) LIMIT 1
    )"""
# Queue for one partition: this transaction's own (re-entrant), or any when all are busy.
_LOCK_AT = """lock AS MATERIALIZED (
        SELECT $18::smallint AS p FROM (SELECT pg_advisory_xact_lock($17, $18)) l
    )"""


def append_ctes(*, free: bool, offset: int = 0, gate: str = "") -> str:
    """The append as CTEs (lock, head, ins, moved) for a statement of another's to carry, its
    parameters numbered from $(1 + offset); `gate` (SQL after AND) must hold for anything to be
    appended. `ins` returns the event's id and partition."""
    ctes = _APPEND_CTES.format(lock=_LOCK_FREE if free else _LOCK_AT, gate=f"AND {gate}" if gate else "")
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + offset}", ctes)


APPEND_FREE = "WITH " + append_ctes(free=True) + " SELECT id, partition FROM ins"  # noqa: S608 - constants
APPEND_AT = "WITH " + append_ctes(free=False) + " SELECT id, partition FROM ins"  # noqa: S608 - constants


def _clip(value: str | None, limit: int) -> str | None:
    return None if value is None else value.replace("\x00", "\ufffd")[:limit]


def _validate(action: str, entity_type: str, entity_id: str | int | None, category: str) -> str | None:
    if not _ACTION_RE.match(action) or len(action) > 120:
        raise InvalidAuditEvent(f"audit action {action!r} must look like 'entity.verb'", field="action")
    if not _NAME_RE.match(entity_type):
        raise InvalidAuditEvent(f"audit entity type {entity_type!r} must be snake_case", field="entity_type")
    if not _NAME_RE.match(category):
        raise InvalidAuditEvent(f"audit category {category!r} must be snake_case", field="category")
    ident = None if entity_id is None else str(entity_id)
    if ident is not None and not 0 < len(ident) <= 128:
        raise InvalidAuditEvent("audit entity id must be 1 to 128 characters", field="entity_id")
    return ident


@dataclass(frozen=True)
class PreparedEvent:
    """An event ready to append: the statement's arguments ($1-$17), its partition to come."""

    args: tuple[Any, ...]
    preferred: int  # the partition tried first when the transaction has none yet


def prepare(
    actor: Actor, *, action: str, entity_type: str, entity_id: str | int | None,
    before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
    reason: str | None = None, category: str = "general", retain_until: date | None = None,
) -> PreparedEvent:
    """Validate and digest an event (see record()) without writing it: `append` writes it, or a
    statement folding the append into its own (posting.post's `audit=`) does."""
    ident = _validate(action, entity_type, entity_id, category)
    old, new = changed_fields(before, after)
    occurred_at = truncate_ms(clock())
    content = EventContent(  # the chain position (id, partition, seq) is the database's to fill in
        id=0, partition=0, seq=0, occurred_at=occurred_at, actor_kind=actor.kind.value,
        actor_user_id=actor.user_id, api_token_id=actor.token_id, ip=_clip(actor.ip, 64),
        user_agent=_clip(actor.user_agent, MAX_USER_AGENT), action=action, entity_type=entity_type,
        entity_id=ident, before=old, after=new, reason=_clip(reason, MAX_REASON), category=category,
        correlation_id=_clip(actor.correlation_id, 128),
        retain_until=retain_until_for(category, occurred_at.date(), retain_until),
    )
    c = content
    args = (c.occurred_at, c.actor_kind, c.actor_user_id, c.api_token_id, c.ip, c.user_agent, c.action,
            c.entity_type, c.entity_id, None if old is None else canonical_json(old).decode(),
            None if new is None else canonical_json(new).decode(), c.reason, c.category, c.correlation_id,
            c.retain_until, content_digest(content), LOCK_NAMESPACE)
    # One partition per transaction: the first event takes the correlation id's partition (else a
    # random one) or, when another transaction holds it, the next free one; later events reuse it.
    preferred = partition_for(actor.correlation_id) if actor.correlation_id else random.randrange(PARTITIONS)
    return PreparedEvent(args, preferred)


def held_partition(session: AsyncSession) -> int | None:
    """The chain partition this transaction appends to, once its first event has taken one."""
    chosen = session.info.get(_PARTITION_KEY)
    return chosen[1] if chosen is not None and chosen[0] is session.sync_session.get_transaction() else None


def hold_partition(session: AsyncSession, partition: int) -> None:
    session.info[_PARTITION_KEY] = (session.sync_session.get_transaction(), partition)


async def append(session: AsyncSession, event: PreparedEvent) -> int:
    """Write a prepared event in the caller's transaction; returns its id."""
    if session.new or session.dirty or session.deleted:
        # The caller's pending writes go first, so their lock waits happen before ours is taken.
        await session.flush()
    conn = await driver(session)
    partition = held_partition(session)
    if partition is not None:
        row = await conn.fetchrow(APPEND_AT, *event.args, partition)
    else:
        row = await conn.fetchrow(APPEND_FREE, *event.args, event.preferred, PARTITIONS)
        if row is None:  # every partition busy: queue for the preferred one
            row = await conn.fetchrow(APPEND_AT, *event.args, event.preferred)
        hold_partition(session, int(row["partition"]))
    return int(row["id"])


async def record(
    session: AsyncSession, actor: Actor, *, action: str, entity_type: str, entity_id: str | int | None,
    before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
    reason: str | None = None, category: str = "general", retain_until: date | None = None,
) -> int:
    """Append an audit event in the caller's transaction and return its id.

    Only the changed fields of before/after are kept, with secrets redacted. `retain_until`
    (e.g. retention.relationship_retention(end)) extends the category's retention, never shortens it.
    """
    return await append(session, prepare(
        actor, action=action, entity_type=entity_type, entity_id=entity_id, before=before, after=after,
        reason=reason, category=category, retain_until=retain_until))


@dataclass(frozen=True)
class EventFilter:
    entity_type: str | None = None
    entity_id: str | None = None
    actor_user_id: int | None = None
    action: str | None = None
    category: str | None = None
    categories: frozenset[str] | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None  # exclusive


def _filtered(flt: EventFilter) -> Select[AuditEvent]:
    stmt = select(AuditEvent)
    if flt.entity_type is not None:
        stmt = stmt.where(AuditEvent.entity_type == flt.entity_type)
    if flt.entity_id is not None:
        stmt = stmt.where(AuditEvent.entity_id == flt.entity_id)
    if flt.actor_user_id is not None:
        stmt = stmt.where(AuditEvent.actor_user_id == flt.actor_user_id)
    if flt.action is not None:
        stmt = stmt.where(AuditEvent.action == flt.action)
    if flt.category is not None:
        stmt = stmt.where(AuditEvent.category == flt.category)
    if flt.categories is not None:
        stmt = stmt.where(AuditEvent.category.in_(sorted(flt.categories)))
    if flt.occurred_from is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= flt.occurred_from)
    if flt.occurred_to is not None:
        stmt = stmt.where(AuditEvent.occurred_at < flt.occurred_to)
    return stmt


async def list_events(session: AsyncSession, flt: EventFilter, page: PageRequest) -> Page[AuditEvent]:
    """Newest first, keyset-paginated on (occurred_at, id)."""
    return await select_page(session, page, _filtered(flt), (AuditEvent.occurred_at, AuditEvent.id),
                             descending=True, convert=lambda row: row)
