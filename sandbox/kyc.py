"""A stand-in KYC provider on loopback speaking the Sumsub-like protocol of domain/clients/kyc_http.py:
signed REST requests (app token + HMAC of ts, method, path and body), applicants, SDK access
tokens, reviews. Tests decide a review through `review()` and the stand-in calls our real
webhook endpoint with a signed verdict, exactly as the provider would.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.clients.kyc_http import request_signature
from domain.shared.webhooks import SIGNATURE_HEADER, sign
from sandbox.serve import free_port


@dataclass(frozen=True)
class Delivery:
    body: bytes
    header: str
    event_id: str


@dataclass
class KycStandIn:
    app_token: str
    secret_key: str
    webhook_secret: str
    webhook_url: str = ""
    base_url: str = ""
    applicants: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    refused: int = 0

    def _authentic(self, request: Request, body: bytes) -> bool:
        ts = request.headers.get("x-app-access-ts", "")
        target = request.scope["raw_path"].decode() + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("x-app-token") != self.app_token or not ts.isdigit() \
                or abs(time.time() - int(ts)) > 300:
            return False
        expected = request_signature(self.secret_key, int(ts), request.method, target, body)
        return hmac.compare_digest(expected, request.headers.get("x-app-access-sig", ""))

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        if not self._authentic(request, body):
            self.refused += 1
            return JSONResponse({"description": "Request signature mismatch", "code": 401}, status_code=401)
        path = request.url.path
        if request.method == "POST" and path == "/resources/applicants":
            data = orjson.loads(body)
            ext = data["externalUserId"]
            if any(a["externalUserId"] == ext for a in self.applicants.values()):
                return JSONResponse({"description": f"Applicant with external user id '{ext}' already exists",
                                     "code": 409}, status_code=409)
            applicant = {"id": secrets.token_hex(12), "externalUserId": ext, "email": data.get("email"),
                         "fixedInfo": data.get("fixedInfo", {}), "review": {"reviewStatus": "init"}}
            self.applicants[applicant["id"]] = applicant
            return JSONResponse(applicant, status_code=201)
        if request.method == "POST" and path == "/resources/accessTokens":
            token = "_act-sbx-" + secrets.token_urlsafe(24)
            self.tokens[token] = request.query_params["userId"]
            return JSONResponse({"token": token, "userId": request.query_params["userId"]})
        if request.method == "GET" and path.startswith("/resources/applicants/") and path.endswith("/one"):
            ref = path.removeprefix("/resources/applicants/").removesuffix("/one")
            ext = ref.removeprefix("-;externalUserId=") if ref.startswith("-;") else None
            found = next((a for a in self.applicants.values() if a["externalUserId"] == ext), None) if ext \
                else self.applicants.get(ref)
            if found is None:
                return JSONResponse({"description": "not found", "code": 404}, status_code=404)
            return JSONResponse(found)
        return JSONResponse({"description": "unknown resource", "code": 404}, status_code=404)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/resources/{rest:path}", self._endpoint, methods=["GET", "POST"])])

    def review(self, applicant_id: str, answer: str, *, reject_type: str = "RETRY", comment: str = "",
               at_ms: int | None = None, signed_at: int | None = None, secret: str | None = None) -> Delivery:
        """Completes the review and returns the signed webhook the provider sends for it."""
        applicant = self.applicants[applicant_id]
        at = at_ms if at_ms is not None else int(time.time() * 1000)
        result: dict[str, Any] = {"reviewAnswer": answer}
        if answer == "RED":
            result |= {"reviewRejectType": reject_type, "moderationComment": comment,
                       "rejectLabels": ["DOCUMENT_DAMAGED"]}
        current = applicant["review"].get("reviewDate", -1)
        if at > current:
            applicant["review"] = {"reviewStatus": "completed", "reviewResult": result, "reviewDate": at}
        event_id = secrets.token_hex(16)
        body = orjson.dumps({"eventId": event_id, "type": "applicantReviewed", "applicantId": applicant_id,
                             "externalUserId": applicant["externalUserId"], "reviewStatus": "completed",
                             "reviewResult": result, "createdAtMs": at})
        return Delivery(body, sign(secret or self.webhook_secret, body, signed_at), event_id)

    async def deliver(self, delivery: Delivery, *, header: str | None = None) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as http:
            headers = {"Content-Type": "application/json"}
            if header != "":
                headers[SIGNATURE_HEADER] = header or delivery.header
            return await http.post(self.webhook_url, content=delivery.body, headers=headers)


@asynccontextmanager
async def kyc_standin(webhook_url: str) -> AsyncIterator[KycStandIn]:
    stand_in = KycStandIn(app_token="sbx:" + secrets.token_hex(8), secret_key=secrets.token_hex(16),
                          webhook_secret=secrets.token_hex(16), webhook_url=webhook_url)
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


if __name__ == "__main__":
    from sandbox.serve import env, serve_main

    def _build(base_url: str) -> Starlette:
        return KycStandIn(app_token=env("SANDBOX_KYC_APP_TOKEN"), secret_key=env("SANDBOX_KYC_SECRET_KEY"),
                          webhook_secret=env("SANDBOX_KYC_WEBHOOK_SECRET"),
                          webhook_url=env("SANDBOX_KYC_WEBHOOK_URL"), base_url=base_url).app()

    serve_main("kyc", _build)
