"""Stripe (https://docs.stripe.com/api): Checkout Sessions for hosted card deposits, Refunds for
refunds and for card withdrawals (money goes back to the card it came from: a refund of the
client's latest PaymentIntent on that method, marked `metadata[kind]=payout`), signed webhooks.

Requests are form-encoded with `Authorization: Bearer sk_...` and an `Idempotency-Key`; amounts
are integers in the currency's minor unit; our reference travels as `client_reference_id` and
`metadata[reference]` (on the session and, through `payment_intent_data`, on its PaymentIntent).

Webhooks: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`, each v1 = HMAC-SHA256(whsec, "{t}.{body}"),
tolerance 300 s, several endpoint secrets accepted while one is rolled. Events used:
checkout.session.completed / async_payment_succeeded / async_payment_failed / expired,
payment_intent.succeeded / payment_intent.payment_failed, charge.refunded, charge.dispute.created,
refund.updated / refund.failed (payouts). The event id dedupes redeliveries.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from domain.payments.config import call_api_key, webhook_secrets
from domain.payments.errors import GatewayError
from domain.payments.psp import call, from_minor, to_minor
from domain.payments.psp_port import EventKind, Hosted, ProviderObject, PspContext, PspEvent, WebhookAnswer
from domain.payments.repo import Payment
from domain.shared.settings import Settings
from domain.shared.webhooks import WebhookRejected, verify_signature

SIGNATURE_HEADER = "stripe-signature"
API_VERSION = "2024-06-20"
MAX_ID = 200

_SESSION_STATUS = {"complete": "succeeded", "open": "pending", "expired": "cancelled"}
_INTENT_STATUS = {"succeeded": "succeeded", "canceled": "cancelled", "requires_payment_method": "failed"}
_REFUND_STATUS = {"succeeded": "succeeded", "pending": "pending", "failed": "failed", "canceled": "failed"}


class StripeAdapter:
    name = "stripe"

    def _headers(self, ctx: PspContext, idempotency_key: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {call_api_key(ctx.settings, ctx.provider)}",
                   "Stripe-Version": API_VERSION}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    async def create_hosted_payment(self, ctx: PspContext, payment: Payment, *, return_url: str,
                                    customer_name: str) -> Hosted:
        back = return_url or ctx.settings.public_base_url
        form = {
            "mode": "payment",
            "client_reference_id": payment.reference,
            "success_url": back, "cancel_url": back,
            "line_items[0][quantity]": "1",
            "line_items[0][price_data][currency]": payment.currency.lower(),
            "line_items[0][price_data][unit_amount]": str(to_minor(payment.amount, payment.currency)),
            "line_items[0][price_data][product_data][name]": f"Deposit {payment.reference}",
            "metadata[reference]": payment.reference,
            "payment_intent_data[metadata][reference]": payment.reference,
        }
        data, _ = await call(ctx, payment, "POST", "/v1/checkout/sessions", form=form,
                             headers=self._headers(ctx, f"{payment.reference}:checkout"))
        if not data.get("id") or not data.get("url"):
            raise GatewayError("the provider's answer has no session id or url")
        return Hosted(str(data["id"]), str(data["url"]), str(data.get("status", "open")))

    async def _intent_of(self, ctx: PspContext, payment: Payment, provider_id: str) -> str:
        if provider_id.startswith("cs_"):  # a session whose completion we have not heard of yet
            data, _ = await call(ctx, payment, "GET", f"/v1/checkout/sessions/{provider_id}",
                                 headers=self._headers(ctx, None))
            if not data.get("payment_intent"):
                raise GatewayError("the checkout session has no payment to return money to")
            return str(data["payment_intent"])
        return provider_id

    async def payout(self, ctx: PspContext, payment: Payment, *, source_payment_id: str | None) -> ProviderObject:
        if not source_payment_id:
            raise GatewayError("no card deposit on this method to return the money to")
        intent = await self._intent_of(ctx, payment, source_payment_id)
        form = {"payment_intent": intent, "amount": str(to_minor(payment.amount, payment.currency)),
                "metadata[reference]": payment.reference, "metadata[kind]": "payout"}
        data, _ = await call(ctx, payment, "POST", "/v1/refunds", form=form,
                             headers=self._headers(ctx, f"{payment.reference}:payout"))
        return ProviderObject(str(data["id"]), _REFUND_STATUS.get(str(data.get("status")), "pending"))

    async def refund(self, ctx: PspContext, payment: Payment, amount: Decimal, *, key: str) -> ProviderObject:
        assert payment.provider_payment_id is not None
        intent = await self._intent_of(ctx, payment, payment.provider_payment_id)
        form = {"payment_intent": intent, "amount": str(to_minor(amount, payment.currency)),
                "metadata[reference]": payment.reference, "metadata[kind]": "refund"}
        data, _ = await call(ctx, payment, "POST", "/v1/refunds", form=form, headers=self._headers(ctx, key))
        return ProviderObject(str(data["id"]), _REFUND_STATUS.get(str(data.get("status")), "pending"))

    async def lookup(self, ctx: PspContext, payment: Payment) -> ProviderObject:
        pid = payment.provider_payment_id
        if not pid:
            raise GatewayError("the payment has no provider id yet")
        if pid.startswith("cs_"):
            path, table = f"/v1/checkout/sessions/{pid}", _SESSION_STATUS
        elif pid.startswith("re_"):
            path, table = f"/v1/refunds/{pid}", _REFUND_STATUS
        else:
            path, table = f"/v1/payment_intents/{pid}", _INTENT_STATUS
        data, _ = await call(ctx, payment, "GET", path, headers=self._headers(ctx, None))
        status = table.get(str(data.get("status")), "pending")
        if pid.startswith("cs_") and data.get("status") == "complete" and data.get("payment_status") != "paid":
            status = "pending"
        return ProviderObject(pid, status)

    def parse_webhook(self, settings: Settings, provider: str, body: bytes,
                      headers: Mapping[str, str]) -> list[PspEvent]:
        verify_signature(headers.get(SIGNATURE_HEADER), body, webhook_secrets(settings, provider))
        try:
            event = orjson.loads(body)
            event_id, type_ = str(event["id"]), str(event["type"])
            obj = event["data"]["object"]
            if not isinstance(obj, dict) or not event_id or len(event_id) > MAX_ID:
                raise ValueError("bad event")
            return _normalise(event_id, type_, obj)
        except (ValueError, KeyError, TypeError, AttributeError, orjson.JSONDecodeError) as exc:
            raise WebhookRejected("the event is not valid JSON of the expected shape",
                                  code="WEBHOOK_MALFORMED") from exc

    def answer(self, settings: Settings, provider: str, outcome: dict[str, Any]) -> WebhookAnswer:
        return WebhookAnswer(200 if outcome.get("status") != "parked" else 202, outcome)


def _id(value: Any) -> str:
    text = value.get("id") if isinstance(value, dict) else value  # expanded or not
    if not text or len(str(text)) > MAX_ID:
        raise ValueError("missing or oversized id")
    return str(text)


def _cur(obj: Mapping[str, Any]) -> str:
    return str(obj["currency"]).upper()


def _normalise(event_id: str, type_: str, obj: dict[str, Any]) -> list[PspEvent]:
    raw = {"type": type_, "object": obj}
    metadata = obj.get("metadata") or {}
    if type_.startswith("checkout.session."):
        kind = {"checkout.session.completed": EventKind.PAYMENT_SUCCEEDED if obj.get("payment_status") == "paid"
                else EventKind.PAYMENT_PENDING,
                "checkout.session.async_payment_succeeded": EventKind.PAYMENT_SUCCEEDED,
                "checkout.session.async_payment_failed": EventKind.PAYMENT_FAILED,
                "checkout.session.expired": EventKind.PAYMENT_CANCELLED}.get(type_)
        if kind is None:
            return []
        details = obj.get("customer_details") or {}
        intent = obj.get("payment_intent")
        reference = obj.get("client_reference_id") or metadata.get("reference")
        return [PspEvent(event_id, kind, _id(obj), reference=reference,
                         amount=from_minor(obj["amount_total"], _cur(obj)) if kind is EventKind.PAYMENT_SUCCEEDED
                         else None, currency=_cur(obj), payer_name=details.get("name"),
                         card_country=(details.get("address") or {}).get("country"),
                         replaces_id=_id(intent) if intent else None, raw=raw)]
    if type_ == "payment_intent.succeeded":
        pm = obj.get("payment_method_details") or {}
        return [PspEvent(event_id, EventKind.PAYMENT_SUCCEEDED, _id(obj), reference=metadata.get("reference"),
                         amount=from_minor(obj["amount_received"], _cur(obj)), currency=_cur(obj),
                         card_country=(pm.get("card") or {}).get("country"), replaces_id=_id(obj), raw=raw)]
    if type_ == "payment_intent.payment_failed":
        error = obj.get("last_payment_error") or {}
        return [PspEvent(event_id, EventKind.PAYMENT_FAILED, _id(obj), reference=metadata.get("reference"),
                         reason=str(error.get("message") or "the payment failed"), raw=raw)]
    if type_ == "charge.refunded":
        refunds = (obj.get("refunds") or {}).get("data") or []
        return [PspEvent(f"{event_id}:{_id(r)}", EventKind.REFUNDED, _id(obj["payment_intent"]),
                         amount=from_minor(r["amount"], _cur(obj)), currency=_cur(obj), case_id=_id(r),
                         reason=str(r.get("reason") or ""), raw=raw)
                for r in refunds if (r.get("metadata") or {}).get("kind") != "payout"
                and r.get("status") in ("succeeded", "pending")]
    if type_ == "charge.dispute.created":
        return [PspEvent(event_id, EventKind.CHARGED_BACK, _id(obj["payment_intent"]),
                         amount=from_minor(obj["amount"], _cur(obj)), currency=_cur(obj), case_id=_id(obj),
                         reason=str(obj.get("reason") or ""), raw=raw)]
    if type_ in ("refund.updated", "refund.created", "refund.failed") and metadata.get("kind") == "payout":
        status = obj.get("status")
        if type_ == "refund.failed" or status in ("failed", "canceled"):
            return [PspEvent(event_id, EventKind.PAYOUT_FAILED, _id(obj), reference=metadata.get("reference"),
                             reason=str(obj.get("failure_reason") or "the refund to the card failed"), raw=raw)]
        if status == "succeeded":
            return [PspEvent(event_id, EventKind.PAYOUT_PAID, _id(obj), reference=metadata.get("reference"),
                             raw=raw)]
    return []


ADAPTER = StripeAdapter()
