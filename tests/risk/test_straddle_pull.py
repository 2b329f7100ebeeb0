"""Straddles pulled the way the worker pulls order requests: every few simulated seconds, so most pulls
happen while a straddle's stops are still pending and its cursor has moved past their setup time."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from domain.risk.requests import pull_requests
from domain.shared.actor import system_actor
from tests.platforms.conftest import SimServer
from tests.risk.conftest import NEWS_INTERVAL_MS
from tests.trading.conftest import new_server, sim_platform

PULL_EVERY_S = 10  # the cron pulls order requests every 10 s
RELEASES = 3


@pytest.fixture
def live_like_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    start = 1_767_571_200_000  # Monday 2026-01-05 00:00 UTC: a seeded run comes out the same every time
    server = SimServer(tmp_path_factory.mktemp("straddle-sim"), password=secrets.token_urlsafe(12) + "Aa1!",
                       seed=29, start_ms=start)  # fmt: skip
    server.start()
    server.ok("POST", "populate", {"groups": 2})
    yield server
    server.stop()


async def test_frequent_pulls_find_stops_that_ended_after_the_cursor_passed_them(
    session_factory: Any, live_like_sim: SimServer
) -> None:
    server_id = await new_server(session_factory, live_like_sim.base_url, live_like_sim.password)
    platform = sim_platform(live_like_sim)
    cursors: list[int] = []
    try:
        for _ in range(RELEASES * NEWS_INTERVAL_MS // (PULL_EVERY_S * 1000)):
            live_like_sim.ok("POST", "tick", steps=PULL_EVERY_S, step_ms=1000, activity=2)
            pulled = await pull_requests(session_factory, server_id, platform, system_actor("test"), page_size=500)
            cursors.append(pulled.cursor.time_ms)
    finally:
        await platform.aclose()
    planted = sum(live_like_sim.ok("GET", "ground-truth")["straddles"].values())
    async with session_factory() as s:
        stops = (await s.execute(text(
            "SELECT time_ms, done_ms FROM risk_order_requests WHERE server_id = :s AND order_kind = 'STOP'"
        ), {"s": server_id})).all()  # fmt: skip
    print(f"straddles planted={planted} stop orders pulled={len(stops)}")
    assert planted and len(stops) == 2 * planted
    # The case the look-back exists for: a pull in between placement and end moved the cursor past them.
    assert [r for r in stops if any(r.time_ms < c < r.done_ms for c in cursors)]
