"""Legal holds: while a client has one (litigation, a regulator's or a court's request, an
investigation), nothing of theirs is erased, whatever the schedules say and whatever they asked.
Placing and releasing take a reason and are audited; a client has at most one active hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.retention.errors import LegalHoldActive, NoLegalHold
from domain.shared.actor import Actor
from domain.shared.db import Reader, driver
from domain.shared.errors import ValidationFailed

MAX_REASON = 2000


@dataclass(frozen=True)
class LegalHold:
    id: int
    client_id: int
    reason: str
    placed_by: int | None
    placed_at: datetime
    released_by: int | None
    released_at: datetime | None
    release_reason: str | None

    @property
    def active(self) -> bool:
        return self.released_at is None


_COLUMNS = "id, client_id, reason, placed_by, placed_at, released_by, released_at, release_reason"


def _reason(value: str, field: str = "reason") -> str:
    value = value.strip()
    if not 0 < len(value) <= MAX_REASON:
        raise ValidationFailed(f"a reason of 1 to {MAX_REASON} characters is required", field=field)
    return value


def _hold(r: object) -> LegalHold:
    return LegalHold(**dict(r))  # type: ignore[call-overload]


async def active_hold(session: Reader, client_id: int) -> LegalHold | None:
    row = await (await driver(session)).fetchrow(
        f"SELECT {_COLUMNS} FROM legal_holds WHERE client_id = $1 AND released_at IS NULL", client_id)  # noqa: S608
    return None if row is None else _hold(row)


async def holds_of(session: Reader, client_id: int) -> list[LegalHold]:
    rows = await (await driver(session)).fetch(
        f"SELECT {_COLUMNS} FROM legal_holds WHERE client_id = $1 ORDER BY id DESC", client_id)  # noqa: S608
    return [_hold(r) for r in rows]


async def place(session: AsyncSession, actor: Actor, client_id: int, reason: str) -> LegalHold:
    """The caller has locked the client row (so two holds cannot race)."""
    reason = _reason(reason)
    if await active_hold(session, client_id) is not None:
        raise LegalHoldActive("this client is already under a legal hold", field="clientId")
    row = (await session.execute(text(
        f"INSERT INTO legal_holds (client_id, reason, placed_by) VALUES (:c, :r, :u) RETURNING {_COLUMNS}"),  # noqa: S608
        {"c": client_id, "r": reason, "u": actor.user_id})).mappings().one()
    hold = LegalHold(**row)
    await record(session, actor, action="client.legal_hold_placed", entity_type="client", entity_id=client_id,
                 after={"legal_hold_id": hold.id}, reason=reason, category="general")
    return hold


async def release(session: AsyncSession, actor: Actor, client_id: int, reason: str) -> LegalHold:
    reason = _reason(reason)
    current = await active_hold(session, client_id)
    if current is None:
        raise NoLegalHold("this client is under no legal hold", field="clientId")
    row = (await session.execute(text(
        f"UPDATE legal_holds SET released_by = :u, released_at = now(), release_reason = :r WHERE id = :i "  # noqa: S608
        f"RETURNING {_COLUMNS}"), {"u": actor.user_id, "r": reason, "i": current.id})).mappings().one()
    await record(session, actor, action="client.legal_hold_released", entity_type="client", entity_id=client_id,
                 before={"legal_hold_id": current.id}, after={"legal_hold_id": None}, reason=reason,
                 category="general")
    return LegalHold(**row)
