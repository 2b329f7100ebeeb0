"""What reporting is configured with: the spread markup built into a group's prices (in pips), which
the revenue rollups count on the group's opening deals from then on (a rebuild applies it to a past
period)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.reporting.errors import ReportMarkupInvalid, ReportServerNotFound
from domain.shared.actor import Actor

MAX_PIPS = Decimal(1000)


@dataclass(frozen=True)
class SpreadMarkup:
    server_id: int
    group: str
    markup_pips: Decimal


async def set_spread_markup(session: AsyncSession, actor: Actor, server_id: int, group: str,
                            markup_pips: Decimal) -> SpreadMarkup:
    grp = group.strip()
    if not grp or len(grp) > 64:
        raise ReportMarkupInvalid("a group is 1 to 64 characters", field="group")
    try:
        pips = Decimal(markup_pips)
        valid = pips.is_finite() and 0 <= pips <= MAX_PIPS and pips == pips.quantize(Decimal("0.0001"))
    except (InvalidOperation, ValueError):
        valid = False
    if not valid:
        raise ReportMarkupInvalid(f"a markup is 0 to {MAX_PIPS} pips, at most 4 decimals", field="markupPips")
    if await session.scalar(text("SELECT 1 FROM trading_servers WHERE id = :s"), {"s": server_id}) is None:
        raise ReportServerNotFound("trading server not found", field="serverId")
    before = await session.scalar(text(
        "SELECT markup_pips FROM reporting_spread_markups WHERE server_id = :s AND grp = :g FOR UPDATE"),
        {"s": server_id, "g": grp})
    await session.execute(text(
        "INSERT INTO reporting_spread_markups (server_id, grp, markup_pips) VALUES (:s, :g, :p) "
        "ON CONFLICT (server_id, grp) DO UPDATE SET markup_pips = excluded.markup_pips, updated_at = now()"),
        {"s": server_id, "g": grp, "p": pips})
    await audit.record(session, actor, action="reporting.spread_markup_set", entity_type="reporting_spread_markup",
                       entity_id=f"{server_id}:{grp}",
                       before={"markup_pips": str(before)} if before is not None else None,
                       after={"markup_pips": str(pips)}, category="reporting")
    return SpreadMarkup(server_id, grp, pips)
