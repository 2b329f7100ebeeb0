"""Hedge pairs kept batch by batch equal a full self-join of the trade log, and a change of the
matching thresholds rebuilds them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from domain.risk import hedging
from domain.risk.detectors import DEFAULTS
from tests.platforms.conftest import SimServer
from tests.risk.test_detectors import pulled

# The definition of a pair, straight over the whole trade log of one server.
_REFERENCE = """
SELECT a.position_id, b.position_id FROM risk_trades a
JOIN risk_trades b ON b.server_id = a.server_id AND b.symbol = a.symbol AND b.side <> a.side
    AND b.open_ms BETWEEN a.open_ms - :w AND a.open_ms + :w AND b.account_id <> a.account_id
    AND abs(b.lots - a.lots) <= :tol * greatest(a.lots, b.lots)
WHERE a.server_id = :s AND a.open_ms IS NOT NULL AND a.account_id IS NOT NULL
"""
_STORED = "SELECT position_id, other_position FROM risk_hedge_pairs WHERE server_id = :s"
_NO_DEALS = "SELECT * FROM trading_deals WHERE false"


async def _pairs(session: Any, sql: str, **params: Any) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in (await session.execute(text(sql), params)).all()}


async def test_incremental_pairs_equal_a_full_self_join(session_factory: Any, risk_sim: SimServer) -> None:
    server_id, _, _ = await pulled(session_factory, risk_sim)
    base = DEFAULTS["hedging"]
    async with session_factory() as s:
        stored = await _pairs(s, _STORED, s=server_id)
        reference = await _pairs(s, _REFERENCE, s=server_id, w=base["window_ms"], tol=base["size_tolerance"])
    assert stored and stored == reference


async def test_new_thresholds_rebuild_the_pairs(session_factory: Any, risk_sim: SimServer) -> None:
    server_id, _, _ = await pulled(session_factory, risk_sim)
    base = DEFAULTS["hedging"]
    async with session_factory() as s, s.begin():
        before = await _pairs(s, _STORED, s=server_id)
        # given a narrower window, when a batch with no deals runs the matching step
        await hedging.match(s, _NO_DEALS, {"s": server_id}, 5, base["size_tolerance"])
        # then the pairs are those of the new window, not a subset kept from the old one
        narrow = await _pairs(s, _STORED, s=server_id)
        assert narrow == await _pairs(s, _REFERENCE, s=server_id, w=5, tol=base["size_tolerance"])
        assert narrow < before
        # and the same thresholds again change nothing
        await hedging.match(s, _NO_DEALS, {"s": server_id}, 5, base["size_tolerance"])
        assert await _pairs(s, _STORED, s=server_id) == narrow
        await s.rollback()
