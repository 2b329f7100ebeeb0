"""A KYC adapter in the shape of Sumsub-like REST providers over httpx.

Every request is signed: X-App-Token, X-App-Access-Ts (unix seconds) and X-App-Access-Sig =
hex HMAC-SHA256(secret key, ts + METHOD + path?query + body). Provider refusals and network
failures become KycProviderUnavailable, so callers record nothing and the client can retry.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from domain.clients.errors import KycProviderUnavailable
from domain.clients.kyc_port import FINAL, GREEN, RED, RETRY, Applicant, ApplicantData, KycSettings, ProviderVerdict


def request_signature(secret: str, ts: int, method: str, path: str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{ts}{method.upper()}{path}".encode() + body, hashlib.sha256).hexdigest()


def verdict_from_review(applicant_id: str, review: dict[str, Any] | None) -> ProviderVerdict:
    """The provider's review object -> our verdict (None while pending)."""
    result = (review or {}).get("reviewResult") or {}
    answer = str(result.get("reviewAnswer", "")).upper()
    if (review or {}).get("reviewStatus") != "completed" or answer not in ("GREEN", "RED"):
        return ProviderVerdict(applicant_id, None)
    at_ms = (review or {}).get("reviewDate")
    at = datetime.fromtimestamp(int(at_ms) / 1000, UTC) if isinstance(at_ms, int) else None
    if answer == "GREEN":
        return ProviderVerdict(applicant_id, GREEN, at=at)
    reject_type = FINAL if str(result.get("reviewRejectType", "")).upper() == "FINAL" else RETRY
    reason = str(result.get("moderationComment") or ", ".join(result.get("rejectLabels") or []) or "rejected")
    return ProviderVerdict(applicant_id, RED, reject_type, reason[:2000], at)


class HttpKycProvider:
    def __init__(self, settings: KycSettings, *, client: httpx.AsyncClient | None = None) -> None:
        self.name = settings.provider
        self._token = settings.app_token.get_secret_value()
        self._secret = settings.secret_key.get_secret_value()
        self._level = settings.level_name
        self._http = client or httpx.AsyncClient(base_url=settings.base_url.rstrip("/"), timeout=settings.timeout_s)

    async def _call(self, method: str, path: str, *, query: dict[str, str] | None = None,
                    json_body: dict[str, Any] | None = None, ok: tuple[int, ...] = (200, 201)) -> httpx.Response:
        import orjson

        target = path + ("?" + urlencode(query) if query else "")
        body = orjson.dumps(json_body) if json_body is not None else b""
        ts = int(time.time())
        headers = {"X-App-Token": self._token, "X-App-Access-Ts": str(ts),
                   "X-App-Access-Sig": request_signature(self._secret, ts, method, target, body),
                   "Accept": "application/json"}
        if json_body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(method, target, content=body or None, headers=headers)
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
        response = await self._call("POST", "/resources/accessTokens", query={
            "userId": applicant.external_id, "levelName": self._level, "ttlInSecs": str(ttl_s)})
        return str(response.json()["token"])

    async def fetch_verdict(self, applicant_id: str) -> ProviderVerdict:
        response = await self._call("GET", f"/resources/applicants/{quote(applicant_id)}/one")
        return verdict_from_review(applicant_id, response.json().get("review"))

    async def aclose(self) -> None:
        await self._http.aclose()
