"""A Sumsub stand-in on loopback speaking Sumsub's wire format (domain/clients/sumsub.py is the adapter).

Signed REST (X-App-Token, X-App-Access-Ts, X-App-Access-Sig = hex HMAC-SHA256 of ts + METHOD +
path?query + body; unsigned or mis-signed requests get 401):
- POST /resources/applicants?levelName=...           create an applicant (409 if the externalUserId exists)
- GET  /resources/applicants/<id>/one                 the applicant with its review
- GET  /resources/applicants/-;externalUserId=<x>/one the same, by our id
- GET  /resources/applicants/<id>/status              the review status
- POST /resources/accessTokens/sdk                    a WebSDK access token {userId, levelName, ttlInSecs}
- POST /resources/applicants/<id>/status/testCompleted  sandbox: simulate the review {reviewAnswer, ...}

Public, as the person finishing the WebSDK would (authorised by the access token alone):
- POST /websdk/submit {accessToken, reviewAnswer?: GREEN|RED, reviewRejectType?: RETRY|FINAL,
  moderationComment?, rejectLabels?}: the applicant's documents are in (applicantPending), the
  review completes (applicantReviewed); both webhooks are sent, signed with X-Payload-Digest and
  X-Payload-Digest-Alg, to the configured webhook URL before the call answers (`webhooks`: our
  endpoint's HTTP statuses, null when it could not be reached).

Run: `python -m sandbox.kyc --host 127.0.0.1 --port N`. Secrets from the environment:
SUMSUB_APP_TOKEN, SUMSUB_SECRET_KEY, SUMSUB_WEBHOOK_SECRET (default: the values our own
configuration derives, FOREXCRM_KYC_* or the app secret key), SUMSUB_WEBHOOK_URL (default
http://127.0.0.1:$FOREXCRM_PORT/webhooks/sumsub), SUMSUB_WEBHOOK_ALG (default HMAC_SHA256_HEX).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.clients.sumsub import DIGEST_ALG_HEADER, DIGEST_HEADER, payload_digest, request_signature


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]
    type: str


def _created_at(at_ms: int) -> str:
    """Sumsub's createdAtMs: "yyyy-MM-dd HH:mm:ss.fff" in UTC."""
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _review_date(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S+0000")


def _error(status: int, description: str) -> JSONResponse:
    return JSONResponse({"description": description, "code": status, "correlationId": secrets.token_hex(12)},
                        status_code=status)


@dataclass
class SumsubStandIn:
    app_token: str
    secret_key: str
    webhook_secret: str
    webhook_url: str = ""
    digest_alg: str = "HMAC_SHA256_HEX"
    base_url: str = ""
    level_name: str = "basic-kyc-level"
    applicants: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> externalUserId
    refused: int = 0
    delivered: list[tuple[str, int]] = field(default_factory=list)  # (type, our HTTP status)

    # --- the REST API ----------------------------------------------------------------------------------------

    def _authentic(self, request: Request, body: bytes) -> bool:
        ts = request.headers.get("x-app-access-ts", "")
        target = request.scope["raw_path"].decode() + (f"?{request.url.query}" if request.url.query else "")
        if not hmac.compare_digest(request.headers.get("x-app-token", ""), self.app_token) or not ts.isdigit() \
                or abs(time.time() - int(ts)) > 300:
            return False
        expected = request_signature(self.secret_key, int(ts), request.method, target, body)
        return hmac.compare_digest(expected, request.headers.get("x-app-access-sig", ""))

    def _find(self, ref: str) -> dict[str, Any] | None:
        if ref.startswith("-;externalUserId="):
            ext = ref.removeprefix("-;externalUserId=")
            return next((a for a in self.applicants.values() if a["externalUserId"] == ext), None)
        return self.applicants.get(ref)

    async def _resources(self, request: Request) -> Response:
        body = await request.body()
        if not self._authentic(request, body):
            self.refused += 1
            return _error(401, "Request signature mismatch")
        path, method = request.url.path, request.method
        if method == "POST" and path == "/resources/applicants":
            data = orjson.loads(body)
            ext = str(data.get("externalUserId") or "")
            if not ext:
                return _error(400, "externalUserId is required")
            if self._find(f"-;externalUserId={ext}") is not None:
                return _error(409, f"Applicant with external user id '{ext}' already exists")
            now = int(time.time() * 1000)
            applicant = {"id": secrets.token_hex(12), "createdAt": _review_date(now), "key": "STANDIN",
                         "clientId": "forexcrm", "inspectionId": secrets.token_hex(12), "externalUserId": ext,
                         "email": data.get("email"), "fixedInfo": data.get("fixedInfo", {}), "type": "individual",
                         "levelName": request.query_params.get("levelName", self.level_name),
                         "review": {"reviewId": secrets.token_hex(4), "createDate": _review_date(now),
                                    "reviewStatus": "init", "levelName": request.query_params.get(
                                        "levelName", self.level_name)}}
            self.applicants[applicant["id"]] = applicant
            return JSONResponse(applicant, status_code=201)
        if method == "POST" and path == "/resources/accessTokens/sdk":
            data = orjson.loads(body or b"{}")
            user_id = str(data.get("userId") or "")
            if not user_id:
                return _error(400, "userId is required")
            token = "_act-sbx-" + secrets.token_urlsafe(24)
            self.tokens[token] = user_id
            return JSONResponse({"token": token, "userId": user_id})
        if path.startswith("/resources/applicants/"):
            ref, _, action = path.removeprefix("/resources/applicants/").partition("/")
            found = self._find(ref)
            if found is None:
                return _error(404, "Applicant not found")
            review = {k: v for k, v in found["review"].items() if not k.startswith("_")}
            if method == "GET" and action == "one":
                return JSONResponse({**found, "review": review})
            if method == "GET" and action == "status":
                return JSONResponse({k: v for k, v in review.items() if k != "reviewId"})
            if method == "POST" and action == "status/testCompleted":
                data = orjson.loads(body or b"{}")
                result = await self.complete(found["id"], str(data.get("reviewAnswer", "GREEN")),
                                             reject_type=str(data.get("reviewRejectType") or "RETRY"),
                                             comment=str(data.get("moderationComment") or ""),
                                             labels=list(data.get("rejectLabels") or []))
                return JSONResponse({"ok": 1, "webhooks": result})
        return _error(404, "unknown resource")

    # --- the WebSDK, as its user finishes it --------------------------------------------------------------------

    async def _websdk_submit(self, request: Request) -> Response:
        try:
            data = orjson.loads(await request.body())
            user_id = self.tokens[str(data["accessToken"])]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _error(401, "Invalid access token")
        applicant = self._find(f"-;externalUserId={user_id}")
        if applicant is None:
            return _error(404, "Applicant not found")
        answer = str(data.get("reviewAnswer", "GREEN")).upper()
        if answer not in ("GREEN", "RED"):
            return _error(400, "reviewAnswer is GREEN or RED")
        statuses = await self.complete(applicant["id"], answer,
                                       reject_type=str(data.get("reviewRejectType") or "RETRY").upper(),
                                       comment=str(data.get("moderationComment") or ""),
                                       labels=list(data.get("rejectLabels") or []))
        return JSONResponse({"applicantId": applicant["id"], "reviewAnswer": answer, "webhooks": statuses})

    async def complete(self, applicant_id: str, answer: str, *, reject_type: str = "RETRY", comment: str = "",
                       labels: list[str] | None = None) -> list[int | None]:
        """Documents submitted, then the review decided: sends applicantPending and applicantReviewed."""
        pending = self.event(applicant_id, "applicantPending")
        reviewed = self.review(applicant_id, answer, reject_type=reject_type, comment=comment, labels=labels)
        statuses: list[int | None] = []
        for delivery in (pending, reviewed):
            try:
                statuses.append((await self.deliver(delivery)).status_code)
            except httpx.HTTPError:  # our endpoint is down: the review stands, as at Sumsub (poll or resend)
                statuses.append(None)
        return statuses

    # --- webhooks ----------------------------------------------------------------------------------------------

    def sign(self, body: bytes, *, secret: str | None = None, alg: str | None = None) -> dict[str, str]:
        chosen = alg or self.digest_alg
        return {"Content-Type": "application/json", DIGEST_ALG_HEADER: chosen,
                DIGEST_HEADER: payload_digest(secret or self.webhook_secret, body, chosen)}

    def event(self, applicant_id: str, type_: str, *, at_ms: int | None = None, secret: str | None = None,
              alg: str | None = None, **extra: Any) -> Delivery:
        """A signed webhook of any type for the applicant (its current review status)."""
        applicant = self.applicants[applicant_id]
        at = at_ms if at_ms is not None else int(time.time() * 1000)
        if type_ == "applicantPending" and applicant["review"].get("reviewStatus") in ("init", None):
            applicant["review"] = {**applicant["review"], "reviewStatus": "pending"}
        payload = {"applicantId": applicant_id, "inspectionId": applicant["inspectionId"],
                   "correlationId": secrets.token_hex(16), "levelName": applicant["levelName"],
                   "externalUserId": applicant["externalUserId"], "type": type_, "sandboxMode": True,
                   "reviewStatus": applicant["review"].get("reviewStatus"), "createdAtMs": _created_at(at),
                   "applicantType": "individual", "clientId": applicant["clientId"], **extra}
        body = orjson.dumps(payload)
        return Delivery(body, self.sign(body, secret=secret, alg=alg), type_)

    def review(self, applicant_id: str, answer: str, *, reject_type: str = "RETRY", comment: str = "",
               labels: list[str] | None = None, at_ms: int | None = None, secret: str | None = None,
               alg: str | None = None) -> Delivery:
        """Completes the review and returns the signed applicantReviewed webhook Sumsub sends for it."""
        applicant = self.applicants[applicant_id]
        at = at_ms if at_ms is not None else int(time.time() * 1000)
        result: dict[str, Any] = {"reviewAnswer": answer.upper()}
        if answer.upper() == "RED":
            result |= {"reviewRejectType": reject_type.upper(), "moderationComment": comment,
                       "clientComment": comment, "rejectLabels": labels or ["DOCUMENT_DAMAGED"]}
        if at > applicant["review"].get("_at", -1):
            applicant["review"] = {**applicant["review"], "reviewStatus": "completed", "reviewResult": result,
                                   "reviewDate": _review_date(at), "_at": at}
        return self.event(applicant_id, "applicantReviewed", at_ms=at, secret=secret, alg=alg,
                          reviewResult=result, reviewStatus="completed")

    async def deliver(self, delivery: Delivery, *, headers: dict[str, str] | None = None) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(self.webhook_url, content=delivery.body,
                                       headers=delivery.headers if headers is None else headers)
        self.delivered.append((delivery.type, response.status_code))
        return response

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/resources/{rest:path}", self._resources, methods=["GET", "POST"]),
                                 Route("/websdk/submit", self._websdk_submit, methods=["POST"])])


