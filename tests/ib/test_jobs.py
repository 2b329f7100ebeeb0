"""The arq job consumes the ingestion's outbox event; the sweeper finds batches the relay never sent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text

from domain.ib.plans import ClauseKind, ClauseSpec, Distribution
from domain.shared.db import in_transaction
from domain.trading.ingestion import TOPIC_DEALS_INGESTED, ingest_batch
from jobs.ib import ib_process_deal_batch, ib_sweep_deal_batches
from tests.ib.conftest import World
from tests.ib.test_engine import make_plan


async def test_job_and_sweeper_process_each_batch_once(world: World, session_factory: Any) -> None:
    a = await world.ib()
    login = await world.account(await world.client_of(a))
    await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (Decimal(5),), max_total=Decimal(5))],
                    ibs=(a,))
    result = await in_transaction(session_factory, lambda s: ingest_batch(s, world.server_id, [world.deal(login)]))
    async with session_factory() as s:
        event = (await s.execute(text("SELECT id, topic, payload FROM outbox WHERE id = :id"),
                                 {"id": result.event_id})).one()
    ctx = {"session_factory": session_factory}
    first = await ib_process_deal_batch(ctx, event.id, event.topic, event.payload)
    second = await ib_process_deal_batch(ctx, event.id, TOPIC_DEALS_INGESTED, event.payload)
    assert first["fresh"] and first["lines"] == 1 and not second["fresh"]
    # a second batch only the sweeper sees
    await in_transaction(session_factory, lambda s: ingest_batch(s, world.server_id, [world.deal(login)]))
    assert await ib_sweep_deal_batches(ctx) >= 1
    assert await ib_sweep_deal_batches(ctx) == 0
    assert await world.total(a) == Decimal("10.00")
