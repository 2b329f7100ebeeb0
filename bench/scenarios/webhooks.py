"""Outbound webhooks: deliveries per second from the delivery path (domain.webhooks: the fan-out of committed
messages to endpoints, per-endpoint ordered delivery under its Redis lock, Standard Webhooks signing, the guarded
HTTP client, an attempt row and a delivery update per message) to a loopback receiver, beside the anchor: a bare
httpx POST loop with the same signing, the same concurrency (one request in flight per endpoint) and the same
number of requests to the same receiver, in the same run. Also the p99 delay from the events' commit to their
delivery. Receiver, deliverer and anchor share this process and event loop (as a worker shares its CPU)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bench.harness import bench_services
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import create_engine, create_session_factory, in_transaction
from domain.shared.settings import Settings
from domain.webhooks import catalogue, service
from domain.webhooks.delivery import Deliverer, fan_out
from domain.webhooks.guard import guarded_client
from domain.webhooks.signing import headers, new_secret
from sandbox.serving import serving

ACTOR = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"webhooks.manage"}))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def run(*, quick: bool = False) -> dict[str, Any]:
    endpoints, events, rounds = (10, 100, 1) if quick else (20, 250, 3)
    arrived: dict[str, float] = {}

    async def receive(request: Request) -> PlainTextResponse:
        await request.body()
        arrived[request.headers.get("webhook-id", "") + request.url.path] = time.monotonic()
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/{name:path}", receive, methods=["POST"])])
    settings = Settings(webhook_allow_private_networks=True, log_level="WARNING")
    async with bench_services("webhooks") as (db_url, redis_url), serving(app) as base_url:
        engine = create_engine(db_url, settings, pool_size=endpoints + 4)
        factory = create_session_factory(engine)
        redis = Redis.from_url(redis_url)
        client = guarded_client(settings, max_connections=endpoints * 2)
        try:
            async def register(session: Any) -> list[int]:
                made = [await service.register(session, settings, ACTOR, url=f"{base_url}/e{i}",
                                               event_types=["payment.deposit_credited"]) for i in range(endpoints)]
                return [m.endpoint.id for m in made]

            ids = await in_transaction(factory, register)

            async def schedule(endpoint_id: int, when: Any) -> None:
                return None

            deliverer = Deliverer(factory, settings, redis, client, schedule)

            async def publish(session: Any) -> None:
                for i in range(events):
                    await catalogue.publish(session, "payment.deposit_credited", {
                        "payment_id": i, "reference": f"bench-{i}", "user_id": 1, "amount": "100.00",
                        "currency": "USD", "status": "succeeded"})

            secret = new_secret()
            body = (b'{"type":"payment.deposit_credited","timestamp":"2026-12-05T00:00:00.000+00:00","data":'
                    b'{"payment_id":1,"reference":"bench-1","user_id":1,"amount":"100.00","currency":"USD",'
                    b'"status":"succeeded"}}')
            system_s = anchor_s = 0.0
            delays: list[float] = []
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=endpoints * 2)) as bare:
                async def sender(i: int) -> None:
                    for n in range(events):
                        sent = headers([secret], f"msg_anchor{n}", int(time.time()), body)
                        response = await bare.post(f"{base_url}/anchor{i}", content=body, headers=sent)
                        assert response.status_code == 200

                for _ in range(rounds):  # alternating, so drift in the machine's load hits both alike
                    # The system under test: commit, fan out, deliver every endpoint's queue concurrently.
                    arrived.clear()
                    committed = time.monotonic()
                    await in_transaction(factory, publish)
                    started = time.monotonic()
                    await fan_out(factory, redis, settings.redis_namespace)
                    made = sum(await asyncio.gather(*(deliverer.run(e) for e in ids)))
                    system_s += time.monotonic() - started
                    delays += [t - committed for t in arrived.values()]
                    assert made == endpoints * events, (made, endpoints * events)
                    # The anchor: the same signed requests from a bare httpx loop, one in flight per endpoint.
                    started = time.monotonic()
                    await asyncio.gather(*(sender(i) for i in range(endpoints)))
                    anchor_s += time.monotonic() - started
        finally:
            await client.aclose()
            await redis.aclose()
            await engine.dispose()
    deliveries = endpoints * events * rounds
    system_rate, anchor_rate = deliveries / system_s, deliveries / anchor_s
    return {
        "endpoints": endpoints, "events_per_round": events, "rounds": rounds, "deliveries": deliveries,
        "deliveries_per_s": round(system_rate, 1),
        "anchor_bare_httpx_posts_per_s": round(anchor_rate, 1),
        "ratio": round(system_rate / anchor_rate, 3),
        "p50_commit_to_delivery_ms": round(_percentile(delays, 0.5) * 1000, 1),
        "p99_commit_to_delivery_ms": round(_percentile(delays, 0.99) * 1000, 1),
    }
