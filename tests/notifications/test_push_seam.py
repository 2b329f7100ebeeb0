"""End to end with the real processes: devices registered through the API, a notification committed as the money
paths commit it (`sessions.notify`: row + outbox event in one transaction), the `forexcrm worker` process relays it
(deliver_notification -> send_push jobs) to the FCM and APNs stand-ins over loopback. The stand-ins check the
signatures (service-account assertion, ES256 provider token); a dead token removes the device; a 503 then 429 is
retried and delivered once; a replayed event sends nothing twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from domain.identity.sessions import notify
from domain.notifications import delivery
from domain.shared.settings import Settings
from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.notifications.push_env import TOPIC, push_stand_ins
from tests.worker_process import running_worker

REGISTER = """mutation($i: RegisterDeviceInput!) { registerMyDevice(input: $i) { device { id } errors { code } } }"""


async def _until(check: Callable[[], Awaitable[bool]], within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _deliveries(session_factory: Any, user_id: int) -> list[tuple[str, str, int | None, int]]:
    async with session_factory() as s:
        rows = await s.execute(text("SELECT provider, status, provider_status, attempts FROM push_deliveries "
                                    "WHERE user_id = :u ORDER BY id"), {"u": user_id})
        return [(r[0], r[1], r[2], r[3]) for r in rows]


async def test_push_end_to_end(http: httpx.AsyncClient, session_factory: Any, settings: Settings,
                               tmp_path: Path) -> None:
    async with push_stand_ins() as env:
        anon = GraphQLClient(http)
        a, b = await register(anon), await register(anon)
        alice, bob = GraphQLClient(http, a["accessToken"]), GraphQLClient(http, b["accessToken"])
        uid_a, uid_b = int(a["viewer"]["id"]), int(b["viewer"]["id"])
        android, iphone, dead_phone = f"fcm-{uid_a}-" + "a" * 30, "ab" * 32, "cd" * 32
        for platform, token, language in (("ANDROID", android, "es"), ("IOS", iphone, "en"),
                                          ("IOS", dead_phone, "en")):
            made = await alice(REGISTER, {"i": {"platform": platform, "token": token, "language": language}})
            assert made["data"]["registerMyDevice"]["errors"] == []
        await bob(REGISTER, {"i": {"platform": "ANDROID", "token": f"fcm-{uid_b}-" + "b" * 30}})
        env.apns.unregistered[dead_phone] = 1
        env.fcm.scripts[android] = [(503, None), (429, 0.0)]

        async with running_worker(settings, tmp_path / "worker.log", **env.process_env()) as worker:
            async with session_factory() as s, s.begin():
                await notify(s, uid_a, "payment.deposit_credited", "Your deposit R-9 of 100.00 USD was credited.",
                             reference="R-9", amount="100.00", currency="USD")

            async def done() -> bool:
                return sorted(d[1] for d in await _deliveries(session_factory, uid_a)) == \
                    ["dead_token", "sent", "sent"]
            try:
                await _until(done)
            except AssertionError:
                lines = [line for line in worker.log_text().splitlines() if "cron:" not in line]
                raise AssertionError(f"{await _deliveries(session_factory, uid_a)}\n" + "\n".join(lines)[-4000:]) from None

        # FCM: the Spanish text, the user's own data only, after a 503 and a 429 (three attempts, sent once).
        mine = [m["message"] for m in env.fcm.received if m["message"]["token"] == android]
        assert len(mine) == 1 and mine[0]["notification"]["title"] == "Depósito acreditado"
        assert "R-9" in mine[0]["notification"]["body"]
        assert set(mine[0]["data"]) == {"kind", "notification_id", "message_id"}
        assert not [m for m in env.fcm.received if m["message"]["token"].startswith(f"fcm-{uid_b}-")]
        # APNs: signed (the stand-in verified the ES256 provider token), the topic, the English text.
        sent = [m for m in env.apns.received if m["token"] == iphone]
        assert len(sent) == 1 and sent[0]["headers"]["apns-topic"] == TOPIC
        assert sent[0]["payload"]["aps"]["alert"]["title"] == "Deposit credited"
        log = await _deliveries(session_factory, uid_a)
        assert ("fcm", "sent", 200, 3) in log and ("apns", "sent", 200, 1) in log and ("apns", "dead_token", 410, 1) \
            in log
        # The dead token's device is gone; the others stay.
        async with session_factory() as s:
            tokens = set(await s.scalars(text("SELECT token FROM push_devices WHERE user_id = :u"), {"u": uid_a}))
        assert tokens == {android, iphone}
        assert await _deliveries(session_factory, uid_b) == []

        # The event replayed (at-least-once relay): nothing planned again, a sent delivery is not sent again.
        async with session_factory() as s:
            event_id, sent_id = (await s.execute(text(
                "SELECT event_id, id FROM push_deliveries WHERE user_id = :u AND status = 'sent' LIMIT 1"),
                {"u": uid_a})).one()
        assert await delivery.plan(session_factory, event_id, uid_a, "payment.deposit_credited") == []
        again = await delivery.send(session_factory, settings, {}, sent_id, {"kind": "payment.deposit_credited"})
        assert again.status == "" and len(await _deliveries(session_factory, uid_a)) == 3
