"""The tree, moves, attribution and plan validation: worked cases and refusals that change nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.ib import attribution, network, plans
from domain.ib.plans import ClauseKind, ClauseSpec, Distribution
from domain.shared.db import in_transaction, utcnow
from domain.shared.errors import DomainError
from tests.ib.conftest import STAFF, World, counts
from tests.ib.test_engine import make_plan

D = Decimal


async def refused(w: World, code: str, fn: Any) -> None:
    """`fn(session)` fails with `code` and leaves every IB, audit, outbox and ledger table unchanged."""
    before = await counts(w.factory)
    with pytest.raises(DomainError) as err:
        await in_transaction(w.factory, fn)
    assert err.value.code == code
    assert await counts(w.factory) == before


async def test_moved_sub_ib_pays_old_master_before_and_new_master_after(world: World) -> None:
    # given masters A and X, sub-IB B under A, a client of B; $10/lot override, B at 7
    a, x = await world.ib(), await world.ib()
    b = await world.ib(a)
    login = await world.account(await world.client_of(b))
    await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (D(7), D(10)), max_total=D(10))],
                    ibs=(b,))
    move_at = world.day + timedelta(hours=2)
    # when B moves under X (dated inside the day: an explicit retroactive move), deals before and after
    await in_transaction(world.factory, lambda s: network.move(s, STAFF, b, x, effective_from=move_at,
                                                              reason="master changed", allow_retroactive=True))
    await world.trade([world.deal(login, minutes=60), world.deal(login, minutes=180)])
    # then the 1-lot deal before the move pays A 3.00, the one after pays X 3.00; B earns 7.00 on each
    assert await world.earned(a) == {1: D("3.00")}
    assert await world.earned(x) == {1: D("3.00")}
    assert await world.earned(b) == {0: D("14.00")}

    async def tree(s: Any) -> tuple[Any, ...]:
        return (await network.ancestors(s, b), await network.ancestors(s, b, at=world.day),
                await network.descendants(s, x), await network.subtree_summary(s, x))

    now_up, then_up, x_down, x_summary = await in_transaction(world.factory, tree)
    assert [n.ib_id for n in now_up] == [x] and [n.ib_id for n in then_up] == [a]
    assert [(n.ib_id, n.depth) for n in x_down] == [(b, 1)]
    assert [(s.depth, s.ibs, s.clients) for s in x_summary] == [(0, 1, 0), (1, 1, 1)]


async def test_cycle_and_out_of_order_moves_are_refused(world: World) -> None:
    a = await world.ib()
    b = await world.ib(a)
    c = await world.ib(b)
    soon = utcnow() + timedelta(minutes=1)
    await refused(world, "IB_TREE_CYCLE", lambda s: network.move(s, STAFF, a, c, effective_from=soon, reason="x"))
    await refused(world, "IB_TREE_CYCLE", lambda s: network.move(s, STAFF, a, b, effective_from=soon, reason="x"))
    await refused(world, "IB_RETROACTIVE_NOT_ALLOWED", lambda s: network.move(
        s, STAFF, c, a, effective_from=world.day, reason="x"))
    await refused(world, "IB_CHANGE_BEFORE_LAST_CHANGE", lambda s: network.move(
        s, STAFF, c, a, effective_from=world.day - timedelta(days=40), reason="x", allow_retroactive=True))


async def test_reassignment_is_never_retroactive_unless_chosen(world: World) -> None:
    a, b = await world.ib(), await world.ib()
    client = await world.client_of(a)
    login = await world.account(client)
    await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (D(2),), max_total=D(2))],
                    ibs=(a, b))
    await refused(world, "IB_RETROACTIVE_NOT_ALLOWED", lambda s: attribution.reassign(
        s, STAFF, client, b, effective_from=world.day, reason="dispute"))
    await in_transaction(world.factory, lambda s: attribution.reassign(
        s, STAFF, client, b, effective_from=world.day + timedelta(hours=2), reason="dispute",
        allow_retroactive=True))
    await world.trade([world.deal(login, minutes=60), world.deal(login, minutes=180)])
    assert await world.total(a) == D("2.00") and await world.total(b) == D("2.00")


async def test_referral_code_attributes_first_touch_and_locks(world: World) -> None:
    a, b = await world.ib(), await world.ib()
    client = await world.user()
    link_a = await in_transaction(world.factory, lambda s: attribution.create_link(s, STAFF, a, campaign="spring"))
    link_b = await in_transaction(world.factory, lambda s: attribution.create_link(s, STAFF, b))
    assert await in_transaction(world.factory, lambda s: attribution.attribute_at_registration(
        s, STAFF, client, link_a.code)) == a
    await refused(world, "IB_CLIENT_ALREADY_ATTRIBUTED", lambda s: attribution.attribute_at_registration(
        s, STAFF, client, link_b.code))
    await refused(world, "IB_REFERRAL_CODE_UNKNOWN", lambda s: attribution.attribute_at_registration(
        s, STAFF, client, "NOPE"))


async def test_plans_paying_more_than_allowed_or_overlapping_are_refused(world: World) -> None:
    pid = await in_transaction(world.factory, lambda s: plans.create_plan(
        s, STAFF, name=f"caps-{world.server_id}", currency="USD"))
    start = utcnow() + timedelta(days=1)

    def version(dist: Distribution, spec: ClauseSpec, **kw: Any) -> Any:
        return lambda s: plans.add_version(s, STAFF, pid, distribution=dist, clauses=[spec], **kw)

    await refused(world, "IB_PLAN_EXCEEDS_CAP", version(Distribution.PERCENT, ClauseSpec(
        ClauseKind.PER_LOT, (D("0.6"), D("0.3"), D("0.2")), base_rate=D(10), max_total=D(10)), valid_from=start))
    await refused(world, "IB_PLAN_EXCEEDS_CAP", version(Distribution.OVERRIDE, ClauseSpec(
        ClauseKind.PER_LOT, (D(10), D(7)), max_total=D(10)), valid_from=start))
    await refused(world, "IB_PLAN_EXCEEDS_CAP", version(Distribution.OVERRIDE, ClauseSpec(
        ClauseKind.PER_LOT, (D(7), D(12)), max_total=D(10)), valid_from=start))
    await refused(world, "IB_PLAN_EXCEEDS_CAP", version(Distribution.PERCENT, ClauseSpec(
        ClauseKind.COMMISSION_SHARE, (D("0.5"),), max_total=D("1.5")), valid_from=start))
    ok = ClauseSpec(ClauseKind.PER_LOT, (D(7), D(10)), max_total=D(10))
    await in_transaction(world.factory, version(Distribution.OVERRIDE, ok, valid_from=start,
                                                valid_to=start + timedelta(days=30)))
    await refused(world, "IB_PLAN_VERSION_OVERLAP", version(Distribution.OVERRIDE, ok,
                                                            valid_from=start + timedelta(days=10)))
    await refused(world, "IB_RETROACTIVE_NOT_ALLOWED", version(Distribution.OVERRIDE, ok,
                                                               valid_from=utcnow() - timedelta(days=1)))
    # a successor after the bounded version is fine
    await in_transaction(world.factory, version(Distribution.OVERRIDE, ok, valid_from=start + timedelta(days=30)))