KycStandIn = SumsubStandIn  # the name the tests used before the stand-in spoke Sumsub's format


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def kyc_standin(webhook_url: str, **overrides: Any) -> AsyncIterator[SumsubStandIn]:
    """A stand-in with fresh secrets, served on a free loopback port inside the running event loop."""
    stand_in = SumsubStandIn(app_token="sbx:" + secrets.token_hex(8), secret_key=secrets.token_hex(16),
                             webhook_secret=secrets.token_hex(16), webhook_url=webhook_url, **overrides)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(stand_in.app(), host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    stand_in.base_url = f"http://127.0.0.1:{port}"
    try:
        yield stand_in
    finally:
        server.should_exit = True
        await task


def from_environment(host: str, port: int) -> SumsubStandIn:
    """Secrets from SUMSUB_* or, unset, the ones our own configuration uses (FOREXCRM_KYC_* or derived)."""
    from domain.clients.kyc_port import KycSettings

    ours = KycSettings(provider="sumsub")
    webhook_secret = os.environ.get("SUMSUB_WEBHOOK_SECRET") or (ours.secrets[0] if ours.secrets else "")
    app_token = os.environ.get("SUMSUB_APP_TOKEN") or ours.token
    secret_key = os.environ.get("SUMSUB_SECRET_KEY") or ours.secret
    if not (webhook_secret and app_token and secret_key):
        raise SystemExit("set SUMSUB_APP_TOKEN, SUMSUB_SECRET_KEY and SUMSUB_WEBHOOK_SECRET")
    api_port = os.environ.get("FOREXCRM_PORT", "8000")
    return SumsubStandIn(app_token=app_token, secret_key=secret_key, webhook_secret=webhook_secret,
                         webhook_url=os.environ.get("SUMSUB_WEBHOOK_URL",
                                                    f"http://127.0.0.1:{api_port}/webhooks/sumsub"),
                         digest_alg=os.environ.get("SUMSUB_WEBHOOK_ALG", "HMAC_SHA256_HEX"),
                         base_url=f"http://{host}:{port}", level_name=ours.level_name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.kyc", description="A Sumsub stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18601)
    args = parser.parse_args(argv)
    stand_in = from_environment(args.host, args.port)
    uvicorn.run(stand_in.app(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
