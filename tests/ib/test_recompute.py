"""Recompute and explain: a clean period stays clean; a retroactive change shows up as differences and
is corrected by adjustment lines, never by changing stored lines. Plus the property test."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from domain.ib import attribution, explain, recompute
from domain.ib.plans import ClauseKind, ClauseSpec, Distribution
from domain.shared.db import in_transaction
from tests.ib.conftest import ENGINE, STAFF, World, new_day
from tests.ib.test_engine import make_plan

D = Decimal


async def test_retroactive_reassignment_is_corrected_by_adjustment_lines(world: World) -> None:
    a, b = await world.ib(), await world.ib()
    client = await world.client_of(a)
    login = await world.account(client)
    await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (D(4),), max_total=D(4))],
                    ibs=(a, b))
    await world.trade([world.deal(login, minutes=60, volume="2"), world.deal(login, minutes=180)])
    t0, t1 = world.day, world.day + timedelta(days=1)
    report = await in_transaction(world.factory, lambda s: recompute.recompute(s, t0, t1))
    assert report.clean and report.expected_total == D("12.00") == report.stored_total
    stored = await world.sql("SELECT id, amount FROM ib_commission_lines WHERE ib_id = :a ORDER BY id", a=a)
    # when the client is moved to B from before the second deal, explicitly retroactively
    await in_transaction(world.factory, lambda s: attribution.reassign(
        s, STAFF, client, b, effective_from=world.day + timedelta(hours=2), reason="proved referral",
        allow_retroactive=True))
    report = await in_transaction(world.factory, lambda s: recompute.recompute(s, t0, t1))
    # then the second deal's 4.00 belongs to B, not A
    assert {(d.ib_id, d.expected, d.stored) for d in report.differences} == {(a, D(0), D("4.00")),
                                                                            (b, D("4.00"), D(0))}
    run = await in_transaction(world.factory, lambda s: recompute.adjust(s, ENGINE, t0, t1, reason="reassigned"))
    assert run.lines == 2 and len(run.entry_ids) == 1
    assert (await in_transaction(world.factory, lambda s: recompute.recompute(s, t0, t1))).clean
    assert await world.total(a) == D("8.00") and await world.total(b) == D("4.00")
    assert await world.sql("SELECT id, amount FROM ib_commission_lines WHERE ib_id = :a AND kind = 'accrual' "
                           "ORDER BY id", a=a) == stored
    # explain: A's period shows the original lines and the adjustment, with formula and inputs
    exp = await in_transaction(world.factory, lambda s: explain.explain_period(s, a, t0, t1))
    assert exp.totals == {"USD": D("8.00")}
    assert [line["kind"] for line in exp.lines] == ["accrual", "accrual", "adjustment"]
    one = await in_transaction(world.factory, lambda s: explain.explain_line(s, exp.lines[0]["id"], ib_id=a))
    assert one.line["formula"].startswith("volume * lot_modifier")
    assert one.deal is not None and one.deal["volume"] == D(2)
    assert one.clause is not None and one.clause["payout_rates"] == [D(4)]


levels = st.lists(st.decimals(min_value=D("0"), max_value=D("0.25"), places=2), min_size=1, max_size=4)
deals = st.lists(st.tuples(st.integers(0, 3), st.decimals(min_value=D("0.01"), max_value=D("9"), places=2),
                           st.sampled_from([0, 1])), min_size=1, max_size=8)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(shares=levels, base=st.decimals(min_value=D("0.5"), max_value=D("20"), places=2), trades=deals,
       override=st.booleans())
async def test_recompute_is_stable_and_levels_never_exceed_the_plan(
    session_factory: Any, shares: list[Decimal], base: Decimal, trades: list[tuple[int, Decimal, int]],
    override: bool,
) -> None:
    sid = await _server(session_factory)
    w = World(session_factory, sid, new_day())
    chain = [await w.ib()]
    for _ in range(3):
        chain.append(await w.ib(chain[-1]))
    logins = [await w.account(await w.client_of(ib)) for ib in chain]
    rates = tuple(sorted(s * base for s in shares)) if override else tuple(shares)
    cap = base
    dist = Distribution.OVERRIDE if override else Distribution.PERCENT
    spec = ClauseSpec(ClauseKind.PER_LOT, rates, base_rate=D(1) if override else base, max_total=cap)
    await make_plan(w, dist, [spec], ibs=tuple(chain))
    batch = await w.ingest([w.deal(logins[i], minutes=10 + n, volume=str(v), entry=e)
                            for n, (i, v, e) in enumerate(trades)])
    await w.run(batch)
    await w.run(batch)  # a redelivered event writes nothing
    t0, t1 = w.day, w.day + timedelta(days=1)
    report = await in_transaction(session_factory, lambda s: recompute.recompute(s, t0, t1))
    assert report.clean
    per_deal = await w.sql("SELECT l.deal_id, sum(l.amount), max(l.volume) FROM ib_commission_lines l "
                           "WHERE l.server_id = :s GROUP BY l.deal_id", s=sid)
    for _deal, total, volume in per_deal:
        # rounding adds at most half a cent per level
        assert total <= volume * cap + D("0.005") * 4


async def _server(factory: Any) -> int:
    import uuid

    async with factory() as s, s.begin():
        return int(await s.scalar(text(
            "INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc) "
            "VALUES (:n, 'mt5', 'http://127.0.0.1:1', 1, 'x') RETURNING id"), {"n": f"ibp-{uuid.uuid4().hex[:10]}"}))
