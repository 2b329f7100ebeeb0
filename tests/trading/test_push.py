"""Pushed deals (MT4 through its sidecar): stored within a second of the fill, the pull catching up what a
cut stream missed, nothing twice."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from arq.connections import RedisSettings, create_pool
from sqlalchemy import text

from domain.platforms.port import BalanceOpKind, NewAccount
from domain.trading.models import TradingServer
from domain.trading.push import follow_stream
from domain.trading.servers import ServerConfig, platform_for, upsert_server
from jobs.trading import follow_deals, schedule_pulls
from tests.conftest import unique
from tests.platforms.conftest import MANAGER_LOGIN, SimServer
from tests.trading.conftest import SECRET


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    server = SimServer(tmp_path_factory.mktemp("push-sidecar"), password=secrets.token_hex(24), seed=4, kind="mt4")
    server.start()
    yield server
    server.stop()


async def _stored(session_factory: Any, server_id: int, ids: list[int], column: str = "deal_id") -> list[int]:
    async with session_factory() as s:
        return list(await s.scalars(text(f"SELECT deal_id FROM trading_deals WHERE server_id = :s AND "
                                         f"{column} = ANY(:d) ORDER BY deal_id"), {"s": server_id, "d": ids}))


async def test_pushed_deals_are_stored_within_a_second_and_the_pull_catches_up(
        session_factory: Any, sidecar: SimServer) -> None:
    async with session_factory() as s, s.begin():
        server_id = await upsert_server(s, SECRET, ServerConfig(unique("push"), sidecar.base_url, MANAGER_LOGIN,
                                                                 sidecar.password, platform="mt4"))
    async with session_factory() as s:
        row = await s.get(TradingServer, server_id)
    assert row is not None
    platform = platform_for(row, SECRET, timeout=3.0, retries=1)
    try:
        login = (await platform.create_account(NewAccount(group="real\\standard", leverage=100, name="P"))).login
        await platform.balance_operation(login, BalanceOpKind.DEPOSIT, Decimal("100000"), "f", str(uuid.uuid4()))
        follower = asyncio.create_task(follow_stream(session_factory, server_id, platform, seconds=12))
        await asyncio.sleep(1.0)  # its first pull is done and the stream open
        lags, opened = [], []
        for _ in range(3):
            sent = time.monotonic()
            [position] = sidecar.ok("POST", "trade", {"login": login, "symbol": "EURUSD", "lots": "0.1"})["positions"]
            while not await _stored(session_factory, server_id, [position], "position_id"):
                assert time.monotonic() - sent < 5, (follower.done() and follower.exception())
                await asyncio.sleep(0.01)
            lags.append(time.monotonic() - sent)
            opened.append(position)
        assert max(lags) < 1.0, lags  # fill to stored, pushed

        sidecar.ok("POST", "faults", {"drop_streams": True})  # cut: what follows comes by the pull, then the stream
        closed = [sidecar.ok("POST", "close", {"position": p})["deal"] for p in opened]
        deadline = time.monotonic() + 8
        while len(await _stored(session_factory, server_id, closed)) < len(closed):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        result = await follower
    finally:
        await platform.aclose()
    assert result.reconnects >= 1 and result.pushed >= 3
    async with session_factory() as s:
        count = await s.scalar(text("SELECT count(*) FROM trading_deals WHERE server_id = :s AND login = :l"),
                               {"s": server_id, "l": login})
    assert count == 1 + 3 + 3  # the deposit, three opens, three closes: each once


async def test_the_worker_follows_a_pushing_server_beside_its_pulls(
        session_factory: Any, settings: Any, sidecar: SimServer) -> None:
    key = settings.secret_key.get_secret_value()
    async with session_factory() as s, s.begin():
        server_id = await upsert_server(s, key, ServerConfig(unique("follow"), sidecar.base_url, MANAGER_LOGIN,
                                                             sidecar.password, platform="mt4"))
    redis = await create_pool(RedisSettings.from_dsn(settings.redis_url))
    ctx: dict[str, Any] = {"session_factory": session_factory, "settings": settings, "redis": redis}
    try:
        assert await schedule_pulls(ctx) >= 1
        follow_id = f"follow:{settings.queue_name}:{server_id}"
        assert await redis.enqueue_job("follow_deals", server_id, _job_id=follow_id,
                                       _queue_name=settings.queue_name) is None  # already queued by the tick
        followed = await follow_deals(ctx, server_id, seconds=1.0)
        assert followed["pulled"] >= 1 and followed["reconnects"] == 0  # its first pull, then the stream
    finally:
        for platform in ctx.get("trading_platforms", {}).values():
            await platform[1].aclose()
        await redis.aclose()
