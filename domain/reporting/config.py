"""What reporting is configured with: the spread markup built into a group's prices (in pips), which
the revenue rollups count on the group's opening deals from then on, and what the liquidity provider
charges per lot (USD) on a server's symbol, which they count as a cost on the A-booked share of every
deal's volume from then on (a rebuild applies either to a past period)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.reporting.errors import ReportLpCommissionInvalid, ReportMarkupInvalid, ReportServerNotFound
from domain.shared.actor import Actor

MAX_PIPS = Decimal(1000)
MAX_PER_LOT = Decimal(10_000)


def _bounded(value: Decimal, maximum: Decimal, *, places: int) -> Decimal | None:
    """`value` when it is finite, within 0..maximum and has at most `places` decimals; None otherwise."""
    try:
        number = Decimal(value)
        if number.is_finite() and 0 <= number <= maximum and number == number.quantize(Decimal(1).scaleb(-places)):
            return number
    except (InvalidOperation, ValueError):
        pass
    return None


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
    pips = _bounded(markup_pips, MAX_PIPS, places=4)
    if pips is None:
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


@dataclass(frozen=True)
class LpCommission:
    server_id: int
    symbol: str
    per_lot_usd: Decimal


async def set_lp_commission(session: AsyncSession, actor: Actor, server_id: int, symbol: str,
                            per_lot_usd: Decimal) -> LpCommission:
    sym = symbol.strip()
    if not sym or len(sym) > 32:
        raise ReportLpCommissionInvalid("a symbol is 1 to 32 characters", field="symbol")
    usd = _bounded(per_lot_usd, MAX_PER_LOT, places=8)
    if usd is None:
        raise ReportLpCommissionInvalid(f"a commission is 0 to {MAX_PER_LOT} USD per lot, at most 8 decimals",
                                        field="perLotUsd")
    if await session.scalar(text("SELECT 1 FROM trading_servers WHERE id = :s"), {"s": server_id}) is None:
        raise ReportServerNotFound("trading server not found", field="serverId")
    before = await session.scalar(text(
        "SELECT per_lot_usd FROM reporting_lp_commissions WHERE server_id = :s AND symbol = :y FOR UPDATE"),
        {"s": server_id, "y": sym})
    await session.execute(text(
        "INSERT INTO reporting_lp_commissions (server_id, symbol, per_lot_usd) VALUES (:s, :y, :u) "
        "ON CONFLICT (server_id, symbol) DO UPDATE SET per_lot_usd = excluded.per_lot_usd, updated_at = now()"),
        {"s": server_id, "y": sym, "u": usd})
    await audit.record(session, actor, action="reporting.lp_commission_set", entity_type="reporting_lp_commission",
                       entity_id=f"{server_id}:{sym}",
                       before={"per_lot_usd": str(before)} if before is not None else None,
                       after={"per_lot_usd": str(usd)}, category="reporting")
    return LpCommission(server_id, sym, usd)
