"""Outbox -> relay -> Redis pub/sub -> hub -> subscription, and the hub's bounds."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from httpx_ws import WebSocketDisconnect, WebSocketUpgradeError
from sqlalchemy import func, select

from domain.events.hub import Event, EventHub
from domain.events.outbox import OutboxEvent, emit
from schema.system.resolvers import HEARTBEAT_TOPIC
from tests.wsclient import graphql_ws


async def _outbox_count(session_factory) -> int:
    async with session_factory() as s:
        return int(await s.scalar(select(func.count()).select_from(OutboxEvent)) or 0)


async def test_event_is_not_written_when_the_transaction_rolls_back(session_factory) -> None:
    before = await _outbox_count(session_factory)
    with pytest.raises(RuntimeError):
        async with session_factory() as s, s.begin():
            await emit(s, "test.rollback", {"x": 1})
            raise RuntimeError("the change failed")
    assert await _outbox_count(session_factory) == before


async def test_heartbeat_subscription_over_websocket_end_to_end(live_server, relay, session_factory) -> None:
    emitted: list[int] = []
    async with graphql_ws(live_server.ws_url) as ws:
        await ws.subscribe("subscription { heartbeat { sequence at } }")
        # The subscription reaches the hub asynchronously: emit until one of ours arrives (an event
        # published before the registration is, correctly, not delivered).
        for _ in range(20):
            async with session_factory() as s, s.begin():
                emitted.append(await emit(s, HEARTBEAT_TOPIC, {"at": "2026-01-01T00:00:00+00:00"}))
            try:
                message = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            assert message["type"] == "next", message
            event_id = message["payload"]["data"]["heartbeat"]["sequence"]
            if event_id in emitted:
                break
        else:
            raise AssertionError("no emitted heartbeat reached the subscriber")
    # The relay marks the row published in its own transaction, which may commit just after delivery.
    for _ in range(50):
        async with session_factory() as s:
            row = await s.get(OutboxEvent, event_id)
        assert row is not None
        if row.published_at is not None:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the delivered event was never marked published")


async def test_websocket_from_a_foreign_origin_is_refused(live_server) -> None:
    with pytest.raises((WebSocketDisconnect, WebSocketUpgradeError)):
        async with graphql_ws(live_server.ws_url, origin="https://evil.example"):
            pass


async def test_slow_subscriber_loses_oldest_events_not_the_others(runtime) -> None:
    hub = EventHub(runtime.services.redis, "unused:", queue_size=3)
    async with hub.subscribe("t") as slow, hub.subscribe("t") as other:
        for i in range(10):
            hub._dispatch(Event(i, "t", {}, "now"))
            if other.queue.qsize():
                other.queue.get_nowait()
        assert slow.queue.qsize() == 3 and slow.dropped == 7
        assert [slow.queue.get_nowait().id for _ in range(3)] == [7, 8, 9]
        assert other.dropped == 0


async def test_hub_reconnects_after_redis_drops_the_connection(runtime, settings) -> None:
    from redis.asyncio import Redis

    prefix = settings.channel_prefix + "reconnect:"
    name = "hub-reconnect-" + uuid.uuid4().hex[:8]
    own = Redis.from_url(settings.redis_url, client_name=name)
    hub = EventHub(own, prefix, queue_size=10)
    await hub.start()
    try:
        await asyncio.wait_for(hub.connected.wait(), 5)
        clients = await runtime.services.redis.client_list()
        ids = [c["id"] for c in clients if c.get("name") == name]
        assert ids, "the hub's connection is visible"
        for cid in ids:  # drop only this hub's connection, not other test workers'
            await runtime.services.redis.execute_command("CLIENT", "KILL", "ID", cid)
        async with hub.subscribe("t") as sub:
            deadline = asyncio.get_running_loop().time() + 10
            while sub.queue.empty():
                assert asyncio.get_running_loop().time() < deadline, "hub did not reconnect"
                await runtime.services.redis.publish(prefix + "t", Event(1, "t", {}, "now").to_json())
                await asyncio.sleep(0.2)
    finally:
        await hub.stop()
        await own.aclose()
