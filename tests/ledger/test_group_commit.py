"""Group commit: batched movements commit together, a failing item fails alone and leaves no trace."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.ledger import wallets
from domain.ledger.errors import InsufficientFunds
from domain.shared.db import RawChain, create_engine, create_session_factory
from domain.shared.group_commit import GroupCommit
from domain.shared.settings import Settings
from tests.ledger.conftest import check_invariants, client, key, snapshot, wallet_balance
from tests.ledger.test_wallets import deposit, wallet_id


def depositing(uid: int, amount: str, k: str) -> Any:
    return lambda s: wallets.deposit_to_wallet(s, client(uid), user_id=uid, currency="USD",
                                               amount=Decimal(amount), idempotency_key=k)


async def test_concurrent_movements_commit_in_batches_with_exact_balances(session_factory, make_user):
    users = [await make_user() for _ in range(5)]
    group = GroupCommit(session_factory, drains=2)

    moved = await asyncio.gather(*(group.run(depositing(uid, "1.25", key())) for uid in users for _ in range(12)))

    assert len({m.entry_id for m in moved}) == 60 and not any(m.replayed for m in moved)
    for uid in users:
        assert await wallet_balance(session_factory, await wallet_id(session_factory, uid, "USD")) == (
            Decimal("15.00"), Decimal("0"))
    async with session_factory() as s:
        transactions = await s.scalar(text(
            "SELECT count(DISTINCT xmin::text) FROM ledger_entries WHERE id = ANY(:ids)"),
            {"ids": [m.entry_id for m in moved]})
        audited = await s.scalar(text(
            "SELECT count(*) FROM audit_events WHERE action = 'wallet.deposit' AND entity_id = ANY(:ids)"),
            {"ids": [str(m.entry_id) for m in moved]})
    assert transactions < 60  # batched: fewer commits than movements
    assert audited == 60
    await check_invariants(session_factory)


async def test_a_failing_item_fails_alone_and_changes_nothing(session_factory, make_user):
    rich, poor = await make_user(), await make_user()
    await deposit(session_factory, rich, "100")
    await deposit(session_factory, poor, "1")
    rich_wallet = await wallet_id(session_factory, rich, "USD")
    poor_wallet = await wallet_id(session_factory, poor, "USD")
    before = await snapshot(session_factory)
    group = GroupCommit(session_factory, drains=1)
    overdraw_key = key()

    def overdraw(s: Any) -> Any:  # 5.00 out of a wallet holding 1.00
        return wallets.adjust_balance(s, client(poor), wallet_id=poor_wallet, amount=Decimal("-5"),
                                      reason="test", idempotency_key=overdraw_key)

    results = await asyncio.gather(group.run(depositing(rich, "2", key())), group.run(overdraw),
                                   group.run(depositing(rich, "3", key())), return_exceptions=True)

    assert isinstance(results[1], InsufficientFunds)
    assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException)
    assert await wallet_balance(session_factory, rich_wallet) == (Decimal("105"), Decimal("0"))
    assert await wallet_balance(session_factory, poor_wallet) == (Decimal("1"), Decimal("0"))
    after = await snapshot(session_factory)
    # Exactly the two deposits were added: the refused adjustment left no entry, key, audit or outbox row.
    added = {table: len(after[table]) - len(rows) for table, rows in before.items()}
    assert added == {"ledger_accounts": 0, "ledger_balances": 0, "ledger_entries": 2, "ledger_postings": 4,
                     "ledger_holds": 0, "idempotency_keys": 2, "ledger_transfers": 0, "outbox": 2,
                     "audit_events": 2}
    after_by_id = {row[0]: row for row in after["ledger_entries"]}
    assert all(after_by_id[row[0]] == row for row in before["ledger_entries"])  # the earlier entries untouched
    async with session_factory() as s:
        assert not await s.scalar(text("SELECT count(*) FROM idempotency_keys WHERE key = :k"), {"k": overdraw_key})
    await check_invariants(session_factory)


async def test_batches_chained_on_one_connection_go_on_past_a_refused_one(session_factory, make_user):
    rich, poor = await make_user(), await make_user()
    await deposit(session_factory, poor, "1")
    poor_wallet = await wallet_id(session_factory, poor, "USD")
    group = GroupCommit(session_factory, drains=1, max_batch=2)  # one connection, batches one after another

    def overdraw(s: Any) -> Any:
        return wallets.adjust_balance(s, client(poor), wallet_id=poor_wallet, amount=Decimal("-5"),
                                      reason="test", idempotency_key=key())

    work = [depositing(rich, "1", key()) for _ in range(4)] + [overdraw] + [depositing(rich, "1", key()) for _ in range(5)]
    results = await asyncio.gather(*(group.run(fn) for fn in work), return_exceptions=True)

    assert isinstance(results[4], InsufficientFunds)
    moved = [r for i, r in enumerate(results) if i != 4 and not isinstance(r, BaseException)]
    assert len(moved) == 9
    assert await wallet_balance(session_factory, await wallet_id(session_factory, rich, "USD")) == (
        Decimal("9"), Decimal("0"))
    assert await wallet_balance(session_factory, poor_wallet) == (Decimal("1"), Decimal("0"))
    async with session_factory() as s:
        transactions = await s.scalar(text(
            "SELECT count(DISTINCT xmin::text) FROM ledger_entries WHERE id = ANY(:ids)"),
            {"ids": [m.entry_id for m in moved]})
    assert 1 < transactions < 9  # several batches, each committed on its own
    await check_invariants(session_factory)


async def test_a_repeated_key_in_one_batch_has_one_effect(session_factory, make_user):
    uid = await make_user()
    group = GroupCommit(session_factory, drains=1)
    k = key()

    first, second = await asyncio.gather(group.run(depositing(uid, "7", k)), group.run(depositing(uid, "7", k)))

    assert first.entry_id == second.entry_id and [first.replayed, second.replayed] == [False, True]
    assert await wallet_balance(session_factory, await wallet_id(session_factory, uid, "USD")) == (
        Decimal("7"), Decimal("0"))


async def test_an_item_failing_alone_reaches_its_caller(session_factory, make_user):
    group = GroupCommit(session_factory)

    async def broken(s: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await group.run(broken)


async def test_work_that_needs_the_orm_is_replayed_in_an_ordinary_transaction(session_factory, make_user):
    uid = await make_user()
    group = GroupCommit(session_factory)

    async def with_orm(s: Any) -> Any:
        await s.execute(text("SELECT 1"))  # SQLAlchemy Core: refused in the driver-only batch
        return await depositing(uid, "4", key())(s)

    moved = await asyncio.gather(group.run(with_orm), group.run(depositing(uid, "1", key())))

    assert not any(m.replayed for m in moved)
    assert await wallet_balance(session_factory, await wallet_id(session_factory, uid, "USD")) == (
        Decimal("5"), Decimal("0"))
    await check_invariants(session_factory)


async def test_a_lone_refused_item_runs_once_and_changes_nothing(session_factory, make_user):
    uid = await make_user()
    await deposit(session_factory, uid, "1")
    before = await snapshot(session_factory)
    group = GroupCommit(session_factory)
    runs = 0

    async def overdraw(s: Any) -> Any:
        nonlocal runs
        runs += 1
        return await wallets.exchange(s, client(uid), user_id=uid, from_currency="USD", to_currency="EUR",
                                      amount=Decimal("5"), idempotency_key=key())  # driver-only work

    with pytest.raises(InsufficientFunds):
        await group.run(overdraw)
    assert runs == 1
    assert await snapshot(session_factory) == before


async def test_without_a_connection_to_be_had_every_caller_gets_an_answer(services, session_factory, make_user):
    uid = await make_user()
    engine = create_engine(services.database_url, Settings(db_max_overflow=0, db_pool_timeout_s=0.3), pool_size=1)
    held = await engine.raw_connection()  # the pool's only connection
    try:
        group = GroupCommit(create_session_factory(engine), drains=2)
        results = await asyncio.wait_for(asyncio.gather(
            *(group.run(depositing(uid, "1", key())) for _ in range(3)), return_exceptions=True), timeout=20)
        assert all(isinstance(r, Exception) and "QueuePool limit" in str(r) for r in results), results
    finally:
        held.close()
        await engine.dispose()
    assert await wallet_balance(session_factory, await wallet_id(session_factory, uid, "USD")) == (
        Decimal("0"), Decimal("0"))


async def test_work_queued_while_the_drain_is_leaving_still_runs(session_factory, make_user, monkeypatch):
    uid = await make_user()
    leaving = asyncio.Event()
    rollback = RawChain.rollback

    async def slow_rollback(chain: RawChain) -> None:  # the drain's way out, held open for a moment
        leaving.set()
        await asyncio.sleep(0.2)
        await rollback(chain)

    monkeypatch.setattr(RawChain, "rollback", slow_rollback)
    group = GroupCommit(session_factory, drains=1)
    first = asyncio.ensure_future(group.run(depositing(uid, "1", key())))
    await asyncio.wait_for(leaving.wait(), timeout=10)

    # The only drain has committed and, its queue empty, is giving its connection back: a movement
    # queued now must not wait for a drain that will never look at the queue again.
    late = await asyncio.wait_for(group.run(depositing(uid, "2", key())), timeout=10)

    assert (await first).entry_id != late.entry_id
    assert await wallet_balance(session_factory, await wallet_id(session_factory, uid, "USD")) == (
        Decimal("3"), Decimal("0"))
