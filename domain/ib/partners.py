"""Per-IB settings staff control: visible depth, PII flag, payout cycle, minimum and review hold."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.ib.errors import IbNotFound
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed

CYCLES = ("daily", "weekly", "monthly")
MAX_VISIBLE_DEPTH = 20


@dataclass(frozen=True)
class SettingsChange:
    visible_depth: int | None = None
    show_client_pii: bool | None = None
    payout_cycle: str | None = None
    payout_min: Decimal | None = None
    payout_hold: bool | None = None


def _validate(change: SettingsChange) -> dict[str, Any]:
    if change.visible_depth is not None and not 0 <= change.visible_depth <= MAX_VISIBLE_DEPTH:
        raise ValidationFailed(f"visible depth is 0 to {MAX_VISIBLE_DEPTH}", field="visibleDepth")
    if change.payout_cycle is not None and change.payout_cycle not in CYCLES:
        raise ValidationFailed("payout cycle is daily, weekly or monthly", field="payoutCycle")
    if change.payout_min is not None and (not change.payout_min.is_finite() or change.payout_min < 0):
        raise ValidationFailed("the payout minimum cannot be negative", field="payoutMin")
    return {k: v for k, v in vars(change).items() if v is not None}


async def update_settings(session: AsyncSession, actor: Actor, ib_id: int, change: SettingsChange) -> None:
    values = _validate(change)
    before = (await session.execute(text(
        "SELECT visible_depth, show_client_pii, payout_cycle, payout_min, payout_hold FROM ib_partners "
        "WHERE user_id = :id FOR UPDATE"), {"id": ib_id})).first()
    if before is None:
        raise IbNotFound("no such IB", field="ibId")
    if not values:
        return
    # Column names come from the dataclass fields above, never from input.
    sets = ", ".join(f"{k} = :{k}" for k in values)
    await session.execute(text(f"UPDATE ib_partners SET {sets} WHERE user_id = :id"),  # noqa: S608
                          {**values, "id": ib_id})
    old = dict(before._mapping)
    await record(session, actor, action="ib.settings_changed", entity_type="ib_partner", entity_id=ib_id,
                 before={k: str(old[k]) for k in values}, after={k: str(v) for k, v in values.items()})
