"""The Sumsub adapter of the KYC port (domain/clients/kyc_port.py), after Sumsub's documented API.

Requests are signed with the app token: X-App-Token, X-App-Access-Ts (unix seconds) and
X-App-Access-Sig = hex HMAC-SHA256(secret key, ts + METHOD + path?query + body).
- create applicant: POST /resources/applicants?levelName=<level> {externalUserId, email, fixedInfo}
  (409 when the external user id exists: looked up by GET /resources/applicants/-;externalUserId=<id>/one)
- WebSDK access token: POST /resources/accessTokens/sdk {userId, levelName, ttlInSecs, applicantIdentifiers}
- review: GET /resources/applicants/<id>/one -> {review: {reviewStatus, reviewDate, reviewResult}}
Webhooks (applicantCreated, applicantPending, applicantReviewed, ...) carry X-Payload-Digest, the
hex HMAC of the raw body under the webhook secret with the algorithm named by X-Payload-Digest-Alg
(HMAC_SHA1_HEX, HMAC_SHA256_HEX or HMAC_SHA512_HEX). reviewResult.reviewAnswer GREEN/RED with
reviewRejectType FINAL/RETRY becomes our verdict. Provider refusals and network failures become
KycProviderUnavailable, so callers record nothing and the client can retry.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import orjson

from domain.clients.errors import KycProviderUnavailable
from domain.clients.kyc_port import (
    FINAL,
    GREEN,
    RED,
    RETRY,
    Applicant,
    ApplicantData,
    KycEvent,
    KycSettings,
    ProviderVerdict,
    register,
)
from domain.shared.webhooks import WebhookRejected

NAME = "sumsub"
DIGEST_HEADER = "x-payload-digest"
DIGEST_ALG_HEADER = "x-payload-digest-alg"
DIGEST_ALGORITHMS = {"HMAC_SHA1_HEX": hashlib.sha1, "HMAC_SHA256_HEX": hashlib.sha256,
                     "HMAC_SHA512_HEX": hashlib.sha512}
DEFAULT_DIGEST_ALG = "HMAC_SHA256_HEX"  # the dashboard's default signature algorithm
REVIEWED, PENDING, CREATED = "applicantReviewed", "applicantPending", "applicantCreated"


def request_signature(secret: str, ts: int, method: str, path: str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{ts}{method.upper()}{path}".encode() + body, hashlib.sha256).hexdigest()


def payload_digest(secret: str, body: bytes, alg: str = DEFAULT_DIGEST_ALG) -> str:
    return hmac.new(secret.encode(), body, DIGEST_ALGORITHMS[alg]).hexdigest()


def parse_time(value: Any) -> datetime | None:
    """Sumsub's times: createdAtMs "2021-05-14 16:00:25.032" (UTC), reviewDate "2021-05-14 16:00:25+0000",
    or epoch milliseconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if not isinstance(value, str) or not value:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S"):
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def verdict_from_review(applicant_id: str, review: dict[str, Any] | None,
                        at: datetime | None = None) -> ProviderVerdict:
    """Sumsub's review object -> our verdict (None while pending)."""
    review = review or {}
    result = review.get("reviewResult") or {}
    answer = str(result.get("reviewAnswer", "")).upper()
    if review.get("reviewStatus") != "completed" or answer not in ("GREEN", "RED"):
        return ProviderVerdict(applicant_id, None)
    when = at or parse_time(review.get("reviewDate"))
    if answer == "GREEN":
        return ProviderVerdict(applicant_id, GREEN, at=when)
    reject_type = FINAL if str(result.get("reviewRejectType", "")).upper() == "FINAL" else RETRY
    reason = str(result.get("moderationComment") or ", ".join(result.get("rejectLabels") or []) or "rejected")
    return ProviderVerdict(applicant_id, RED, reject_type, reason[:2000], when)


