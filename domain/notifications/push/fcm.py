"""Firebase Cloud Messaging, HTTP v1: `POST {base}/v1/projects/{project}/messages:send` with an OAuth2 access
token obtained from a service account (a signed RS256 JWT exchanged at the token URI, grant type jwt-bearer,
cached until shortly before it expires).

Answers (the documented error model: `{"error": {"code", "message", "status", "details": [{"@type":
"type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode"}]}}`): 200 `{"name": ...}` is sent; 404 or
errorCode UNREGISTERED means the token is dead; 429 (QUOTA_EXCEEDED) and 5xx (UNAVAILABLE, INTERNAL) are
retried, honouring Retry-After; 401 drops the cached access token and is retried; anything else failed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
import orjson

from domain.notifications.push.port import ANSWER_EXCERPT, Outcome, PushMessage, PushResult, retry_after

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class FcmClient:
    provider = "fcm"

    def __init__(self, *, project_id: str, base_url: str, token_uri: str, client_email: str, private_key: str,
                 timeout_s: float = 10.0, http: httpx.AsyncClient | None = None) -> None:
        self._url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._token_uri, self._email, self._key = token_uri, client_email, private_key
        self._http = http or httpx.AsyncClient(timeout=timeout_s, limits=httpx.Limits(max_connections=50))
        self._access: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def _access_token(self) -> str:
        if self._access and self._access[1] > time.time():
            return self._access[0]
        async with self._lock:
            if self._access and self._access[1] > time.time():
                return self._access[0]
            now = int(time.time())
            assertion = jwt.encode({"iss": self._email, "scope": SCOPE, "aud": self._token_uri, "iat": now,
                                    "exp": now + 3600}, self._key, algorithm="RS256")
            resp = await self._http.post(self._token_uri, data={"grant_type": GRANT, "assertion": assertion})
            if resp.status_code != 200:
                raise _TokenRefused(resp.status_code, resp.text[:ANSWER_EXCERPT])
            body = resp.json()
            # Renewed a minute early: a request never leaves with a token about to lapse.
            self._access = (str(body["access_token"]), time.time() + float(body.get("expires_in", 3600)) - 60)
            return self._access[0]

    def body(self, message: PushMessage) -> dict[str, Any]:
        ttl = max(0, message.expires_at - int(time.time()))
        android: dict[str, Any] = {"ttl": f"{ttl}s", "priority": "high"}
        if message.collapse_id:
            android["collapse_key"] = message.collapse_id
        return {"message": {"token": message.token,
                            "notification": {"title": message.title, "body": message.body},
                            "data": {**message.data, "message_id": message.message_id},
                            "android": android}}

    async def send(self, message: PushMessage) -> PushResult:
        try:
            token = await self._access_token()
            resp = await self._http.post(self._url, content=orjson.dumps(self.body(message)),
                                         headers={"authorization": f"Bearer {token}",
                                                  "content-type": "application/json"})
        except httpx.TransportError as exc:
            return PushResult(Outcome.RETRY, 0, f"{type(exc).__name__}: {exc}"[:ANSWER_EXCERPT])
        except (jwt.PyJWTError, ValueError) as exc:  # a malformed service-account key: no retry will mend it
            return PushResult(Outcome.FAILED, 0, f"service account key: {type(exc).__name__}"[:ANSWER_EXCERPT])
        except _TokenRefused as exc:  # 4xx: the account or key is refused (invalid_grant); 5xx: try again
            outcome = Outcome.RETRY if exc.status >= 500 or exc.status == 429 else Outcome.FAILED
            return PushResult(outcome, exc.status, f"token endpoint: {exc.answer}"[:ANSWER_EXCERPT])
        if resp.status_code == 200:
            return PushResult(Outcome.SENT, 200, provider_message_id=str(resp.json().get("name", "")))
        status, code = _error(resp)
        answer = f"{status} {code}".strip()[:ANSWER_EXCERPT]
        wait = retry_after(resp.headers.get("retry-after"))
        if resp.status_code == 404 or code == "UNREGISTERED":
            return PushResult(Outcome.DEAD_TOKEN, resp.status_code, answer)
        if resp.status_code == 401:
            self._access = None
            return PushResult(Outcome.RETRY, 401, answer)
        if resp.status_code == 429 or resp.status_code >= 500:
            return PushResult(Outcome.RETRY, resp.status_code, answer, retry_after_s=wait)
        return PushResult(Outcome.FAILED, resp.status_code, answer)

    async def aclose(self) -> None:
        await self._http.aclose()


class _TokenRefused(Exception):
    def __init__(self, status: int, answer: str) -> None:
        super().__init__(status, answer)
        self.status, self.answer = status, answer


def _error(resp: httpx.Response) -> tuple[str, str]:
    """(status, FCM errorCode) of an error answer; empty strings when it is not the documented shape."""
    try:
        error = resp.json().get("error") or {}
    except ValueError:
        return "", ""
    code = next((str(d.get("errorCode", "")) for d in error.get("details") or []
                 if str(d.get("@type", "")).endswith("FcmError")), "")
    return str(error.get("status", "")), code
