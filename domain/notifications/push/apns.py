"""Apple Push Notification service over HTTP/2 with token authentication: `POST {base}/3/device/{token}`, an ES256
provider token (JWT, header kid = the key id, claims iss = the team id and iat) in `authorization: bearer`, renewed
every 50 minutes (Apple refuses one older than an hour and throttles renewals more often than every 20), and the
headers apns-topic (the app's bundle id), apns-push-type, apns-id (ours, the same on every retry), apns-expiration
and apns-priority.

Answers: 200 with apns-id is sent; 410 (Unregistered) and 400 BadDeviceToken mean the token is dead; 403
ExpiredProviderToken renews the provider token and is retried; 429 and 5xx are retried; anything else failed."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import orjson

from domain.notifications.push.port import ANSWER_EXCERPT, Outcome, PushMessage, PushResult, retry_after

TOKEN_RENEW_S = 50 * 60
DEAD_REASONS = frozenset({"Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic"})


class ApnsClient:
    provider = "apns"

    def __init__(self, *, base_url: str, team_id: str, key_id: str, private_key: str, topic: str,
                 timeout_s: float = 10.0) -> None:
        self._base, self._team, self._kid, self._key, self.topic = base_url.rstrip("/"), team_id, key_id, \
            private_key, topic
        # APNs is HTTP/2 only; over http:// (the loopback stand-in) that is h2 with prior knowledge.
        self._http = httpx.AsyncClient(http2=True, http1=not self._base.startswith("http://"), timeout=timeout_s)
        self._provider_token: tuple[str, float] | None = None

    def provider_token(self) -> str:
        if self._provider_token is None or self._provider_token[1] <= time.time():
            now = int(time.time())
            token = jwt.encode({"iss": self._team, "iat": now}, self._key, algorithm="ES256",
                               headers={"kid": self._kid})
            self._provider_token = (token, now + TOKEN_RENEW_S)
        return self._provider_token[0]

    def request(self, message: PushMessage) -> tuple[str, dict[str, str], bytes]:
        payload: dict[str, Any] = {"aps": {"alert": {"title": message.title, "body": message.body},
                                           "sound": "default"}, **message.data}
        headers = {"authorization": f"bearer {self.provider_token()}", "apns-topic": self.topic,
                   "apns-push-type": "alert", "apns-id": message.message_id,
                   "apns-expiration": str(message.expires_at), "apns-priority": "10"}
        if message.collapse_id:
            headers["apns-collapse-id"] = message.collapse_id[:64]
        return f"{self._base}/3/device/{message.token}", headers, orjson.dumps(payload)

    async def send(self, message: PushMessage) -> PushResult:
        url, headers, body = self.request(message)
        try:
            resp = await self._http.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            return PushResult(Outcome.RETRY, 0, f"{type(exc).__name__}: {exc}"[:ANSWER_EXCERPT])
        if resp.status_code == 200:
            return PushResult(Outcome.SENT, 200, provider_message_id=resp.headers.get("apns-id"))
        try:
            reason = str(resp.json().get("reason", ""))
        except ValueError:
            reason = ""
        wait = retry_after(resp.headers.get("retry-after"))
        if resp.status_code == 410 or reason in DEAD_REASONS:
            return PushResult(Outcome.DEAD_TOKEN, resp.status_code, reason)
        if resp.status_code == 403 and reason == "ExpiredProviderToken":
            self._provider_token = None
            return PushResult(Outcome.RETRY, 403, reason)
        if resp.status_code == 429 or resp.status_code >= 500:
            return PushResult(Outcome.RETRY, resp.status_code, reason, retry_after_s=wait)
        return PushResult(Outcome.FAILED, resp.status_code, reason[:ANSWER_EXCERPT])

    async def aclose(self) -> None:
        await self._http.aclose()
