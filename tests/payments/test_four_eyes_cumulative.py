"""Withdrawal four eyes (issue 15, item 5): the threshold counts what this client (or requester)
withdrew on a single approval within the window; the second approver is unrelated to the first."""

from __future__ import annotations

import pytest

from domain.identity import four_eyes
from tests.payments.conftest import paid_card_deposit, snapshot
from tests.payments.test_withdrawals import approve, request


async def test_small_withdrawals_add_up_to_the_threshold(configured, session_factory, settings, make_user):
    uid, approver, second = await make_user(), await make_user(staff=True), await make_user(staff=True)
    await paid_card_deposit(session_factory, settings, configured, uid, "2000.00")
    await paid_card_deposit(session_factory, settings, configured, uid, "2000.00")

    a = await request(session_factory, settings, uid, "600.00", key="a")
    b = await request(session_factory, settings, uid, "600.00", key="b")
    _, done_a = await approve(session_factory, approver, a.id)
    _, done_b = await approve(session_factory, approver, b.id)

    assert done_a is True and done_b is False  # 600 + 600 reaches 1000: a second approver
    _, done_b = await approve(session_factory, second, b.id)
    assert done_b is True


async def test_a_second_approver_related_to_the_first_is_refused(configured, session_factory, settings,
                                                                  make_user):
    uid, first, creature, other = (await make_user(), await make_user(staff=True), await make_user(staff=True),
                                   await make_user(staff=True))
    await paid_card_deposit(session_factory, settings, configured, uid, "2000.00")
    async with session_factory() as s, s.begin():
        await four_eyes.record_provenance(s, subject_id=creature, actor_id=first, kind="granted", role="finance")
    payment = await request(session_factory, settings, uid, "1500.00", key="big")
    assert (await approve(session_factory, first, payment.id))[1] is False
    before = await snapshot(session_factory)

    with pytest.raises(four_eyes.RelatedApprover):
        await approve(session_factory, creature, payment.id)

    assert await snapshot(session_factory) == before
    assert (await approve(session_factory, other, payment.id))[1] is True


