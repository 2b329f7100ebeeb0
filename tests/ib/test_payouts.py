"""Payouts, worked by hand: payable -> wallet once per IB and cycle period, minimum, review hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.ib import partners, payouts
from domain.ib.plans import ClauseKind, ClauseSpec, Distribution
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction, utcnow
from domain.shared.errors import DomainError
from tests.ib.conftest import STAFF, World, counts
from tests.ib.test_engine import make_plan

D = Decimal
RUN = system_actor("ib-payout-test")


def test_periods_are_the_last_closed_day_week_and_month() -> None:
    now = datetime(2025, 3, 5, 0, 15, tzinfo=UTC)  # a Wednesday
    day = payouts.last_closed_period("daily", now)
    week = payouts.last_closed_period("weekly", now)
    month = payouts.last_closed_period("monthly", now)
    assert (day.key, day.start, day.end) == ("2025-03-04", datetime(2025, 3, 4, tzinfo=UTC),
                                             datetime(2025, 3, 5, tzinfo=UTC))
    assert (week.key, week.start, week.end) == ("2025-W09", datetime(2025, 2, 24, tzinfo=UTC),
                                                datetime(2025, 3, 3, tzinfo=UTC))
    assert (month.key, month.start, month.end) == ("2025-02", datetime(2025, 2, 1, tzinfo=UTC),
                                                   datetime(2025, 3, 1, tzinfo=UTC))


async def _earning_ib(world: World, lots: str, **settings: Any) -> int:
    """An IB on $5/lot that earned `lots` x 5 in its payable (daily cycle)."""
    ib = await world.ib()
    login = await world.account(await world.client_of(ib))
    await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (D(5),), max_total=D(5))],
                    ibs=(ib,))
    await world.trade([world.deal(login, volume=lots)])
    await in_transaction(world.factory, lambda s: partners.update_settings(
        s, STAFF, ib, partners.SettingsChange(payout_cycle="daily", **settings)))
    return ib


async def _balances(world: World, ib: int) -> tuple[D, D]:
    """(payable owed, wallet) of the IB in USD."""
    async with world.factory() as s:
        rows = dict((await s.execute(text(
            "SELECT a.purpose, sum(b.balance) FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id "
            "WHERE a.owner_id = :ib AND a.currency = 'USD' GROUP BY a.purpose"), {"ib": ib})).all())
    return D(rows.get("ib_payable", 0)), D(rows.get("client_wallet", 0))


async def test_payout_moves_the_payable_to_the_wallet_once_per_period(world: World) -> None:
    # given 3 lots x $5 = 15.00 owed, minimum 10.00
    ib = await _earning_ib(world, "3", payout_min=D("10"))
    tomorrow = utcnow() + timedelta(days=1)  # today's period has closed by then
    made = await in_transaction(world.factory, lambda s: payouts.run_for_ib(s, RUN, ib, now=tomorrow))
    assert [(p.amount, p.status, p.period_key) for p in made] == [(D("15.00"), "paid", utcnow().date().isoformat())]
    assert await _balances(world, ib) == (D(0), D("15.00"))
    # when the job runs again for the same period: nothing new
    before = await counts(world.factory)
    again = await in_transaction(world.factory, lambda s: payouts.run_for_ib(s, RUN, ib, now=tomorrow))
    assert [p.id for p in again] == [made[0].id]
    assert await counts(world.factory) == before and await _balances(world, ib) == (D(0), D("15.00"))


async def test_below_the_minimum_nothing_is_paid(world: World) -> None:
    ib = await _earning_ib(world, "1", payout_min=D("10"))  # 5.00 < 10.00
    made = await in_transaction(world.factory, lambda s: payouts.run_for_ib(
        s, RUN, ib, now=utcnow() + timedelta(days=1)))
    assert made == [] and await _balances(world, ib) == (D("5.00"), D(0))


async def test_held_payout_waits_for_approval_and_is_paid_once(world: World) -> None:
    ib = await _earning_ib(world, "2", payout_hold=True)  # 10.00 owed
    made = await in_transaction(world.factory, lambda s: payouts.run_for_ib(
        s, RUN, ib, now=utcnow() + timedelta(days=1)))
    assert [(p.amount, p.status, p.entry_id) for p in made] == [(D("10.00"), "held", None)]
    assert await _balances(world, ib) == (D("10.00"), D(0))
    # the next day's run does not pay the held amount again
    later = await in_transaction(world.factory, lambda s: payouts.run_for_ib(
        s, RUN, ib, now=utcnow() + timedelta(days=2)))
    assert later == []
    paid = await in_transaction(world.factory, lambda s: payouts.approve(s, STAFF, made[0].id, reason="reviewed"))
    assert paid.status == "paid" and paid.entry_id is not None
    assert await _balances(world, ib) == (D(0), D("10.00"))
    before = await counts(world.factory)
    with pytest.raises(DomainError) as err:
        await in_transaction(world.factory, lambda s: payouts.approve(s, STAFF, made[0].id))
    assert err.value.code == "IB_PAYOUT_NOT_HELD" and await counts(world.factory) == before


async def test_a_held_payout_is_not_released_by_the_ib_nor_by_staff_related_to_them(world: World) -> None:
    """Four eyes (issue 15, item 5): the release is the second pair of eyes on a payout."""
    from dataclasses import replace

    from domain.identity import four_eyes

    ib = await _earning_ib(world, "2", payout_hold=True)
    made = await in_transaction(world.factory, lambda s: payouts.run_for_ib(
        s, RUN, ib, now=utcnow() + timedelta(days=1)))
    related = await world.user()
    async with world.factory() as s, s.begin():
        await four_eyes.record_provenance(s, subject_id=ib, actor_id=related, kind="granted", role="ib_manager")
    before = await counts(world.factory)
    for who, code in ((ib, "SELF_APPROVAL_FORBIDDEN"), (related, "FOUR_EYES_RELATED_APPROVER")):
        actor = replace(STAFF, user_id=who)

        async def release(s: Any, a: Any = actor) -> Any:
            return await payouts.approve(s, a, made[0].id)

        with pytest.raises(DomainError) as err:
            await in_transaction(world.factory, release)
        assert err.value.code == code and await counts(world.factory) == before
