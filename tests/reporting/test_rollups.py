"""Rollups kept incrementally (per ingested batch, per ledger entry) equal a rebuild from the raw rows."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from domain.ledger.accounts import Purpose, house_account, wallet_for
from domain.ledger.holds import capture_hold, place_hold
from domain.ledger.wallets import deposit_to_wallet
from domain.reporting import rollups
from domain.reporting.errors import ReportPeriodInvalid
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from jobs.reporting import apply_batches, sweep, sweep_clients
from tests.reporting.world import DAY0, deal_rollup, ingest, make_world, random_deals

ACTOR = system_actor("tests.reporting")


async def client_rollup(session_factory: Any, user_ids: list[int]) -> list[tuple[Any, ...]]:
    async with session_factory() as s:
        return [tuple(r) for r in (await s.execute(text(
            "SELECT user_id, day, deals, volume_lots, net_revenue_usd, deposits, deposits_usd, withdrawals_usd "
            "FROM reporting_client_daily WHERE user_id = ANY(:u) ORDER BY 1, 2"), {"u": user_ids})).all()]


async def _rebuild(session_factory: Any, since: Any, until: Any) -> rollups.RebuildResult:
    return await in_transaction(session_factory, lambda s: rollups.rebuild(s, ACTOR, since, until))


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(seed=st.integers(0, 2**32 - 1), sizes=st.lists(st.integers(1, 60), min_size=1, max_size=5),
       repeat=st.booleans())
async def test_incremental_rollups_equal_a_rebuild_from_raw_deals(session_factory: Any, seed: int, sizes: list[int],
                                                                   repeat: bool) -> None:
    # given random deals over three days ingested in random batches (one batch ingested twice)
    world = await make_world(session_factory)
    rng = random.Random(seed)
    for size in sizes:
        batch = random_deals(world, rng, size)
        await ingest(session_factory, world, batch)
        if repeat:
            await ingest(session_factory, world, batch)  # a redelivered page: nothing new
    # when the worker sweeps (twice: the second adds nothing)
    await sweep(session_factory)
    await sweep(session_factory)
    incremental = await deal_rollup(session_factory, world.server_id)
    per_client = await client_rollup(session_factory, world.user_ids)
    # then the rollups hold every priced buy/sell deal once, and each client's deals (of its own accounts)
    trades = [d for d in world.deals if d.action in (0, 1)]
    assert sum(r[5] for r in incremental) == len(trades)
    owner = dict(zip(world.logins, world.user_ids, strict=True))
    per_user: dict[int, int] = {}
    for d in trades:
        if d.login in owner:
            per_user[owner[d.login]] = per_user.get(owner[d.login], 0) + 1
    assert {u: sum(r[2] for r in per_client if r[0] == u) for u in per_user} == per_user
    # the client rollup's net revenue is the revenue rollup's, for the deals with an account
    assert sum(r[4] for r in per_client) == sum(r[8] + r[9] + r[10] + r[11] + r[13] for r in incremental
                                                if r[4] in (world.desk, world.other_desk))
    # and a rebuild of the period from the raw deals gives the same rows
    await _rebuild(session_factory, DAY0 - timedelta(days=1), DAY0 + timedelta(days=4))
    assert await deal_rollup(session_factory, world.server_id) == incremental
    assert await client_rollup(session_factory, world.user_ids) == per_client
    # and a sweep after the rebuild adds nothing again
    await sweep(session_factory)
    assert await deal_rollup(session_factory, world.server_id) == incremental


async def test_a_rebuild_adds_batches_the_worker_has_not_seen_once(session_factory: Any) -> None:
    # given a batch ingested and not swept yet
    world = await make_world(session_factory)
    await ingest(session_factory, world, random_deals(world, random.Random(5), 40))
    # when the period is rebuilt, then the worker sweeps
    await _rebuild(session_factory, DAY0, DAY0 + timedelta(days=3))
    rebuilt = await deal_rollup(session_factory, world.server_id)
    await sweep(session_factory)
    # then the batch is counted once
    assert await deal_rollup(session_factory, world.server_id) == rebuilt
    assert sum(r[5] for r in rebuilt) == sum(1 for d in world.deals if d.action in (0, 1))


async def test_the_client_sweep_counts_each_queued_batch_once(session_factory: Any) -> None:
    # given batches added to the revenue rollup, their per-client figures queued for the sweep
    world = await make_world(session_factory)
    rng = random.Random(11)
    for size in (30, 25):
        await ingest(session_factory, world, random_deals(world, rng, size))
    await apply_batches(session_factory)
    assert await client_rollup(session_factory, world.user_ids) == []
    # when two sweeps race, then a third finds nothing left
    await asyncio.gather(sweep_clients(session_factory), sweep_clients(session_factory))
    swept = await client_rollup(session_factory, world.user_ids)
    await sweep_clients(session_factory)
    assert await client_rollup(session_factory, world.user_ids) == swept
    # then each client's deals are counted once, as a rebuild from the raw deals counts them
    owner = dict(zip(world.logins, world.user_ids, strict=True))
    assert sum(r[2] for r in swept) == sum(1 for d in world.deals if d.action in (0, 1) and d.login in owner)
    await _rebuild(session_factory, DAY0 - timedelta(days=1), DAY0 + timedelta(days=4))
    assert await client_rollup(session_factory, world.user_ids) == swept
    # and a batch still queued when its period is rebuilt is counted once (the rebuild takes it first)
    await ingest(session_factory, world, random_deals(world, rng, 20))
    await apply_batches(session_factory)
    await _rebuild(session_factory, DAY0 - timedelta(days=1), DAY0 + timedelta(days=4))
    rebuilt = await client_rollup(session_factory, world.user_ids)
    await sweep(session_factory)
    assert await client_rollup(session_factory, world.user_ids) == rebuilt
    assert sum(r[2] for r in rebuilt) == sum(1 for d in world.deals if d.action in (0, 1) and d.login in owner)


async def test_revenue_components_follow_the_book_markup_and_rate(session_factory: Any) -> None:
    # given one closing deal in the B group (USD account, 0.7 pip markup), one opening deal there
    world = await make_world(session_factory)
    rng = random.Random(1)
    deals = random_deals(world, rng, 2)
    b_login = world.logins[4]  # group rep\b, USD, no override
    import dataclasses

    close = dataclasses.replace(deals[0], login=b_login, symbol="EURUSD", action=1, entry=1, volume=Decimal(2),
                                price=Decimal("1.085"), contract_size=Decimal(100_000), profit=Decimal("-150"),
                                commission=Decimal("-7"), storage=Decimal("-1.5"), fee=Decimal("-0.5"))
    open_ = dataclasses.replace(deals[1], login=b_login, symbol="EURUSD", action=0, entry=0, volume=Decimal(1),
                                price=Decimal("1.085"), contract_size=Decimal(100_000), profit=Decimal(0),
                                commission=Decimal("-3.5"), storage=Decimal(0), fee=Decimal(0), time=close.time,
                                time_msc=close.time_msc)
    await ingest(session_factory, world, [close, open_])
    await sweep(session_factory)
    rows = await deal_rollup(session_factory, world.server_id)
    assert len(rows) == 1
    _day, symbol, grp, book, desk, n, lots, _notional, markup, commission, fee, swap, client, bbook, unpriced = rows[0]
    assert (symbol, grp, book, desk, n, unpriced) == ("EURUSD", "rep\\b", "B", world.desk, 2, 0)
    assert lots == Decimal(3)
    assert markup == Decimal("7")  # 1 lot x 100,000 x 0.7 pip x 0.0001 on the opening deal
    assert (commission, fee, swap) == (Decimal("10.5"), Decimal("0.5"), Decimal("1.5"))
    assert client == Decimal(-150) and bbook == Decimal(150)


async def test_money_rollups_equal_a_rebuild_and_count_first_deposits_once(session_factory: Any) -> None:
    # given deposits of clients on the world's desk, swept as they come
    world = await make_world(session_factory)
    for i, uid in enumerate(world.user_ids[:4]):
        for k in range(2):
            await in_transaction(session_factory, partial(
                deposit_to_wallet, actor=ACTOR, user_id=uid, currency="USD", amount=Decimal(100 + 10 * i + k),
                idempotency_key=f"rep-{uid}-{k}"))
        await sweep(session_factory)
    # and two withdrawals paid out (the hold captured as the payments context does)
    for uid, amount in ((world.user_ids[0], Decimal(30)), (world.user_ids[1], Decimal("12.5"))):
        await in_transaction(session_factory, partial(_withdraw, user_id=uid, amount=amount))
    await sweep(session_factory)

    async def mine() -> tuple[list[Any], list[Any]]:
        async with session_factory() as s:
            money = [tuple(r) for r in (await s.execute(text(
                "SELECT day, direction, method, currency, country, desk, movements, amount, amount_usd, unpriced "
                "FROM reporting_money_daily WHERE desk IN (:a, :b) ORDER BY 1, 2, 3, 4, 5, 6"),
                {"a": world.desk, "b": world.other_desk})).all()]
            ftd = [tuple(r) for r in (await s.execute(text(
                "SELECT user_id, entry_id, day, method, currency, country, desk, amount, amount_usd "
                "FROM reporting_first_deposits WHERE user_id = ANY(:u) ORDER BY user_id"),
                {"u": world.user_ids})).all()]
        return money, ftd

    money, ftd = await mine()
    clients_before = await client_rollup(session_factory, world.user_ids)
    assert [(r[0], r[5], r[6], r[7]) for r in clients_before] == [
        (u, 2, Decimal(200 + 20 * i + 1), {0: Decimal(30), 1: Decimal("12.5")}.get(i, Decimal(0)))
        for i, u in enumerate(world.user_ids[:4])]
    deposits = [r for r in money if r[1] == "deposit"]
    withdrawals = [r for r in money if r[1] == "withdrawal"]
    assert sum(r[6] for r in deposits) == 8
    assert sum(r[7] for r in deposits) == sum(Decimal(100 + 10 * i + k) for i in range(4) for k in range(2))
    assert sum(r[6] for r in withdrawals) == 2 and sum(r[7] for r in withdrawals) == Decimal("42.5")
    assert [r[7] for r in ftd] == [Decimal(100 + 10 * i) for i in range(4)]
    # when the day is rebuilt from the postings, then nothing differs
    today = ftd[0][2]
    await _rebuild(session_factory, today, today + timedelta(days=1))
    assert await mine() == (money, ftd)
    assert await client_rollup(session_factory, world.user_ids) == clients_before


async def _withdraw(session: Any, *, user_id: int, amount: Decimal) -> None:
    wallet = await wallet_for(session, user_id, "USD")
    hold = await place_hold(session, wallet, amount, ref_kind="withdrawal", ref_id=f"rep-w-{user_id}")
    counter = await house_account(session, Purpose.PSP_CLEARING, "USD", provider="test")
    await capture_hold(session, ACTOR, wallet, hold.id, counter, ref_kind="withdrawal", ref_id=f"rep-w-{user_id}",
                       idempotency_key=f"rep-w-{user_id}")


async def test_a_reversed_or_endless_period_is_refused_and_changes_nothing(session_factory: Any) -> None:
    world = await make_world(session_factory)
    await ingest(session_factory, world, random_deals(world, random.Random(3), 20))
    await sweep(session_factory)
    before = await deal_rollup(session_factory, world.server_id)
    for since, until in ((DAY0, DAY0), (DAY0 + timedelta(days=2), DAY0), (DAY0, DAY0 + timedelta(days=4000))):
        try:
            await _rebuild(session_factory, since, until)
        except ReportPeriodInvalid as exc:
            assert exc.code == "REPORT_PERIOD_INVALID"
        else:
            raise AssertionError("accepted")
    assert await deal_rollup(session_factory, world.server_id) == before
    async with session_factory() as s:
        assert await s.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'reporting.rollups_rebuilt' "
                                   "AND entity_id = :e"), {"e": f"{DAY0.isoformat()}/{DAY0.isoformat()}"}) == 0
