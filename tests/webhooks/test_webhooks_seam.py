"""Outbound webhooks end to end: staff register an endpoint through the API; an event enters the outbox; the real
`forexcrm worker` process (relay, arq on Redis) fans it out and POSTs it to a real receiver on loopback, which
verifies the Standard Webhooks signature. Retries, order per endpoint, rotation, disabling after the schedule,
replay and the delivery log, all through the real seams. The API and worker allow loopback receivers through the
explicit setting (FOREXCRM_WEBHOOK_ALLOW_PRIVATE_NETWORKS), as tests must."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from domain.shared.db import in_transaction
from domain.shared.settings import Settings
from domain.webhooks import catalogue
from domain.webhooks.signing import verify
from tests.conftest import serve
from tests.identity.helpers import count
from tests.identity.staff import StaffLogin, make_staff
from tests.webhooks.receiver import Receiver, receiver
from tests.worker_process import WorkerProcess, running_worker

REGISTER = """mutation($i: RegisterWebhookEndpointInput!) { registerWebhookEndpoint(input: $i) {
  endpoint { id databaseId url eventTypes enabled } secret errors { field code } } }"""
ROTATE = """mutation($e: ID!) { rotateWebhookSecret(endpointId: $e) {
  endpoint { previousSecretValidUntil } secret errors { code } } }"""
ENABLE = """mutation($e: ID!, $on: Boolean!) { setWebhookEndpointEnabled(endpointId: $e, enabled: $on) {
  endpoint { enabled disabledReason } errors { code } } }"""
REPLAY = """mutation($e: ID!, $m: String!) { replayWebhookMessage(endpointId: $e, messageId: $m) { queued errors { code } } }"""
LOG = """query($e: ID!) { webhookDeliveryAttempts(endpointId: $e, first: 50) { edges { node {
  messageId eventType statusCode durationMs responseExcerpt error } } } }"""
ENDPOINT = """query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { enabled disabledReason } } }"""
RETRIES = [0.3, 0.3, 0.3]


@pytest.fixture(scope="module")
async def hooks_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_private_networks": True})


@pytest.fixture(scope="module")
async def api(hooks_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(hooks_settings) as live, httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
async def worker(hooks_settings: Settings, tmp_path_factory: Any) -> AsyncIterator[WorkerProcess]:
    log_path = tmp_path_factory.mktemp("webhooks-worker") / "worker.log"
    async with running_worker(hooks_settings, log_path, FOREXCRM_WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
                              FOREXCRM_WEBHOOK_RETRY_SCHEDULE_S=orjson.dumps(RETRIES).decode(),
                              FOREXCRM_WEBHOOK_TIMEOUT_S="3") as process:
        yield process


@pytest.fixture(scope="module")
async def hook_receiver() -> AsyncIterator[Receiver]:
    async with receiver() as found:
        yield found


@pytest.fixture
async def admin(api: httpx.AsyncClient, session_factory: Any, hooks_settings: Settings) -> StaffLogin:
    return await make_staff(api, session_factory, hooks_settings, ["administrator"])


async def _register(admin: StaffLogin, url: str, types: list[str] | None = None) -> dict[str, Any]:
    made = await admin.client(REGISTER, {"i": {"url": url, "eventTypes": types or ["payment.deposit_credited"],
                                               "description": "test receiver"}})
    payload: dict[str, Any] = made["data"]["registerWebhookEndpoint"]
    assert payload["errors"] == [], payload
    assert payload["secret"].startswith("whsec_")
    return payload


async def _publish(session_factory: Any, tag: str, n: int = 1, event_type: str = "payment.deposit_credited") -> None:
    async def txn(session: Any) -> None:
        for i in range(n):
            await catalogue.publish(session, event_type, {"payment_id": i, "reference": f"{tag}-{i}",
                                                           "amount": "10.00", "currency": "USD", "status": "succeeded"})

    await in_transaction(session_factory, txn)


def _signed_by(received: Any, secret: str) -> bool:
    h = received.headers
    return verify(secret, h["webhook-id"], int(h["webhook-timestamp"]), received.body, h["webhook-signature"])


async def _disable(admin: StaffLogin, endpoint_id: str) -> None:
    await admin.client(ENABLE, {"e": endpoint_id, "on": False})


async def test_an_event_arrives_signed_per_standard_webhooks_and_is_logged(
        worker: WorkerProcess, admin: StaffLogin, hook_receiver: Receiver, session_factory: Any) -> None:
    await _publish(session_factory, "before-registration")  # an endpoint hears only of what happens after it
    made = await _register(admin, f"{hook_receiver.base_url}/signed")
    endpoint, secret = made["endpoint"], made["secret"]
    assert endpoint["eventTypes"] == ["payment.deposit_credited"] and endpoint["enabled"] is True
    await _publish(session_factory, "signed")

    [got] = await hook_receiver.wait("/signed", 1)
    assert _signed_by(got, secret)
    assert got.headers["webhook-id"].startswith("msg_") and got.headers["content-type"] == "application/json"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 30
    assert not _signed_by(got, "whsec_" + "A" * 44)  # another secret's signature does not match
    body = orjson.loads(got.body)
    assert body["type"] == "payment.deposit_credited"
    assert body["data"] == {"payment_id": 0, "reference": "signed-0", "amount": "10.00", "currency": "USD",
                            "status": "succeeded"}
    # The delivery log: the status and duration, the answer's excerpt; the secret is nowhere in the worker's log.
    await asyncio.sleep(0.3)
    [logged] = (await admin.client(LOG, {"e": endpoint["id"]}))["data"]["webhookDeliveryAttempts"]["edges"]
    assert logged["node"]["statusCode"] == 200 and logged["node"]["messageId"] == got.headers["webhook-id"]
    assert logged["node"]["durationMs"] >= 0 and logged["node"]["responseExcerpt"] == "ok"
    assert secret not in worker.log_text() and secret.removeprefix("whsec_") not in worker.log_text()
    async with session_factory() as s:
        from sqlalchemy import text
        sealed = await s.scalar(text("SELECT secret_sealed FROM webhook_endpoints WHERE id = :i"),
                                {"i": int(endpoint["databaseId"])})
    assert secret.removeprefix("whsec_") not in sealed
    await _disable(admin, endpoint["id"])


async def test_a_failed_delivery_is_retried_until_it_succeeds(
        worker: WorkerProcess, admin: StaffLogin, hook_receiver: Receiver, session_factory: Any) -> None:
    hook_receiver.plans["/flaky"] = [500, 503]
    made = await _register(admin, f"{hook_receiver.base_url}/flaky")
    await _publish(session_factory, "flaky")

    await hook_receiver.wait("/flaky", 1)
    attempts = hook_receiver.at("/flaky")
    assert [a.status for a in attempts] == [500, 503, 200]
    assert len({a.headers["webhook-id"] for a in attempts}) == 1  # the same message each time
    assert all(_signed_by(a, made["secret"]) for a in attempts)
    assert attempts[1].at - attempts[0].at >= RETRIES[0] * 0.9
    await asyncio.sleep(0.3)
    edges = (await admin.client(LOG, {"e": made["endpoint"]["id"]}))["data"]["webhookDeliveryAttempts"]["edges"]
    assert [e["node"]["statusCode"] for e in edges] == [200, 503, 500]  # newest first
    assert all(len(e["node"]["responseExcerpt"]) <= 200 for e in edges)  # never the whole 5000-byte answer
    await _disable(admin, made["endpoint"]["id"])


async def test_messages_reach_an_endpoint_in_order_one_at_a_time(
        worker: WorkerProcess, admin: StaffLogin, hook_receiver: Receiver, session_factory: Any) -> None:
    hook_receiver.plans["/ordered"] = [500]  # the first message is held back: the later ones wait for it
    hook_receiver.delay_s["/ordered"] = 0.05
    made = await _register(admin, f"{hook_receiver.base_url}/ordered")
    other = await _register(admin, f"{hook_receiver.base_url}/other")
    for batch in range(3):
        await _publish(session_factory, f"ordered{batch}", n=3)

    delivered = await hook_receiver.wait("/ordered", 9)
    await hook_receiver.wait("/other", 9)
    references = [orjson.loads(r.body)["data"]["reference"] for r in delivered]
    assert references == [f"ordered{b}-{i}" for b in range(3) for i in range(3)]
    assert hook_receiver.max_in_flight["/ordered"] == 1
    ids = [int(r.headers["webhook-id"].removeprefix("msg_")) for r in delivered]
    assert ids == sorted(ids)
    await _disable(admin, made["endpoint"]["id"])
    await _disable(admin, other["endpoint"]["id"])


async def test_after_a_rotation_both_secrets_sign_and_the_new_one_alone_when_the_overlap_ends(
        worker: WorkerProcess, admin: StaffLogin, hook_receiver: Receiver, session_factory: Any) -> None:
    made = await _register(admin, f"{hook_receiver.base_url}/rotated")
    old = made["secret"]
    rotated = (await admin.client(ROTATE, {"e": made["endpoint"]["id"]}))["data"]["rotateWebhookSecret"]
    assert rotated["errors"] == [] and rotated["secret"].startswith("whsec_") and rotated["secret"] != old
    assert rotated["endpoint"]["previousSecretValidUntil"] is not None
    await _publish(session_factory, "rotated")

    [got] = await hook_receiver.wait("/rotated", 1)
    signatures = got.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert _signed_by(got, rotated["secret"]) and _signed_by(got, old)
    # The overlap over (as after 24 h): only the new secret signs.
    async with session_factory() as s, s.begin():
        from sqlalchemy import text
        await s.execute(text("UPDATE webhook_endpoints SET previous_secret_until = now() - interval '1 second' "
                             "WHERE id = :i"), {"i": int(made["endpoint"]["databaseId"])})
    await _publish(session_factory, "rotated-later")
    later = (await hook_receiver.wait("/rotated", 2))[1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    assert _signed_by(later, rotated["secret"]) and not _signed_by(later, old)
    await _disable(admin, made["endpoint"]["id"])


async def test_an_endpoint_failing_the_whole_schedule_is_disabled_audited_and_its_creator_notified(
        worker: WorkerProcess, admin: StaffLogin, hook_receiver: Receiver, session_factory: Any) -> None:
    hook_receiver.plans["/dead"] = [500] * (len(RETRIES) + 1)
    made = await _register(admin, f"{hook_receiver.base_url}/dead")
    endpoint_id = int(made["endpoint"]["databaseId"])
    await _publish(session_factory, "dead")

    await hook_receiver.wait("/dead", len(RETRIES) + 1, ok=False)
    deadline = time.monotonic() + 10
    while (await admin.client(ENDPOINT, {"id": made["endpoint"]["id"]}))["data"]["node"]["enabled"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    node = (await admin.client(ENDPOINT, {"id": made["endpoint"]["id"]}))["data"]["node"]
    assert "failed 4 times" in node["disabledReason"]
    assert await count(session_factory, "audit_events", "action = 'webhook_endpoint.disabled' AND entity_id = :i",
                       i=str(endpoint_id)) == 1
    assert await count(session_factory, "outbox", "topic = 'user.notification' AND (payload->>'user_id')::bigint = :u "
                       "AND payload->>'kind' = 'webhook_endpoint_disabled'", u=admin.user_id) >= 1
    # A disabled endpoint is sent nothing more; re-enabled, a replay of the failed message gets through.
    await _publish(session_factory, "dead-later")
    await asyncio.sleep(1.0)
    assert len(hook_receiver.at("/dead")) == len(RETRIES) + 1
    message = hook_receiver.at("/dead")[0].headers["webhook-id"]
    assert (await admin.client(ENABLE, {"e": made["endpoint"]["id"], "on": True}))[
        "data"]["setWebhookEndpointEnabled"] == {"endpoint": {"enabled": True, "disabledReason": None}, "errors": []}
    replayed = await admin.client(REPLAY, {"e": made["endpoint"]["id"], "m": message})
    assert replayed["data"]["replayWebhookMessage"] == {"queued": True, "errors": []}
    [again] = await hook_receiver.wait("/dead", 1)
    assert again.headers["webhook-id"] == message and _signed_by(again, made["secret"])
    await _disable(admin, made["endpoint"]["id"])


async def test_a_slow_endpoint_does_not_hold_up_the_others(
        worker: WorkerProcess, admin: StaffLogin, hook_receiver: Receiver, session_factory: Any) -> None:
    hook_receiver.delay_s["/slow"] = 1.0
    slow = await _register(admin, f"{hook_receiver.base_url}/slow")
    fast = await _register(admin, f"{hook_receiver.base_url}/fast")
    await _publish(session_factory, "slowfast", n=4)

    await hook_receiver.wait("/fast", 4, within_s=10)
    assert len(hook_receiver.at("/slow")) <= 1  # still on its first message when the other endpoint has them all
    await hook_receiver.wait("/slow", 4, within_s=15)
    await _disable(admin, slow["endpoint"]["id"])
    await _disable(admin, fast["endpoint"]["id"])
