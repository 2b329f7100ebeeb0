"""Per-IB settings staff control: visible depth, PII flag, payout cycle, minimum and review hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.ib.errors import IbNotFound
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page, PageRequest, sql_page

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


@dataclass(frozen=True)
class PartnerRow:
    """An IB as the back office lists them: who, where in the tree, on which plan."""
    ib_id: int
    name: str
    email: str
    status: str
    parent_id: int | None
    plan_id: int | None
    plan_name: str | None
    payout_hold: bool
    applied_at: datetime


STATUSES = ("pending", "approved", "rejected", "suspended")
MAX_SEARCH = 200
_PARTNER_COLS = ("p.user_id AS ib_id, u.display_name AS name, u.email, p.status, e.parent_id, a.plan_id, "
                 "pl.name AS plan_name, p.payout_hold, p.applied_at")
# The current parent and plan: the open edge and the open assignment (each unique per IB).
_PARTNER_SOURCE = ("ib_partners p JOIN users u ON u.id = p.user_id "
                   "LEFT JOIN ib_tree_edges e ON e.ib_id = p.user_id AND e.valid_to IS NULL "
                   "LEFT JOIN ib_plan_assignments a ON a.ib_id = p.user_id AND a.valid_to IS NULL "
                   "LEFT JOIN ib_plans pl ON pl.id = a.plan_id")


def _partner(r: Any) -> PartnerRow:
    return PartnerRow(**r._mapping)


async def list_partners(session: AsyncSession, page: PageRequest, *, search: str | None = None,
                        status: str | None = None) -> Page[PartnerRow]:
    """Every IB (applicants included) oldest first; `search` matches a part of the name or e-mail, or the
    IB's id exactly; `status` one of STATUSES."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if status is not None:
        if status not in STATUSES:
            raise ValidationFailed(f"status is one of {', '.join(STATUSES)}", field="status")
        where.append("p.status = :status")
        params["status"] = status
    text_ = (search or "").strip()
    if len(text_) > MAX_SEARCH:
        raise ValidationFailed(f"search is at most {MAX_SEARCH} characters", field="search")
    if text_:
        params["like"] = "%" + text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        match = ["u.display_name ILIKE :like", "u.email ILIKE :like"]
        if text_.isdigit() and len(text_) <= 18:
            params["exact"] = int(text_)
            match.append("p.user_id = :exact")
        where.append(f"({' OR '.join(match)})")
    return await sql_page(session, page, columns=_PARTNER_COLS, source=_PARTNER_SOURCE, where=where, params=params,
                          key=("p.user_id",), descending=False, convert=_partner)
