"""A movement's audit event travels in its posting statement: the same event, the same chain, and
nothing appended when nothing is posted."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy import text

from domain.audit.chain import LOCK_NAMESPACE, PARTITIONS, link_hash_v2
from domain.audit.verify import verify
from domain.ledger import wallets
from domain.shared.db import asyncpg_dsn, in_transaction
from tests.audit.conftest import content_of
from tests.ledger.conftest import check_invariants, client, key, snapshot
from tests.ledger.test_wallets import deposit


async def _events(session_factory: Any, entry_ids: list[int]) -> list[Any]:
    async with session_factory() as s:
        url = s.bind.url.render_as_string(hide_password=False)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return list(await conn.fetch("SELECT * FROM audit_events WHERE entity_type = 'ledger_entry' "
                                     "AND entity_id = ANY($1::text[]) ORDER BY id", [str(i) for i in entry_ids]))
    finally:
        await conn.close()


async def test_the_event_names_its_entry_and_links_into_the_chain(session_factory, make_user):
    uid = await make_user()
    moved = await deposit(session_factory, uid, "12.34")
    exchanged = await in_transaction(session_factory, lambda s: wallets.exchange(
        s, client(uid), user_id=uid, from_currency="USD", to_currency="EUR", amount=Decimal("2"),
        idempotency_key=key()))

    deposit_event, exchange_event = await _events(session_factory, [moved.entry_id, exchanged.entry_id])
    assert deposit_event["action"] == "wallet.deposit" and deposit_event["actor_user_id"] == uid
    assert deposit_event["after"] is not None and "12.34" in str(deposit_event["after"])
    assert exchange_event["action"] == "wallet.exchange" and exchange_event["entity_id"] == str(exchanged.entry_id)
    for row in (deposit_event, exchange_event):
        assert bytes(row["hash"]) == link_hash_v2(bytes(row["prev_hash"]), content_of(row))
    async with session_factory() as s:
        report = await verify(s)
    assert report.ok, report.problems


async def test_a_repeat_appends_nothing(session_factory, make_user):
    uid = await make_user()
    k = key()
    first = await deposit(session_factory, uid, "5", k=k)
    before = await snapshot(session_factory)

    again = await deposit(session_factory, uid, "5", k=k)

    assert again.replayed and again.entry_id == first.entry_id
    assert await snapshot(session_factory) == before  # no entry, no event, no outbox row
    assert len(await _events(session_factory, [first.entry_id])) == 1


async def test_every_chain_partition_busy_the_event_waits_for_one(session_factory, make_user, settings):
    """The folded append takes only a free partition; with none free the posting still goes in and
    its event queues for a partition on its own, as a lone audit.record would."""
    uid = await make_user()
    blocker = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        for p in range(PARTITIONS):
            await blocker.execute("SELECT pg_advisory_lock($1, $2)", LOCK_NAMESPACE, p)
        pending = asyncio.create_task(deposit(session_factory, uid, "3"))
        await asyncio.sleep(0.5)
        assert not pending.done()  # posted, its event queued behind the held partitions
        await blocker.execute("SELECT pg_advisory_unlock_all()")
        moved = await asyncio.wait_for(pending, 10)
    finally:
        await blocker.close()
    (event,) = await _events(session_factory, [moved.entry_id])
    assert event["action"] == "wallet.deposit"
    async with session_factory() as s:
        assert (await verify(s)).ok
        entries = await s.scalar(text("SELECT count(*) FROM ledger_entries WHERE id = :id"), {"id": moved.entry_id})
    assert entries == 1
    await check_invariants(session_factory)


async def test_entry_ids_are_never_reused_nor_long_held(session_factory, make_user, monkeypatch):
    """Ids come a block at a time; a block left unused for a while is given up, so an entry written
    now never takes an id drawn long before entries other processes wrote since."""
    from domain.ledger import posting

    uid = await make_user()
    first = await deposit(session_factory, uid, "1")
    async with session_factory() as s:
        taken_elsewhere = await s.scalar(text("SELECT nextval('ledger_entries_id_seq')"))  # another process
    monkeypatch.setattr(posting, "ID_BLOCK_TTL_S", 0.0)
    second = await deposit(session_factory, uid, "1")
    assert second.entry_id > taken_elsewhere > first.entry_id


async def test_movements_sharing_a_transaction_share_its_chain_partition(session_factory, make_user):
    """The first folded append takes a partition; later ones in the same transaction queue on it
    (no correlation id here, so nothing else would put them on the same one)."""
    uid = await make_user()

    async def two(s: Any) -> list[int]:
        moved = [await wallets.deposit_to_wallet(s, client(uid), user_id=uid, currency="USD",
                                                 amount=Decimal("1"), idempotency_key=key()) for _ in range(2)]
        return [m.entry_id for m in moved]

    ids = await in_transaction(session_factory, two)
    first, second = await _events(session_factory, ids)
    assert first["partition"] == second["partition"] and second["seq"] == first["seq"] + 1
