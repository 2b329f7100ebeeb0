"""Open positions: maintained from deals by ingestion, corrected from the server's snapshot.

A snapshot is only trusted for positions no deal touched after the cursor read just before it:
the caller pulls, notes the cursor, takes the snapshot, pulls again; any position with a deal
after the noted cursor may have changed between our read and the snapshot and is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.platforms.port import DealCursor, Position, utc_from_ms
from domain.shared.pagination import Page, PageRequest, select_page
from domain.trading.models import PositionRow


@dataclass(frozen=True)
class ReconcileResult:
    checked: int
    missing: int  # open on the server, absent here: inserted
    extra: int  # stored here, closed on the server: deleted
    different: int  # volume or side differs: corrected
    skipped: int  # touched by deals after the cursor: left to ingestion





async def positions_for_login(session: AsyncSession, server_id: int, login: int,
                              page: PageRequest) -> Page[PositionRow]:
    """An account's open positions in ticket order (keyset on the position id)."""
    stmt = select(PositionRow).where(PositionRow.server_id == server_id, PositionRow.login == login)
    return await select_page(session, page, stmt, (PositionRow.position_id,), descending=False, convert=lambda r: r)


async def _touched_since(session: AsyncSession, server_id: int, cursor: DealCursor) -> set[int]:
    rows = await session.scalars(
        text(
            "SELECT DISTINCT position_id FROM trading_deals WHERE server_id = :s AND time >= :t "
            "AND (time_ms, deal_id) > (:ms, :id) AND position_id <> 0"
        ),
        {"s": server_id, "t": utc_from_ms(cursor.time_ms), "ms": cursor.time_ms, "id": cursor.deal_id},
    )
    return set(rows)


async def reconcile_positions(
    session: AsyncSession, server_id: int, snapshot: Sequence[Position], before: DealCursor
) -> ReconcileResult:
    """Make stored positions match the snapshot, except those touched after `before`."""
    skip = await _touched_since(session, server_id, before)
    stored = {
        row.position_id: (row.volume, row.side)
        for row in (
            await session.execute(
                select(PositionRow.position_id, PositionRow.volume, PositionRow.side).where(
                    PositionRow.server_id == server_id
                )
            )
        )
    }
    remote = {p.position: p for p in snapshot}
    missing = [p for pid, p in remote.items() if pid not in stored and pid not in skip]
    different = [
        p for pid, p in remote.items()
        if pid in stored and pid not in skip and stored[pid] != (p.volume, p.side.value)
    ]  # fmt: skip
    extra = [pid for pid in stored if pid not in remote and pid not in skip]
    upserts = missing + different
    if upserts:
        await session.execute(
            text(
                "INSERT INTO trading_positions AS p (server_id, position_id, login, account_id, symbol, side, "
                "volume, in_volume, in_value, opened_at, last_deal_ms, snapshot_at) SELECT :s, :pid, :login, "
                "(SELECT id FROM trading_accounts WHERE server_id = :s AND login = :login), :symbol, :side, "
                ":volume, :volume, :value, :opened, 0, now() "
                "ON CONFLICT (server_id, position_id) DO UPDATE SET volume = excluded.volume, "
                "side = excluded.side, in_volume = excluded.in_volume, in_value = excluded.in_value, "
                "snapshot_at = now()"
            ),
            [
                {
                    "s": server_id, "pid": p.position, "login": p.login, "symbol": p.symbol[:32],
                    "side": p.side.value, "volume": p.volume, "value": p.volume * p.price_open,
                    "opened": p.opened_at,
                }
                for p in upserts
            ],
        )  # fmt: skip
    if extra:
        await session.execute(
            text("DELETE FROM trading_positions WHERE server_id = :s AND position_id = ANY(:ids)"),
            {"s": server_id, "ids": extra},
        )
    return ReconcileResult(len(remote), len(missing), len(extra), len(different), len(skip))


def average_open_price(row: PositionRow) -> Decimal | None:
    return (row.in_value / row.in_volume).quantize(Decimal("1e-8")) if row.in_volume else None