def verify_digest(headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> None:
    digest = headers.get(DIGEST_HEADER) or ""
    alg = (headers.get(DIGEST_ALG_HEADER) or DEFAULT_DIGEST_ALG).upper()
    if not digest or not secrets:
        raise WebhookRejected("missing X-Payload-Digest")
    if alg not in DIGEST_ALGORITHMS:
        raise WebhookRejected(f"unsupported X-Payload-Digest-Alg {alg[:40]}", code="WEBHOOK_MALFORMED")
    if not any(hmac.compare_digest(payload_digest(s, body, alg), digest.lower()) for s in secrets):
        raise WebhookRejected("X-Payload-Digest does not match")


def parse_event(body: bytes) -> KycEvent:
    try:
        payload = orjson.loads(body)
        if not isinstance(payload, dict):
            raise TypeError("not an object")
        event_type, applicant_id = str(payload["type"]), str(payload.get("applicantId") or "")
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise WebhookRejected("not a Sumsub webhook", code="WEBHOOK_MALFORMED") from exc
    if not event_type or len(applicant_id) > 200:
        raise WebhookRejected("the webhook type is missing or the applicant id too long", code="WEBHOOK_MALFORMED")
    verdict = None
    if event_type == REVIEWED:
        at = parse_time(payload.get("createdAtMs"))
        if at is None:
            raise WebhookRejected("a review webhook needs createdAtMs", code="WEBHOOK_MALFORMED")
        verdict = verdict_from_review(applicant_id, payload, at)
    # Sumsub redelivers the same payload after a failure: the body's digest names the delivery.
    return KycEvent("sha256:" + hashlib.sha256(body).hexdigest(), event_type, applicant_id,
                    str(payload.get("externalUserId") or ""), verdict, payload)


class SumsubProvider:
    name = NAME

    def __init__(self, settings: KycSettings, *, client: httpx.AsyncClient | None = None) -> None:
        self._token, self._secret, self._secrets = settings.token, settings.secret, settings.secrets
        self._level = settings.level_name
        self._base_url = settings.base_url.rstrip("/")
        self._timeout = settings.timeout_s
        self._http = client

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self._base_url, timeout=self._timeout)
        return self._http

    async def _call(self, method: str, path: str, *, query: dict[str, str] | None = None,
                    json_body: dict[str, Any] | None = None, ok: tuple[int, ...] = (200, 201)) -> httpx.Response:
        target = path + ("?" + urlencode(query) if query else "")
        body = orjson.dumps(json_body) if json_body is not None else b""
        ts = int(time.time())
        headers = {"X-App-Token": self._token, "X-App-Access-Ts": str(ts),
                   "X-App-Access-Sig": request_signature(self._secret, ts, method, target, body),
                   "Accept": "application/json"}
        if json_body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._client().request(method, target, content=body or None, headers=headers)
        except httpx.HTTPError as exc:
            raise KycProviderUnavailable(f"the KYC provider did not answer ({type(exc).__name__})") from exc
        if response.status_code not in ok:
            raise KycProviderUnavailable(f"the KYC provider refused the request (HTTP {response.status_code})")
        return response

    async def create_applicant(self, data: ApplicantData) -> Applicant:
        info = {k: v for k, v in {"firstName": data.first_name, "lastName": data.last_name,
                                  "country": data.country}.items() if v}
        response = await self._call("POST", "/resources/applicants", query={"levelName": self._level},
                                    json_body={"externalUserId": data.external_id, "email": data.email,
                                               "fixedInfo": info}, ok=(200, 201, 409))
        if response.status_code == 409:
            # Created by an earlier attempt whose answer we lost: the external id is ours, look it up.
            response = await self._call("GET", f"/resources/applicants/-;externalUserId={quote(data.external_id)}/one")
        body = response.json()
        return Applicant(str(body["id"]), str(body.get("externalUserId", data.external_id)))

    async def access_token(self, applicant: Applicant, *, ttl_s: int = 600) -> str:
        response = await self._call("POST", "/resources/accessTokens/sdk", json_body={
            "userId": applicant.external_id, "levelName": self._level, "ttlInSecs": ttl_s})
        return str(response.json()["token"])

    async def fetch_verdict(self, applicant_id: str) -> ProviderVerdict:
        response = await self._call("GET", f"/resources/applicants/{quote(applicant_id)}/one")
        return verdict_from_review(applicant_id, response.json().get("review"))

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> KycEvent:
        verify_digest(headers, body, self._secrets)
        return parse_event(body)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


register(NAME, SumsubProvider)
