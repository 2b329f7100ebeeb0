"""A stand-in hosted-checkout PSP on loopback (Starlette under uvicorn), speaking the protocol of
domain/payments/gateway.py and calling our real /webhooks/<provider> with signed events.

Test controls (not part of the provider protocol) make the "customer" pay, fail, dispute, or
settle a payout; `auto_complete` makes session creation deliver "succeeded" before it answers,
which is how a webhook can beat our own record of the provider id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain.shared.webhooks import sign
from sandbox.serve import free_port


@dataclass
class StandInPSP:
    provider: str
    webhook_url: str
    secret: str
    api_key: str
    base_url: str = ""
    auto_complete: bool = False
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    payouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_idempotency: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def event(self, type_: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
        return orjson.dumps({"id": event_id or f"evt_{uuid.uuid4().hex[:16]}", "type": type_, "data": data})

    async def deliver(self, body: bytes, *, secret: str | None = None) -> httpx.Response:
        headers = {"X-Signature": sign(secret or self.secret, body), "Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(self.webhook_url, content=body, headers=headers)

    def paid_event(self, session_id: str, *, payer_name: str = "Test Client", bin_country: str = "DE",
                   amount: str | None = None) -> bytes:
        s = self.sessions[session_id]
        return self.event("payment.succeeded", {
            "payment_id": session_id, "reference": s["reference"], "amount": amount or s["amount"],
            "currency": s["currency"], "payer_name": payer_name,
            "card": {"bin_country": bin_country, "last4": "4242", "fingerprint": "fp_" + session_id[-6:],
                     "number": "4242424242424242", "cvv": "123"}})

    def app(self) -> Starlette:
        async def authorised(request: Request) -> dict[str, Any] | JSONResponse:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return JSONResponse({"error": "bad api key"}, status_code=401)
            body: dict[str, Any] = await request.json()
            self.requests.append({"path": request.url.path, "body": body})
            return body

        async def create_session(request: Request) -> JSONResponse:
            body = await authorised(request)
            if isinstance(body, JSONResponse):
                return body
            key = request.headers.get("idempotency-key", "")
            if key in self.by_idempotency:
                return JSONResponse(self.by_idempotency[key])
            sid = f"cs_{next(self._ids)}_{uuid.uuid4().hex[:8]}"
            self.sessions[sid] = {"reference": body["reference"], "amount": body["amount"],
                                  "currency": body["currency"]}
            answer = {"id": sid, "status": "open", "url": f"{self.base_url}/pay/{sid}"}
            self.by_idempotency[key] = answer
            if self.auto_complete:
                await self.deliver(self.paid_event(sid))
            return JSONResponse(answer)

        async def create_payout(request: Request) -> JSONResponse:
            body = await authorised(request)
            if isinstance(body, JSONResponse):
                return body
            key = request.headers.get("idempotency-key", "")
            if key in self.by_idempotency:
                return JSONResponse(self.by_idempotency[key])
            pid = f"po_{next(self._ids)}_{uuid.uuid4().hex[:8]}"
            self.payouts[pid] = body
            answer = {"id": pid, "status": "pending"}
            self.by_idempotency[key] = answer
            return JSONResponse(answer)

        async def create_refund(request: Request) -> JSONResponse:
            body = await authorised(request)
            if isinstance(body, JSONResponse):
                return body
            rid = f"re_{next(self._ids)}"
            asyncio.get_running_loop().call_later(0.01, lambda: asyncio.ensure_future(self.deliver(self.event(
                "refund.succeeded", {"payment_id": body["payment_id"], "refund_id": rid, "amount": body["amount"]}))))
            return JSONResponse({"id": rid, "status": "pending"})

        return Starlette(routes=[
            Route("/v1/checkout/sessions", create_session, methods=["POST"]),
            Route("/v1/payouts", create_payout, methods=["POST"]),
            Route("/v1/refunds", create_refund, methods=["POST"]),
        ])


@contextlib.asynccontextmanager
async def running_psp(provider: str, webhook_base: str, secret: str, api_key: str) -> AsyncIterator[StandInPSP]:
    port = free_port()
    psp = StandInPSP(provider, f"{webhook_base}/webhooks/{provider}", secret, api_key,
                     base_url=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(psp.app(), host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield psp
    finally:
        server.should_exit = True
        await task


if __name__ == "__main__":
    from sandbox.serve import env, serve_main

    def _build(base_url: str) -> Starlette:
        provider = env("SANDBOX_PSP_PROVIDER", "cardpay")
        return StandInPSP(provider, env("SANDBOX_PSP_WEBHOOK_URL"), env("SANDBOX_PSP_WEBHOOK_SECRET"),
                          env("SANDBOX_PSP_API_KEY"), base_url=base_url).app()

    serve_main("psp", _build)
