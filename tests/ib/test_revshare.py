"""Revenue share worked example: net revenue per client, shared up the tree per IB and period, a
negative period carried into the next (or posted as it is when carry-forward is off), idempotent per
(IB, period), explained line by line."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from decimal import Decimal

from domain.ib import revshare
from domain.ib.plans import ClauseKind, ClauseSpec, Distribution
from domain.platforms.port import Deal
from domain.shared.db import in_transaction
from tests.ib.conftest import ENGINE, World
from tests.ib.test_engine import make_plan

D = Decimal


def deal(w: World, login: int, *, hours: float, profit: str, commission: str = "0", storage: str = "0") -> Deal:
    return dataclasses.replace(w.deal(login, minutes=hours * 60, volume="1", commission=commission),
                               profit=D(profit), storage=D(storage))


async def run(w: World, key: str, day: int, ibs: list[int]) -> revshare.RevshareRun:
    t0 = w.day + timedelta(days=day)
    return await in_transaction(w.factory, lambda s: revshare.run_period(
        s, ENGINE, key, t0, t0 + timedelta(days=1), ib_ids=ibs))


async def test_revenue_share_carries_a_negative_period_into_the_next(world: World) -> None:
    w = world
    # given M over A, a client of A; 30% / 10% of net revenue, costs of $2 per lot, carry-forward on
    m = await w.ib()
    a = await w.ib(m)
    login = await w.account(await w.client_of(a))
    clause = ClauseSpec(ClauseKind.REVENUE_SHARE, (D("0.30"), D("0.10")), params={"cost_per_lot": "2"})
    await make_plan(w, Distribution.PERCENT, [clause], ibs=(a,))
    # and B (top level) whose plan pays 30% without carry-forward
    b = await w.ib()
    login_b = await w.account(await w.client_of(b))
    await make_plan(w, Distribution.PERCENT, [ClauseSpec(ClauseKind.REVENUE_SHARE, (D("0.30"),),
                                                         params={"carry_forward": False})], ibs=(b,))
    # period 1: A's client wins 500 on 1 lot, paying commission 7 and swap 3:
    #   revenue = -500 + 7 + 3 - 1 x 2 = -492 -> A -147.60, M -49.20: carried, nothing paid
    # B's client wins 100 on 1 lot: revenue -100 -> B -30.00, posted negative (no carry)
    await w.trade([deal(w, login, hours=1, profit="500", commission="-7", storage="-3"),
                   deal(w, login_b, hours=2, profit="100")])
    first = await run(w, "P1", 0, [a, m, b])
    assert (first.periods, first.lines) == (3, 3)
    assert await w.total(a) == D(0) and await w.total(m) == D(0) and await w.total(b) == D("-30.00")
    carry = await w.sql("SELECT ib_id, gross, carry_in, amount, carry_out FROM ib_revshare_periods "
                        "WHERE ib_id = ANY(:i) AND period_key = 'P1'", i=[a, m, b])
    assert {tuple(r) for r in carry} == {(a, D("-147.60"), 0, 0, D("-147.60")), (m, D("-49.20"), 0, 0, D("-49.20")),
                                         (b, D("-30.00"), 0, D("-30.00"), 0)}
    # period 2: the client loses 1000 on 1 lot (commission 7, swap 3): revenue = 1000 + 7 + 3 - 2 = 1008
    #   A: 1008 x 30% = 302.40 - 147.60 carried = 154.80; M: 100.80 - 49.20 = 51.60
    await w.trade([deal(w, login, hours=25, profit="-1000", commission="-7", storage="-3")])
    second, again = await asyncio.gather(run(w, "P2", 1, [a, m]), run(w, "P2", 1, [a, m]))
    assert sorted([second.periods, again.periods]) == [0, 2]  # once per (IB, period), even when racing
    assert await w.total(a) == D("154.80") and await w.total(m) == D("51.60")
    assert (await run(w, "P2", 1, [a, m])).lines == 0
    # explain: the line carries the formula, carry and each contribution
    rows = await w.sql("SELECT formula, inputs, amount FROM ib_commission_lines WHERE ib_id = :a "
                       "AND source = 'revshare' AND period_key = 'P2'", a=a)
    formula, inputs, amount = rows[0]
    assert formula == revshare.FORMULA and amount == D("154.80")
    assert (D(inputs["gross"]), D(inputs["carry_in"]), D(inputs["carry_out"])) == (D("302.40"), D("-147.60"), D(0))
    (c,) = inputs["contributions"]
    assert (D(c["client_pnl"]), D(c["commissions"]), D(c["swaps"]), D(c["costs"]), D(c["revenue"])) == (
        D(1000), D(7), D(3), D(2), D(1008))
    assert c["level"] == 0 and D(c["payout_rate"]) == D("0.30")
