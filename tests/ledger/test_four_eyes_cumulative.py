"""Four-eyes thresholds are cumulative (issue 15, item 5): what one person adjusted alone within the
rolling window counts, per initiator and per client, so a series of small adjustments cannot pass
the threshold without a second approver; and the second approver is not related to the first."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.identity import four_eyes
from domain.ledger import wallets
from domain.shared.db import in_transaction
from tests.ledger.conftest import check_invariants, key, snapshot, staff, wallet_balance
from tests.ledger.test_four_eyes_adjustments import new_wallet


def ask(factory: Any, sid: int, wid: int, amount: str, k: str | None = None) -> Any:
    return in_transaction(factory, lambda s: wallets.request_adjustment(
        s, staff(sid), wallet_id=wid, amount=Decimal(amount), reason="goodwill", idempotency_key=k or key()))


async def test_five_small_adjustments_by_one_person_need_a_second_approver(session_factory, make_user):
    uid, sid = await make_user(), await make_user(staff=True)
    wid = await new_wallet(session_factory, uid)

    outcomes = [await ask(session_factory, sid, wid, "1000.00") for _ in range(5)]

    assert [o.pending for o in outcomes] == [False, True, True, True, True]
    assert await wallet_balance(session_factory, wid) == (Decimal("1000.00"), Decimal(0))
    async with session_factory() as s:
        assert await s.scalar(text("SELECT count(*) FROM balance_adjustment_requests WHERE requested_by = :u "
                                   "AND status = 'pending'"), {"u": sid}) == 4
        audited = await s.scalar(text(
            "SELECT after FROM audit_events WHERE action = 'wallet.adjust_requested' AND entity_id = :i"),
            {"i": str(outcomes[1].request.id)})
    assert audited["window_s"] == 24 * 3600 and audited["threshold"] == "1000"
    await check_invariants(session_factory)


async def test_the_sum_is_per_initiator_across_clients_and_per_client_across_staff(session_factory, make_user):
    one, two = await make_user(), await make_user()
    first, second, third = [await make_user(staff=True) for _ in range(3)]
    w1, w2 = await new_wallet(session_factory, one), await new_wallet(session_factory, two)

    # One staff member, two clients: 600 + 600 > 1000.
    assert not (await ask(session_factory, first, w1, "600.00")).pending
    assert (await ask(session_factory, first, w2, "600.00")).pending
    # Two more staff members, one client: 600 (first, above) + 300 fits, + 300 more does not.
    assert not (await ask(session_factory, second, w1, "300.00")).pending
    assert (await ask(session_factory, third, w1, "-300.00")).pending


async def test_only_the_window_counts(session_factory, make_user):
    uid, sid = await make_user(), await make_user(staff=True)
    wid = await new_wallet(session_factory, uid)
    assert not (await ask(session_factory, sid, wid, "900.00")).pending
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE four_eyes_solo SET created_at = now() - interval '25 hours' "
                             "WHERE initiator_id = :u"), {"u": sid})

    assert not (await ask(session_factory, sid, wid, "900.00")).pending


async def test_a_repeat_of_a_solo_adjustment_replays_it_not_a_request(session_factory, make_user):
    uid, sid = await make_user(), await make_user(staff=True)
    wid = await new_wallet(session_factory, uid)
    k = key()
    first = await ask(session_factory, sid, wid, "800.00", k)
    again = await ask(session_factory, sid, wid, "800.00", k)

    assert first.movement is not None and again.movement is not None
    assert again.movement.entry_id == first.movement.entry_id and again.movement.replayed
    assert await wallet_balance(session_factory, wid) == (Decimal("800.00"), Decimal(0))
    async with session_factory() as s:
        assert await s.scalar(text("SELECT count(*) FROM four_eyes_solo WHERE initiator_id = :u"), {"u": sid}) == 1


async def test_concurrent_small_adjustments_cannot_all_slip_under(session_factory, make_user):
    uid, sid = await make_user(), await make_user(staff=True)
    wid = await new_wallet(session_factory, uid)

    outcomes = await asyncio.gather(*(ask(session_factory, sid, wid, "400.00") for _ in range(6)))

    assert sum(1 for o in outcomes if not o.pending) == 2  # 800 alone; a third would make 1200
    assert await wallet_balance(session_factory, wid) == (Decimal("800.00"), Decimal(0))


async def test_an_approver_related_to_the_requester_is_refused(session_factory, make_user):
    uid, requester, creature = await make_user(), await make_user(staff=True), await make_user(staff=True)
    wid = await new_wallet(session_factory, uid)
    async with session_factory() as s, s.begin():
        await four_eyes.record_provenance(s, subject_id=creature, actor_id=requester, kind="created")
    rid = (await ask(session_factory, requester, wid, "50000.00")).request.id
    before = await snapshot(session_factory)

    with pytest.raises(four_eyes.RelatedApprover):
        await in_transaction(session_factory, lambda s: wallets.approve_adjustment(s, staff(creature), rid))

    assert await snapshot(session_factory) == before
    # The relation holds the other way round too: the creator may not approve its creature's request.
    rid2 = (await ask(session_factory, creature, wid, "50000.00")).request.id
    with pytest.raises(four_eyes.RelatedApprover):
        await in_transaction(session_factory, lambda s: wallets.approve_adjustment(s, staff(requester), rid2))
    async with session_factory() as s:
        assert await s.scalar(text("SELECT count(*) FROM balance_adjustment_requests WHERE id IN (:a, :b) "
                                   "AND status = 'pending'"), {"a": rid, "b": rid2}) == 2


async def test_staff_adjusting_their_own_wallet_always_need_someone_else(session_factory, make_user):
    sid, other = await make_user(staff=True), await make_user(staff=True)
    wid = await new_wallet(session_factory, sid)

    made = await ask(session_factory, sid, wid, "1.00")

    assert made.pending and made.request is not None
    with pytest.raises(wallets.AdjustmentSelfApproval):
        await in_transaction(session_factory, lambda s: wallets.approve_adjustment(s, staff(sid), made.request.id))
    approved = await in_transaction(session_factory, lambda s: wallets.approve_adjustment(
        s, staff(other), made.request.id))
    assert approved.status == "approved"


async def test_concurrent_repeats_of_a_solo_adjustment_post_once_and_file_nothing(session_factory, make_user):
    uid, sid = await make_user(), await make_user(staff=True)
    wid = await new_wallet(session_factory, uid)
    k = key()

    outcomes = await asyncio.gather(*(ask(session_factory, sid, wid, "800.00", k) for _ in range(4)))

    assert all(o.movement is not None for o in outcomes)
    assert len({o.movement.entry_id for o in outcomes}) == 1
    assert await wallet_balance(session_factory, wid) == (Decimal("800.00"), Decimal(0))
    async with session_factory() as s:
        assert await s.scalar(text("SELECT count(*) FROM balance_adjustment_requests WHERE requested_by = :u"),
                              {"u": sid}) == 0
