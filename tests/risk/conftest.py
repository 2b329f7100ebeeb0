"""Risk fixtures: one simulator (manual clock) with behaviour profiles, pulled once into one server
row and run through the risk step batch by batch, as the worker would."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from sqlalchemy import text

from domain.risk.batch import BatchOutcome, RiskBatch, process_batch
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.trading.ingestion import TOPIC_DEALS_INGESTED
from tests.platforms.conftest import SimServer

NEWS_INTERVAL_MS = 300_000
MINUTES = 30


@pytest.fixture(scope="session")
def risk_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    # Seeded and started at a fixed point of the week (the latest Monday 00:00 UTC): the news grid,
    # sessions and swap days fall the same way, so the same deals and figures come out on every run.
    day = 86_400_000
    today = int(time.time() * 1000) // day
    start = (today - (today + 3) % 7) * day  # epoch day 0 was a Thursday
    server = SimServer(tmp_path_factory.mktemp("risk-sim"), password=secrets.token_urlsafe(12) + "Aa1!", seed=23,
                       start_ms=start)
    server.start()
    server.ok("POST", "populate", {"groups": 3})
    for _ in range(MINUTES):
        server.ok("POST", "tick", steps=60, step_ms=1000, activity=2)
    yield server
    server.stop()


def calendar_csv(start_ms: int, end_ms: int) -> str:
    """The stand-in calendar: the simulator releases news every 5 simulated minutes."""
    from datetime import UTC, datetime

    lines = ["time_utc,currency,impact,title"]
    t = (start_ms // NEWS_INTERVAL_MS) * NEWS_INTERVAL_MS
    while t <= end_ms + NEWS_INTERVAL_MS:
        at = datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        lines.append(f"{at},USD,high,Simulated release {t}")
        t += NEWS_INTERVAL_MS
    return "\n".join(lines) + "\n"


async def process_pending(factory: Any, server_id: int) -> list[BatchOutcome]:
    """What the risk sweeper does: every ingested batch of this server not yet processed."""
    async with factory() as s:
        rows = (await s.execute(text(
            "SELECT payload FROM outbox WHERE topic = :t AND CAST(payload->>'server_id' AS bigint) = :s "
            "AND NOT EXISTS (SELECT 1 FROM risk_batches b WHERE b.batch_id = CAST(payload->>'batch_id' AS uuid)) "
            "ORDER BY id"), {"t": TOPIC_DEALS_INGESTED, "s": server_id})).all()  # fmt: skip
    out = []
    actor = system_actor("risk.test")
    for row in rows:
        batch = RiskBatch.from_event(dict(row.payload))
        assert batch is not None
        out.append(await in_transaction(factory, partial(process_batch, actor=actor, batch=batch)))
    return out


@dataclass
class Pulled:
    server_id: int
    truth: dict[int, str]
    hedge_pairs: list[list[int]]
    account_ids: dict[int, int]  # login -> trading_accounts.id
