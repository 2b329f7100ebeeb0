"""A Stripe stand-in on loopback speaking Stripe's wire format (the parts domain/payments/psp/stripe.py
uses): form-encoded `POST /v1/checkout/sessions`, `GET /v1/checkout/sessions/{id}`,
`GET /v1/payment_intents/{id}`, `GET /v1/charges/{id}`, `POST /v1/refunds`, `GET /v1/refunds/{id}`,
`GET /v1/balance_transactions` (what finance reconciles from; `expand[]=data.source`), Bearer secret key,
Idempotency-Key replay, Stripe error bodies, and events signed `Stripe-Signature: t=..,v1=..`.

The hosted page `GET/POST /c/pay/{session}` is where a client "pays", as on checkout.stripe.com;
Stripe's test cards decide the outcome: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is
declined, 4000 0000 0000 0259 succeeds and is then disputed. Refunds marked `metadata[kind]=payout`
report through refund.updated (`payout_outcome` makes them fail), others through charge.refunded.

Run alone: `STRIPE_API_KEY=sk_test_... STRIPE_WEBHOOK_SECRET=whsec_... STRIPE_WEBHOOK_URL=http://127.0.0.1:8000/webhooks/stripe
python -m sandbox.stripe --host 127.0.0.1 --port 12111`.
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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sandbox.serving import env, free_port, serve_main, serving

DECLINED = "4000000000000002"
DISPUTED = "4000000000000259"


def stripe_signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def _nested(form: dict[str, str]) -> dict[str, Any]:
    """`a[b][0][c]=v` form keys as nested dicts (list indexes kept as string keys)."""
    out: dict[str, Any] = {}
    for key, value in form.items():
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _error(status: int, message: str, type_: str = "invalid_request_error", code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": type_, "message": message, **({"code": code} if code else {})}},
                        status_code=status)


@dataclass
class StripeStandIn:
    api_key: str
    webhook_url: str
    webhook_secret: str
    base_url: str = ""
    auto_complete: bool = False  # pay as the session is created: the webhook beats the API answer
    payout_outcome: str = "succeeded"
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    balance_transactions: list[dict[str, Any]] = field(default_factory=list)
    idempotent: dict[str, tuple[bytes, dict[str, Any]]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids)}{uuid.uuid4().hex[:12]}"

    # -- events -------------------------------------------------------------------------------------

    def event(self, type_: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
        return orjson.dumps({"id": event_id or self._new_id("evt"), "object": "event", "api_version": "2024-06-20",
                             "created": int(time.time()), "livemode": False, "type": type_,
                             "data": {"object": obj}, "pending_webhooks": 1})

    async def deliver(self, body: bytes, *, secret: str | None = None, timestamp: int | None = None,
                      header: str | None = None) -> httpx.Response:
        signature = header if header is not None else stripe_signature(secret or self.webhook_secret, body, timestamp)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(self.webhook_url, content=body,
                                     headers={"Stripe-Signature": signature, "Content-Type": "application/json"})

    def _book(self, kind: str, amount: int, currency: str, source: str) -> None:
        """A balance transaction, as Stripe books money moving on the account (no fees here)."""
        self.balance_transactions.insert(0, {
            "id": self._new_id("txn"), "object": "balance_transaction", "amount": amount, "fee": 0, "net": amount,
            "currency": currency, "type": kind, "reporting_category": kind, "source": source,
            "status": "available", "created": int(time.time())})

    def _intent_for(self, session_id: str) -> dict[str, Any]:
        s = self.sessions[session_id]
        if s["payment_intent"] is None:
            pid = self._new_id("pi")
            s["payment_intent"] = pid
            self.intents[pid] = {"id": pid, "object": "payment_intent", "amount": s["amount_total"],
                                 "amount_received": 0, "currency": s["currency"], "status": "requires_payment_method",
                                 "metadata": dict(s["payment_intent_metadata"]), "latest_charge": None,
                                 "last_payment_error": None}
        return self.intents[s["payment_intent"]]

    def _charge(self, session_id: str, name: str, country: str, last4: str = "4242") -> dict[str, Any]:
        """The session's payment captured: a succeeded PaymentIntent with its Charge (idempotent)."""
        s = self.sessions[session_id]
        intent = self._intent_for(session_id)
        if intent["latest_charge"] is None:
            charge_id = self._new_id("ch")
            self.charges[charge_id] = {
                "id": charge_id, "object": "charge", "amount": intent["amount"], "amount_refunded": 0,
                "currency": intent["currency"], "payment_intent": intent["id"], "refunded": False,
                "refunds": {"object": "list", "data": []},
                "payment_method_details": {"card": {"country": country, "last4": last4}}}
            self._book("charge", intent["amount"], intent["currency"], charge_id)
            intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=charge_id,
                          last_payment_error=None, payment_method_details={"card": {"country": country}})
            s.update(status="complete", payment_status="paid",
                     customer_details={"name": name, "address": {"country": country}})
        return intent

    def paid_event(self, session_id: str, *, amount: int | str | None = None, payer_name: str = "Test Client",
                   bin_country: str = "DE") -> bytes:
        """checkout.session.completed for the session, now paid (what the hosted page sends on success)."""
        self._charge(session_id, payer_name, bin_country)
        s = dict(self.sessions[session_id])
        if amount is not None:
            s["amount_total"] = amount
        return self.event("checkout.session.completed", s)

    def failed_event(self, session_id: str, message: str = "Your card was declined.") -> bytes:
        intent = {**self._intent_for(session_id), "status": "requires_payment_method",
                  "last_payment_error": {"type": "card_error", "code": "card_declined", "message": message}}
        return self.event("payment_intent.payment_failed", intent)

    def expired_event(self, session_id: str) -> bytes:
        return self.event("checkout.session.expired", {**self.sessions[session_id], "status": "expired"})

    def dispute_event(self, session_id: str, *, amount: int | None = None, dispute_id: str | None = None,
                      reason: str = "fraudulent") -> bytes:
        intent = self._intent_for(session_id)
        return self.event("charge.dispute.created", {
            "id": dispute_id or self._new_id("dp"), "object": "dispute", "amount": amount or intent["amount"],
            "currency": intent["currency"], "charge": intent["latest_charge"] or self._new_id("ch"),
            "payment_intent": intent["id"], "reason": reason, "status": "needs_response"})

    def payout_event(self, refund_id: str, status: str = "succeeded") -> bytes:
        refund = {**self.refunds[refund_id], "status": status}
        if status == "failed":
            refund["failure_reason"] = "expired_or_canceled_card"
        return self.event("refund.updated" if status == "succeeded" else "refund.failed", refund)

    async def complete(self, session_id: str, *, card: str = "4242424242424242", name: str = "Test Client",
                       country: str = "DE") -> httpx.Response:
        """What a client does on the hosted page: submit the card form."""
        async with httpx.AsyncClient(timeout=20) as client:
            return await client.post(f"{self.base_url}/c/pay/{session_id}",
                                     data={"card_number": card, "name": name, "country": country})

    async def _pay(self, session_id: str, card: str, name: str, country: str) -> None:
        s = self.sessions[session_id]
        intent = self._intent_for(session_id)
        if card == DECLINED:
            intent.update(status="requires_payment_method", last_payment_error={
                "type": "card_error", "code": "card_declined", "message": "Your card was declined."})
            await self.deliver(self.event("payment_intent.payment_failed", dict(intent)))
            return
        intent = self._charge(session_id, name, country, card[-4:])
        await self.deliver(self.event("checkout.session.completed", dict(s)))
        await self.deliver(self.event("payment_intent.succeeded", dict(intent)))
        if card == DISPUTED:
            await self.deliver(self.dispute_event(session_id))

    # -- the API ------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        def authorised(request: Request) -> JSONResponse | None:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return _error(401, "Invalid API Key provided", "invalid_request_error")
            return None

        async def replayed(request: Request, raw: bytes) -> tuple[str, JSONResponse | None]:
            key = request.headers.get("idempotency-key", "")
            if key and key in self.idempotent:
                sent, answer = self.idempotent[key]
                if sent != raw:
                    return key, _error(400, "Keys for idempotent requests can only be used with the same parameters "
                                            "they were first used with.", "idempotency_error")
                return key, JSONResponse(answer)
            return key, None

        async def create_session(request: Request) -> Response:
            if (refused := authorised(request)) is not None:
                return refused
            raw = await request.body()
            key, replay = await replayed(request, raw)
            if replay is not None:
                return replay
            form = {k: str(v) for k, v in (await request.form()).items()}
            self.requests.append({"path": request.url.path, "form": form})
            body = _nested(form)
            try:
                item = body["line_items"]["0"]
                amount = int(item["price_data"]["unit_amount"]) * int(item.get("quantity", "1"))
                currency = item["price_data"]["currency"]
            except (KeyError, ValueError):
                return _error(400, "Missing required param: line_items[0][price_data].", code="parameter_missing")
            if body.get("mode") != "payment" or not body.get("success_url"):
                return _error(400, "Missing required param: success_url.", code="parameter_missing")
            sid = self._new_id("cs")
            session = {"id": sid, "object": "checkout.session", "mode": "payment", "status": "open",
                       "payment_status": "unpaid", "amount_total": amount, "currency": currency,
                       "client_reference_id": body.get("client_reference_id"),
                       "metadata": body.get("metadata") or {}, "payment_intent": None,
                       "success_url": body["success_url"], "cancel_url": body.get("cancel_url"),
                       "url": f"{self.base_url}/c/pay/{sid}", "customer_details": None,
                       "payment_intent_metadata": (body.get("payment_intent_data") or {}).get("metadata") or {}}
            self.sessions[sid] = session
            answer = {k: v for k, v in session.items() if k != "payment_intent_metadata"}
            if key:
                self.idempotent[key] = (raw, answer)
            if self.auto_complete:
                await self._pay(sid, "4242424242424242", "Test Client", "DE")
            return JSONResponse(answer)

        async def get_object(request: Request) -> Response:
            if (refused := authorised(request)) is not None:
                return refused
            kind, oid = request.path_params["kind"], request.path_params["id"]
            table = {"checkout/sessions": self.sessions, "payment_intents": self.intents,
                     "refunds": self.refunds, "charges": self.charges}.get(kind, {})
            if oid not in table:
                return _error(404, f"No such object: '{oid}'", code="resource_missing")
            return JSONResponse({k: v for k, v in table[oid].items() if k != "payment_intent_metadata"})

        async def create_refund(request: Request) -> Response:
            if (refused := authorised(request)) is not None:
                return refused
            raw = await request.body()
            key, replay = await replayed(request, raw)
            if replay is not None:
                return replay
            form = {k: str(v) for k, v in (await request.form()).items()}
            self.requests.append({"path": request.url.path, "form": form})
            body = _nested(form)
            intent = self.intents.get(str(body.get("payment_intent")))
            if intent is None or intent["status"] != "succeeded":
                return _error(400, "This PaymentIntent has no successful charge to refund.", code="charge_not_found")
            charge = self.charges[intent["latest_charge"]]
            amount = int(body.get("amount") or charge["amount"] - charge["amount_refunded"])
            if amount <= 0 or charge["amount_refunded"] + amount > charge["amount"]:
                return _error(400, f"Refund amount ({amount}) is greater than unrefunded amount on charge.",
                              code="amount_too_large")
            rid = self._new_id("re")
            refund = {"id": rid, "object": "refund", "amount": amount, "currency": charge["currency"],
                      "charge": charge["id"], "payment_intent": intent["id"], "status": "pending",
                      "metadata": body.get("metadata") or {}, "reason": body.get("reason")}
            self.refunds[rid] = refund
            charge["amount_refunded"] += amount
            answer = dict(refund)
            if key:
                self.idempotent[key] = (raw, answer)
            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(self._settle_refund(rid)))
            return JSONResponse(answer)

        async def hosted_page(request: Request) -> Response:
            sid = request.path_params["id"]
            session = self.sessions.get(sid)
            if session is None:
                return HTMLResponse("<h1>Session not found</h1>", status_code=404)
            if request.method == "GET":
                amount = session["amount_total"]
                return HTMLResponse(
                    f"<h1>Pay {html.escape(str(amount))} {html.escape(session['currency'].upper())} (minor units)</h1>"
                    f"<form method='post'><input name='card_number' value='4242424242424242'>"
                    f"<input name='name' value='Test Client'><input name='country' value='DE'>"
                    f"<button>Pay</button></form>")
            if session["status"] != "open":
                return HTMLResponse("<h1>This session is no longer open</h1>", status_code=409)
            form = await request.form()
            await self._pay(sid, str(form.get("card_number", "")).replace(" ", ""), str(form.get("name", "")),
                            str(form.get("country", "DE")))
            return RedirectResponse(session["success_url"] if session["status"] == "complete"
                                    else f"{self.base_url}/c/pay/{sid}", status_code=303)

        async def balance_transactions(request: Request) -> Response:
            """GET /v1/balance_transactions, newest first; `expand[]=data.source` embeds each source."""
            if (refused := authorised(request)) is not None:
                return refused
            expand = "data.source" in request.query_params.getlist("expand[]")
            sources = {**self.charges, **self.refunds}
            data = [{**t, "source": sources[t["source"]]} if expand else t for t in self.balance_transactions]
            return JSONResponse({"object": "list", "url": "/v1/balance_transactions", "has_more": False,
                                 "data": data})

        return Starlette(routes=[
            Route("/v1/balance_transactions", balance_transactions, methods=["GET"]),
            Route("/v1/checkout/sessions", create_session, methods=["POST"]),
            Route("/v1/refunds", create_refund, methods=["POST"]),
            Route("/v1/{kind:path}/{id}", get_object, methods=["GET"]),
            Route("/c/pay/{id}", hosted_page, methods=["GET", "POST"]),
        ])

    async def _settle_refund(self, refund_id: str) -> None:
        refund = self.refunds[refund_id]
        if refund["metadata"].get("kind") == "payout":
            refund["status"] = self.payout_outcome
            if self.payout_outcome == "succeeded":
                self._book("refund", -refund["amount"], refund["currency"], refund_id)
                await self.deliver(self.event("refund.updated", dict(refund)))
            else:
                refund["failure_reason"] = "expired_or_canceled_card"
                await self.deliver(self.event("refund.failed", dict(refund)))
            return
        refund["status"] = "succeeded"
        self._book("refund", -refund["amount"], refund["currency"], refund_id)
        charge = self.charges[refund["charge"]]
        charge["refunds"]["data"].insert(0, dict(refund))
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        await self.deliver(self.event("charge.refunded", dict(charge)))


@contextlib.asynccontextmanager
async def running_stripe(webhook_url: str, webhook_secret: str, api_key: str) -> AsyncIterator[StripeStandIn]:
    port = free_port()
    stand_in = StripeStandIn(api_key, webhook_url, webhook_secret, base_url=f"http://127.0.0.1:{port}")
    async with serving(stand_in.app(), port):
        yield stand_in


def main(argv: list[str] | None = None) -> None:
    serve_main("stripe", lambda base_url: StripeStandIn(
        env("STRIPE_API_KEY"), env("STRIPE_WEBHOOK_URL"), env("STRIPE_WEBHOOK_SECRET"), base_url=base_url).app(), argv)


if __name__ == "__main__":
    main()
