"""Hedge pairs kept incrementally: opposite trades on one symbol, opened within a window of each
other with similar size, in two different accounts of one server.

A pair is matched when the later of its two trades has its opening half stored, so each batch only
looks up the neighbours of its own trades (index range scans on (server, symbol, open_ms)) instead
of self-joining the whole trade log. Both directions are stored, so the detector reads one
account's pairs with one index. The pairs depend on the base hedging thresholds (window and size
tolerance); when those change, the pairs are rebuilt from the trade log.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# `OFFSET 0` keeps the lateral subquery from being flattened into a join the planner would run as a
# merge on (server, symbol) that compares every trade of a symbol with every other.
_MATCH = """
WITH a AS ({candidates}),
m AS (
    SELECT a.server_id, a.position_id, b.position_id AS other_position, a.account_id, b.account_id AS other_account,
        a.symbol, a.open_ms, b.open_ms AS other_ms, a.open_deal, b.open_deal AS other_deal
    FROM a CROSS JOIN LATERAL (
        SELECT b.position_id, b.account_id, b.open_ms, b.open_deal FROM risk_trades b
        WHERE b.server_id = a.server_id AND b.symbol = a.symbol
          AND b.open_ms BETWEEN a.open_ms - :w AND a.open_ms + :w
          AND b.side <> a.side AND b.account_id <> a.account_id
          AND abs(b.lots - a.lots) <= :tol * greatest(a.lots, b.lots)
        OFFSET 0
    ) b
)
INSERT INTO risk_hedge_pairs (server_id, position_id, other_position, account_id, other_account, symbol, open_ms,
    open_deal, other_deal)
SELECT server_id, position_id, other_position, account_id, other_account, symbol, open_ms, open_deal, other_deal
FROM m
UNION ALL
SELECT server_id, other_position, position_id, other_account, account_id, symbol, other_ms, other_deal, open_deal
FROM m
ON CONFLICT DO NOTHING
"""

_OPENED = "SELECT * FROM risk_trades WHERE open_ms IS NOT NULL AND account_id IS NOT NULL"


async def _params(session: AsyncSession, window_ms: float, tolerance: float) -> bool:
    """Record the matching parameters; True when they differ from those the pairs were built with."""
    w, tol = Decimal(str(window_ms)), Decimal(str(tolerance))
    row = (await session.execute(text("SELECT window_ms, size_tolerance FROM risk_hedge_params"))).first()
    if row is not None and (row.window_ms, row.size_tolerance) == (w, tol):
        return False
    await session.execute(text(
        "INSERT INTO risk_hedge_params (id, window_ms, size_tolerance) VALUES (true, :w, :t) "
        "ON CONFLICT (id) DO UPDATE SET window_ms = excluded.window_ms, size_tolerance = excluded.size_tolerance"
    ), {"w": w, "t": tol})  # fmt: skip
    return True


async def match(session: AsyncSession, deals_sql: str, params: dict[str, Any], window_ms: float,
                tolerance: float) -> None:  # fmt: skip
    """Pair the trades of one batch (its deals selected by `deals_sql` with `params`)."""
    bind = {**params, "w": window_ms, "tol": tolerance}
    if await _params(session, window_ms, tolerance):
        # Thresholds changed (or first run): lock out concurrent batches and rebuild every pair.
        await session.execute(text("LOCK TABLE risk_hedge_pairs IN EXCLUSIVE MODE"))
        await session.execute(text("DELETE FROM risk_hedge_pairs"))
        await session.execute(text(_MATCH.format(candidates=_OPENED)), bind)
        return
    candidates = (
        f"{_OPENED} AND server_id = :s AND position_id IN ("  # noqa: S608 - constant SQL fragments
        f"SELECT position_id FROM ({deals_sql}) d WHERE position_id <> 0 AND action IN (0, 1))"
    )
    await session.execute(text(_MATCH.format(candidates=candidates)), bind)
