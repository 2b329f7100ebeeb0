"""Push: deliveries per second through the production path (domain.notifications: notifications committed with
their outbox events, then per event the delivery plan - one push_deliveries row per device, the idempotency key -
and per row the claim, the localised text, the FCM HTTP v1 adapter's signed request and the logged answer) to the
FCM stand-in on loopback, beside the anchor: a bare httpx loop posting the same messages:send requests (same
bearer, same body shape) to the same stand-in with the same concurrency, in the same run. Also the p99 delay from
commit to the stand-in's acceptance. Stand-in, path and anchor share this process and event loop."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import orjson
from sqlalchemy import text

from bench.harness import bench_services
from domain.identity.sessions import notify
from domain.notifications import delivery
from domain.notifications.push.fcm import FcmClient
from domain.notifications.push.port import PushMessage, PushPort
from domain.shared.db import create_engine, create_session_factory, in_transaction
from domain.shared.settings import Settings
from sandbox.fcm import FcmStandIn
from sandbox.launcher import _generated
from sandbox.serving import free_port, serving

PROJECT, EMAIL = "bench", "push@bench.iam.gserviceaccount.com"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def run(*, quick: bool = False) -> dict[str, Any]:
    users, devices_each, events_each, concurrency, rounds = (10, 2, 5, 10, 1) if quick else (50, 2, 10, 20, 3)
    key = _generated("bench_rsa_key")
    port = free_port()
    stand_in = FcmStandIn(PROJECT, EMAIL, key, base_url=f"http://127.0.0.1:{port}")
    settings = Settings(log_level="WARNING")
    async with bench_services("push") as (db_url, _redis_url), serving(stand_in.app(), port) as fcm_url:
        engine = create_engine(db_url, settings, pool_size=concurrency + 4)
        factory = create_session_factory(engine)
        client = FcmClient(project_id=PROJECT, base_url=fcm_url, token_uri=f"{fcm_url}/token", client_email=EMAIL,
                           private_key=key)
        tag = uuid.uuid4().hex[:8]
        try:
            async def seed(session: Any) -> list[int]:
                ids = [int(await session.scalar(text(
                    "INSERT INTO users (email, email_normalized, is_client) VALUES (:e, :e, true) RETURNING id"),
                    {"e": f"push-{tag}-{i}@bench.example"})) for i in range(users)]
                for uid in ids:
                    for d in range(devices_each):
                        await session.execute(text(
                            "INSERT INTO push_devices (user_id, platform, token, language) VALUES (:u, 'android', "
                            ":t, :l)"), {"u": uid, "t": f"bench-{tag}-{uid}-{d}-" + "x" * 100,
                                         "l": "es" if d else "en"})
                return ids

            user_ids = await in_transaction(factory, seed)
            ports: dict[str, PushPort] = {"fcm": client}
            system_s = anchor_s = 0.0
            delays: list[float] = []
            sent_total = 0
            for _ in range(rounds):  # alternating, so drift in the machine's load hits both alike
                async def commit(session: Any) -> None:
                    for uid in user_ids:
                        for n in range(events_each):
                            await notify(session, uid, "payment.deposit_credited", "Your deposit was credited.",
                                         reference=f"B-{n}", amount="100.00", currency="USD")

                committed = time.monotonic()
                await in_transaction(factory, commit)
                async with factory() as s:
                    events = [(int(r[0]), orjson.loads(r[1]) if isinstance(r[1], str) else r[1])
                              for r in await s.execute(text(
                                  "SELECT id, payload FROM outbox WHERE job = 'deliver_notification' AND "
                                  "published_at IS NULL AND (payload->>'user_id')::bigint = ANY(:u) ORDER BY id"),
                                  {"u": user_ids})]
                before = len(stand_in.received)
                started = time.monotonic()
                queue: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
                for event_id, payload in events:
                    for delivery_id in await delivery.plan(factory, event_id, int(payload["user_id"]),
                                                           str(payload["kind"])):
                        queue.put_nowait((delivery_id, payload))

                async def sender(queue: asyncio.Queue[tuple[int, dict[str, Any]]], committed: float) -> None:
                    while not queue.empty():
                        delivery_id, payload = queue.get_nowait()
                        attempt = await delivery.send(factory, settings, ports, delivery_id, payload)
                        assert attempt.status == "sent", attempt
                        delays.append(time.monotonic() - committed)

                await asyncio.gather(*(sender(queue, committed) for _ in range(concurrency)))
                system_s += time.monotonic() - started
                async with factory() as s, s.begin():
                    await s.execute(text("UPDATE outbox SET published_at = now() WHERE id = ANY(:i)"),
                                    {"i": [e[0] for e in events]})
                made = len(stand_in.received) - before
                assert made == users * devices_each * events_each, made
                sent_total += made

                # The anchor: the same requests (body shape, bearer) from a bare httpx loop, same concurrency.
                bearer = await client._access_token()
                url = f"{fcm_url}/v1/projects/{PROJECT}/messages:send"
                bodies = [orjson.dumps(client.body(PushMessage(
                    token=f"bench-{tag}-{uid}-{d}-" + "x" * 100, title="Deposit credited",
                    body="Your deposit B-1 of $100.00 was credited.", message_id=str(uuid.uuid4()),
                    expires_at=int(time.time()) + 86400, data={"kind": "payment.deposit_credited",
                                                               "notification_id": "1"})))
                    for uid in user_ids for d in range(devices_each) for _ in range(events_each)]
                async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as bare:
                    async def post_all(chunk: list[bytes], url: str, bearer: str) -> None:
                        for b in chunk:
                            r = await bare.post(url, content=b, headers={"authorization": f"Bearer {bearer}",
                                                                         "content-type": "application/json"})
                            assert r.status_code == 200

                    started = time.monotonic()
                    await asyncio.gather(*(post_all(bodies[i::concurrency], url, bearer) for i in range(concurrency)))
                    anchor_s += time.monotonic() - started
        finally:
            await client.aclose()
            await engine.dispose()
    system_rate, anchor_rate = sent_total / system_s, sent_total / anchor_s
    return {
        "devices": users * devices_each, "events_per_round": users * events_each, "rounds": rounds,
        "deliveries": sent_total, "concurrency": concurrency,
        "deliveries_per_s": round(system_rate, 1),
        "anchor_bare_httpx_posts_per_s": round(anchor_rate, 1),
        "ratio": round(system_rate / anchor_rate, 3),
        "p50_commit_to_accepted_ms": round(_percentile(delays, 0.5) * 1000, 1),
        "p99_commit_to_accepted_ms": round(_percentile(delays, 0.99) * 1000, 1),
    }
