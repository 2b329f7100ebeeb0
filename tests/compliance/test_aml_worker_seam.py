"""The worker-evaluated monitoring triggers for real: a batch of deals ingested (its transaction only
writes the outbox event) -> the `forexcrm worker` process (relay, arq on the real Redis queue)
evaluates the live trade-batch scenarios per client of the batch -> the decisions read back.

The worker is the real command in its own process, configured only through the environment; it lives
for this module only (its relay publishes every pending outbox event of this database)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.platforms.port import Deal
from domain.shared.db import in_transaction
from domain.shared.settings import Settings
from domain.trading.ingestion import ingest_batch
from tests.compliance.test_aml import document, live, watch  # noqa: F401
from tests.worker_process import WorkerProcess, running_worker


@pytest.fixture(scope="module")
async def worker(settings: Settings, tmp_path_factory: Any) -> AsyncIterator[WorkerProcess]:
    log_path = tmp_path_factory.mktemp("aml-worker") / "worker.log"
    async with running_worker(settings, log_path, FOREXCRM_MAIL_DISABLED="true") as process:
        yield process


def deal(n: int, login: int, at: datetime) -> Deal:
    return Deal(deal=n, login=login, order=n, position_id=n, action=0, entry=0, time=at,
                time_msc=int(at.timestamp() * 1000), symbol="EURUSD", price=Decimal("1.1"), volume=Decimal("0.5"),
                profit=Decimal(0), commission=Decimal(0), storage=Decimal(0), fee=Decimal(0), reason=0,
                contract_size=Decimal(100000), rate_profit=Decimal(1), rate_margin=Decimal(1), comment="",
                external_tag=None)


async def decisions(session_factory: Any, uid: int) -> list[Any]:
    async with session_factory() as s:
        return list((await s.execute(text(
            "SELECT trigger, subject, outcome, event FROM aml_decisions WHERE user_id = :u ORDER BY id"),
            {"u": uid})).all())


async def test_a_trade_batch_is_evaluated_per_client_by_the_worker(
        worker: WorkerProcess, session_factory: Any, live: Any, make_user: Any) -> None:  # noqa: F811
    busy, calm = await make_user(), await make_user()
    await live(document(await watch(session_factory, busy, calm), triggers=["trade_batch"], rules=[
        {"name": "burst", "score": 20, "when": {"cmp": "gte", "left": {"field": "batch_deals"},
                                                 "right": {"const": 3}}}]))
    tag = uuid.uuid4().hex[:8]

    async def setup(s: Any) -> int:
        server_id = int(await s.scalar(text(
            "INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc) "
            "VALUES (:n, 'mt5', 'http://127.0.0.1:9', 1000, 'x') RETURNING id"), {"n": f"seam-{tag}"}))
        await s.execute(text(
            "INSERT INTO trading_accounts (server_id, login, user_id, \"group\", leverage, currency) "
            "VALUES (:s, 1, :b, 'real', 100, 'USD'), (:s, 2, :c, 'real', 100, 'USD')"),
            {"s": server_id, "b": busy, "c": calm})
        return server_id

    server_id = await in_transaction(session_factory, setup)
    now = datetime.now(UTC) - timedelta(minutes=5)
    batch = [deal(10 + i, 1, now + timedelta(seconds=i)) for i in range(4)] + [deal(20, 2, now)]

    async def ingest(s: Any) -> Any:
        return await ingest_batch(s, server_id, batch)

    result = await in_transaction(session_factory, ingest)
    assert result.inserted == 5

    deadline = time.monotonic() + 60
    while not (got := await decisions(session_factory, busy)) or not await decisions(session_factory, calm):
        assert time.monotonic() < deadline, worker.log_text()[-3000:]
        await asyncio.sleep(0.2)
    [(trigger, subject, outcome, event)] = got
    assert (trigger, subject, outcome) == ("trade_batch", f"deal_batch:{result.batch_id}:{busy}", "review")
    assert event["batch_deals"] == "4" and event["batch_volume"] == "2"
    assert [(d.trigger, d.outcome) for d in await decisions(session_factory, calm)] == [("trade_batch", "allow")]


async def test_a_batch_writes_its_monitoring_event_only_while_a_trade_batch_scenario_is_live(
        session_factory: Any, live: Any, make_user: Any) -> None:  # noqa: F811
    """Each half ingests in a transaction rolled back afterwards: nothing reaches the worker, and the
    first half takes every trade-batch scenario off inside it (another test's live one does not count)."""
    uid = await make_user()
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC) - timedelta(minutes=5)

    async def ingest(*, none_live: bool, first_deal: int) -> list[Any]:
        """The monitoring outbox rows the batch wrote."""
        async with session_factory() as s:  # never committed: rolled back when the session closes
            if none_live:
                await s.execute(text(
                    "UPDATE aml_scenarios s SET live_version_id = NULL FROM aml_scenario_versions v "
                    "WHERE v.id = s.live_version_id AND 'trade_batch' = ANY(v.triggers)"))
            server_id = int(await s.scalar(text(
                "INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc) "
                "VALUES (:n, 'mt5', 'http://127.0.0.1:9', 1000, 'x') RETURNING id"), {"n": f"gate-{tag}-{first_deal}"}))
            await s.execute(text(
                "INSERT INTO trading_accounts (server_id, login, user_id, \"group\", leverage, currency) "
                "VALUES (:s, 7, :u, 'real', 100, 'USD')"), {"s": server_id, "u": uid})
            result = await ingest_batch(s, server_id, [deal(first_deal + i, 7, now + timedelta(seconds=i))
                                                        for i in range(2)])
            assert result.inserted == 2 and result.event_id is not None  # the IB/risk event is written either way
            rows = list((await s.execute(text(
                "SELECT job, payload FROM outbox WHERE job = 'aml_evaluate_deal_batch' "
                "AND payload->>'batch_id' = :b"), {"b": str(result.batch_id)})).all())
        return rows

    assert await ingest(none_live=True, first_deal=100) == []
    await live(document(await watch(session_factory, uid), triggers=["trade_batch"], rules=[
        {"name": "any", "score": 20, "when": {"cmp": "gte", "left": {"field": "batch_deals"},
                                               "right": {"const": 1}}}]))
    [(job, payload)] = await ingest(none_live=False, first_deal=200)
    assert job == "aml_evaluate_deal_batch" and set(payload) == {"server_id", "batch_id"}
