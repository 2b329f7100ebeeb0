"""A Praxis Cashier stand-in on loopback speaking its wire format (the parts
domain/payments/psp/praxis.py uses): `POST /cashier/cashier` (intent payment or withdrawal),
`POST /agent/find-order`, `POST /agent/manage-transaction` (refund), every request and answer
signed `GT-Authentication` = hex SHA-384 over the documented fields then the merchant secret, and
notifications to the session's `notification_url` signed the same way.

The hosted cashier `GET/POST /cashier/pay/{auth_token}` is where a client pays (form field
`outcome`: approved, rejected or cancelled). Withdrawal sessions are processed by the stand-in
itself shortly after they are created (`payout_outcome`), refunds likewise.

Run alone: `PRAXIS_MERCHANT_ID=... PRAXIS_APPLICATION_KEY=... PRAXIS_MERCHANT_SECRET=...
python -m sandbox.praxis --host 127.0.0.1 --port 12112`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import html
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sandbox.serving import env, free_port, serve_main, serving

VERSION = "1.3"
REQUEST_FIELDS = ("merchant_id", "application_key", "timestamp", "intent", "cid", "order_id")
AGENT_FIELDS = ("merchant_id", "application_key", "timestamp", "intent", "tid")
FIND_FIELDS = ("merchant_id", "application_key", "timestamp", "order_id")
RESPONSE_FIELDS = ("status", "timestamp", "redirect_url")
NOTIFICATION_FIELDS = ("merchant_id", "application_key", "timestamp", "customer_token", "order_id", "tid",
                       "currency", "amount", "conversion_rate", "processed_currency", "processed_amount")


def gt_authentication(data: Mapping[str, Any], fields: Iterable[str], secret: str) -> str:
    joined = "".join(str(data[f]) for f in fields if data.get(f) is not None)
    return hashlib.sha384((joined + secret).encode()).hexdigest()


def _flat(notification: Mapping[str, Any]) -> dict[str, Any]:
    tx, session, customer = notification["transaction"], notification["session"], notification["customer"]
    return {"merchant_id": notification["merchant_id"], "application_key": notification["application_key"],
            "timestamp": notification["timestamp"], "customer_token": customer.get("customer_token"),
            "order_id": session["order_id"], **{k: tx.get(k) for k in (
                "tid", "currency", "amount", "conversion_rate", "processed_currency", "processed_amount")}}


@dataclass
class PraxisStandIn:
    merchant_id: str
    application_key: str
    merchant_secret: str
    base_url: str = ""
    payout_outcome: str = "approved"
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _answer(self, body: dict[str, Any], status_code: int = 200) -> JSONResponse:
        body = {**body, "version": VERSION, "timestamp": int(time.time())}
        return JSONResponse(body, status_code=status_code,
                            headers={"GT-Authentication": gt_authentication(body, RESPONSE_FIELDS,
                                                                            self.merchant_secret)})

    # -- notifications ------------------------------------------------------------------------------

    def notification(self, auth_token: str, status: str, *, transaction_type: str | None = None,
                     amount: int | str | None = None, tid: str | None = None, timestamp: int | None = None,
                     status_details: str | None = None) -> dict[str, Any]:
        s = self.sessions[auth_token]
        ttype = transaction_type or ("payout" if s["intent"] == "withdrawal" else "sale")
        tid = tid or str(next(self._ids) + 100000)
        tx = {"transaction_type": ttype, "transaction_status": status, "tid": tid,
              "transaction_id": f"tx-{tid}", "currency": s["currency"],
              "amount": s["amount"] if amount is None else amount, "conversion_rate": "1.000",
              "processed_currency": s["currency"], "processed_amount": s["amount"] if amount is None else amount,
              "fee": 0, "payment_method": s["payment_method"], "gateway": "sandbox",
              "status_code": "SC-000" if status == "approved" else "SC-002",
              "status_details": status_details or status}
        self.transactions[tid] = {**tx, "auth_token": auth_token, "order_id": s["order_id"]}
        first, last = s["customer_data"].get("first_name"), s["customer_data"].get("last_name")
        return {"merchant_id": self.merchant_id, "application_key": self.application_key,
                "customer": {"customer_token": s["customer_token"], "country": s["customer_data"].get("country"),
                             "first_name": first, "last_name": last},
                "session": {"auth_token": auth_token, "intent": s["intent"], "session_status": s["session_status"],
                            "order_id": s["order_id"], "currency": s["currency"], "amount": s["amount"],
                            "payment_method": s["payment_method"], "cid": s["cid"]},
                "transaction": tx, "version": VERSION,
                "timestamp": int(time.time()) if timestamp is None else timestamp}

    def sign(self, notification: Mapping[str, Any], secret: str | None = None) -> str:
        return gt_authentication(_flat(notification), NOTIFICATION_FIELDS, secret or self.merchant_secret)

    async def deliver(self, notification: Mapping[str, Any], *, secret: str | None = None,
                      body: bytes | None = None, header: str | None = None, url: str | None = None) -> httpx.Response:
        raw = body if body is not None else orjson.dumps(notification)
        auth = header if header is not None else self.sign(notification, secret)
        target = url or self.sessions[notification["session"]["auth_token"]]["notification_url"]
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(target, content=raw,
                                     headers={"GT-Authentication": auth, "Content-Type": "application/json"})

    async def complete(self, auth_token: str, outcome: str = "approved") -> httpx.Response:
        """What a client does in the hosted cashier: submit the payment form."""
        async with httpx.AsyncClient(timeout=20) as client:
            return await client.post(f"{self.base_url}/cashier/pay/{auth_token}", data={"outcome": outcome})

    async def _settle(self, auth_token: str, status: str, **kw: Any) -> None:
        s = self.sessions[auth_token]
        s["session_status"] = "closed" if status == "approved" else "failed"
        await self.deliver(self.notification(auth_token, status, **kw))

    # -- the API ------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        async def signed_request(request: Request, fields: tuple[str, ...]) -> dict[str, Any] | JSONResponse:
            try:
                body = orjson.loads(await request.body())
                if not isinstance(body, dict):
                    raise TypeError
            except (orjson.JSONDecodeError, TypeError):
                return self._answer({"status": 1, "description": "Malformed request"}, 400)
            self.requests.append({"path": request.url.path, "body": body})
            expected = gt_authentication(body, fields, self.merchant_secret)
            if not hmac.compare_digest(request.headers.get("gt-authentication", ""), expected):
                return self._answer({"status": 2, "description": "Invalid GT-Authentication"}, 401)
            if body.get("merchant_id") != self.merchant_id or body.get("application_key") != self.application_key:
                return self._answer({"status": 3, "description": "Unknown merchant or application"}, 401)
            return body

        async def cashier(request: Request) -> Response:
            body = await signed_request(request, REQUEST_FIELDS)
            if isinstance(body, JSONResponse):
                return body
            if body.get("intent") not in ("payment", "withdrawal") or not isinstance(body.get("amount"), int):
                return self._answer({"status": 4, "description": "Validation error: intent, amount"})
            for existing, s in self.sessions.items():  # one session per order
                if s["order_id"] == body.get("order_id"):
                    return self._cashier_answer(existing)
            token = uuid.uuid4().hex
            self.sessions[token] = {
                "auth_token": token, "intent": body["intent"], "order_id": str(body["order_id"]),
                "cid": str(body["cid"]), "currency": str(body["currency"]), "amount": body["amount"],
                "payment_method": body.get("payment_method"), "notification_url": str(body["notification_url"]),
                "return_url": body.get("return_url") or "", "customer_data": body.get("customer_data") or {},
                "customer_token": hashlib.sha256(f"{self.merchant_id}:{body['cid']}".encode()).hexdigest()[:32],
                "session_status": "created"}
            if body["intent"] == "withdrawal":
                asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(
                    self._settle(token, self.payout_outcome)))
            return self._cashier_answer(token)

        async def find_order(request: Request) -> Response:
            body = await signed_request(request, FIND_FIELDS)
            if isinstance(body, JSONResponse):
                return body
            txs = [t for t in self.transactions.values() if t["order_id"] == body.get("order_id")]
            if not any(s["order_id"] == body.get("order_id") for s in self.sessions.values()):
                return self._answer({"status": 5, "description": "Order not found"})
            return self._answer({"status": 0, "description": "Ok", "transactions": [
                {k: v for k, v in t.items() if k != "auth_token"} for t in txs]})

        async def manage(request: Request) -> Response:
            body = await signed_request(request, AGENT_FIELDS)
            if isinstance(body, JSONResponse):
                return body
            original = self.transactions.get(str(body.get("tid")))
            if body.get("intent") != "refund" or original is None or original["transaction_status"] != "approved":
                return self._answer({"status": 6, "description": "Transaction cannot be refunded"})
            amount = body.get("amount") or original["amount"]
            refunded = sum(int(t["amount"]) for t in self.transactions.values()
                           if t.get("original_tid") == original["tid"])
            if not isinstance(amount, int) or amount <= 0 or refunded + amount > int(original["amount"]):
                return self._answer({"status": 7, "description": "Refund amount exceeds the transaction"})
            token = original["auth_token"]
            tid = str(next(self._ids) + 100000)

            async def settle() -> None:
                notice = self.notification(token, "approved", transaction_type="refund", amount=amount, tid=tid)
                self.transactions[tid]["original_tid"] = original["tid"]
                await self.deliver(notice)

            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(settle()))
            return self._answer({"status": 0, "description": "Ok", "transaction": {
                "transaction_type": "refund", "transaction_status": "pending", "tid": tid, "amount": amount,
                "currency": original["currency"]}})

        async def hosted(request: Request) -> Response:
            token = request.path_params["token"]
            s = self.sessions.get(token)
            if s is None:
                return HTMLResponse("<h1>Session not found</h1>", status_code=404)
            if request.method == "GET":
                return HTMLResponse(
                    f"<h1>{html.escape(str(s['amount']))} {html.escape(s['currency'])} (minor units)</h1>"
                    "<form method='post'><select name='outcome'><option>approved</option><option>rejected</option>"
                    "<option>cancelled</option></select><button>Pay</button></form>")
            if s["session_status"] != "created":
                return HTMLResponse("<h1>This session is closed</h1>", status_code=409)
            outcome = str((await request.form()).get("outcome", "approved"))
            await self._settle(token, outcome if outcome in ("approved", "rejected", "cancelled") else "error")
            return RedirectResponse(s["return_url"] or f"{self.base_url}/", status_code=303)

        return Starlette(routes=[
            Route("/cashier/cashier", cashier, methods=["POST"]),
            Route("/agent/find-order", find_order, methods=["POST"]),
            Route("/agent/manage-transaction", manage, methods=["POST"]),
            Route("/cashier/pay/{token}", hosted, methods=["GET", "POST"]),
        ])

    def _cashier_answer(self, token: str) -> JSONResponse:
        s = self.sessions[token]
        return self._answer({
            "status": 0, "description": "Ok", "redirect_url": f"{self.base_url}/cashier/pay/{token}",
            "customer": {"customer_token": s["customer_token"], "avs_alert": 0, "verification_alert": 0},
            "session": {"auth_token": token, "intent": s["intent"], "session_status": s["session_status"],
                        "order_id": s["order_id"], "currency": s["currency"], "amount": s["amount"],
                        "cid": s["cid"]}})


@contextlib.asynccontextmanager
async def running_praxis(merchant_id: str, application_key: str, merchant_secret: str
                         ) -> AsyncIterator[PraxisStandIn]:
    port = free_port()
    stand_in = PraxisStandIn(merchant_id, application_key, merchant_secret, base_url=f"http://127.0.0.1:{port}")
    async with serving(stand_in.app(), port):
        yield stand_in


def main(argv: list[str] | None = None) -> None:
    serve_main("praxis", lambda base_url: PraxisStandIn(
        env("PRAXIS_MERCHANT_ID"), env("PRAXIS_APPLICATION_KEY"), env("PRAXIS_MERCHANT_SECRET"),
        base_url=base_url).app(), argv)


if __name__ == "__main__":
    main()
