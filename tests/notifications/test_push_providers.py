"""The FCM and APNs adapters against their stand-ins over loopback: signed requests in the documented shape, and
each answer classified (sent, dead token, retry with Retry-After, failed)."""

from __future__ import annotations

import time
import uuid

import httpx

from domain.notifications.push.apns import ApnsClient
from domain.notifications.push.fcm import FcmClient
from domain.notifications.push.port import Outcome, PushMessage
from sandbox.launcher import _generated
from tests.notifications.push_env import EMAIL, KEY_ID, PROJECT, TEAM, TOPIC, push_stand_ins


def _message(token: str) -> PushMessage:
    return PushMessage(token=token, title="Deposit credited", body="100.00 USD", message_id=str(uuid.uuid4()),
                       expires_at=int(time.time()) + 3600, data={"kind": "payment.deposit_credited"})


async def test_fcm_http_v1() -> None:
    async with push_stand_ins() as env:
        client = FcmClient(project_id=PROJECT, base_url=env.fcm_url, token_uri=f"{env.fcm_url}/token",
                           client_email=EMAIL, private_key=env.fcm_key)
        try:
            sent = await client.send(_message("fcm-token-1"))
            assert sent.outcome is Outcome.SENT and (sent.provider_message_id or "").startswith(f"projects/{PROJECT}/")
            got = env.fcm.received[-1]["message"]
            assert got["token"] == "fcm-token-1" and got["notification"] == {"title": "Deposit credited",
                                                                              "body": "100.00 USD"}
            assert got["data"]["kind"] == "payment.deposit_credited"

            async with httpx.AsyncClient() as http:
                await http.post(f"{env.fcm_url}/sim/script", json={"token": "t2", "statuses": [503, 429],
                                                                  "retry_after": 7})
                await http.post(f"{env.fcm_url}/sim/unregister", json={"token": "dead"})
            first, second = await client.send(_message("t2")), await client.send(_message("t2"))
            assert (first.outcome, first.status, first.retry_after_s) == (Outcome.RETRY, 503, 7.0)
            assert (second.outcome, second.status) == (Outcome.RETRY, 429)
            assert (await client.send(_message("t2"))).outcome is Outcome.SENT
            dead = await client.send(_message("dead"))
            assert (dead.outcome, dead.status, dead.answer) == (Outcome.DEAD_TOKEN, 404, "NOT_FOUND UNREGISTERED")
        finally:
            await client.aclose()
        # A key the stand-in does not know: no access token (invalid_grant), nothing sent, no retry.
        wrong = FcmClient(project_id=PROJECT, base_url=env.fcm_url, token_uri=f"{env.fcm_url}/token",
                          client_email=EMAIL, private_key=_generated("other_rsa_key"))
        try:
            before = len(env.fcm.received)
            refused = await wrong.send(_message("fcm-token-1"))
            assert (refused.outcome, refused.status) == (Outcome.FAILED, 400) and "invalid_grant" in refused.answer
            assert len(env.fcm.received) == before
        finally:
            await wrong.aclose()


async def test_apns_http2_token_auth() -> None:
    async with push_stand_ins() as env:
        client = ApnsClient(base_url=env.apns_url, team_id=TEAM, key_id=KEY_ID, private_key=env.apns_key,
                            topic=TOPIC)
        device = "ab" * 32
        try:
            message = _message(device)
            sent = await client.send(message)
            assert sent.outcome is Outcome.SENT and sent.provider_message_id == message.message_id
            got = env.apns.received[-1]
            assert got["payload"]["aps"]["alert"] == {"title": "Deposit credited", "body": "100.00 USD"}
            assert got["headers"]["apns-topic"] == TOPIC and got["headers"]["apns-push-type"] == "alert"
            assert got["headers"]["apns-expiration"] == str(message.expires_at)
            assert got["headers"]["authorization"].startswith("bearer ")

            bad = await client.send(_message("not-hex"))
            assert (bad.outcome, bad.status, bad.answer) == (Outcome.DEAD_TOKEN, 400, "BadDeviceToken")
            env.apns.scripts[device] = [503]
            assert (await client.send(_message(device))).outcome is Outcome.RETRY
            env.apns.unregistered[device] = 1
            gone = await client.send(_message(device))
            assert (gone.outcome, gone.status, gone.answer) == (Outcome.DEAD_TOKEN, 410, "Unregistered")
        finally:
            await client.aclose()
        wrong_topic = ApnsClient(base_url=env.apns_url, team_id=TEAM, key_id=KEY_ID, private_key=env.apns_key,
                                 topic="com.other.app")
        try:
            refused = await wrong_topic.send(_message("cd" * 32))
            assert (refused.outcome, refused.status, refused.answer) == (Outcome.FAILED, 400, "BadTopic")
        finally:
            await wrong_topic.aclose()
