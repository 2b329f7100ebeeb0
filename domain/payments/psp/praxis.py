"""Praxis Cashier (https://doc.praxiscashier.com), the cashier aggregator many brokers use for local
methods and cards: one hosted cashier session per deposit or withdrawal, results by notification.

Requests are JSON with `merchant_id`, `application_key`, `version` and a Unix `timestamp`, signed in
the `GT-Authentication` header: hex SHA-384 of the listed fields concatenated in order, then the
merchant secret. Amounts are integers in minor units; our reference is the `order_id`.

* `POST /cashier/cashier` (intent `payment` or `withdrawal`): signed over merchant_id,
  application_key, timestamp, intent, cid, order_id. Answer `{status: 0, redirect_url, session:
  {auth_token, ...}}` signed over status, timestamp, redirect_url.
* `POST /agent/manage-transaction` (intent `refund`, by `tid`), `POST /agent/find-order`.
* Notifications to `notification_url`: signed over merchant_id, application_key, timestamp,
  customer_token, order_id, tid, currency, amount, conversion_rate, processed_currency,
  processed_amount; answered `{status: 0, description, version, timestamp}` signed over status and
  timestamp. A notification is one transaction state: (tid, transaction_status) dedupes it; its
  timestamp must be within 300 s.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from domain.payments.config import optional_value, provider_value, webhook_secrets
from domain.payments.errors import GatewayError
from domain.payments.psp import call, from_minor, to_minor
from domain.payments.psp_port import EventKind, Hosted, ProviderObject, PspContext, PspEvent, WebhookAnswer
from domain.payments.repo import Payment
from domain.shared.settings import Settings
from domain.shared.webhooks import TOLERANCE_S, WebhookRejected

VERSION = "1.3"
HEADER = "gt-authentication"
REQUEST_FIELDS = ("merchant_id", "application_key", "timestamp", "intent", "cid", "order_id")
RESPONSE_FIELDS = ("status", "timestamp", "redirect_url")
AGENT_FIELDS = ("merchant_id", "application_key", "timestamp", "intent", "tid")
FIND_FIELDS = ("merchant_id", "application_key", "timestamp", "order_id")
NOTIFICATION_FIELDS = ("merchant_id", "application_key", "timestamp", "customer_token", "order_id", "tid",
                       "currency", "amount", "conversion_rate", "processed_currency", "processed_amount")
ACK_FIELDS = ("status", "timestamp")
MAX_ID = 200

_DEPOSIT = {"approved": EventKind.PAYMENT_SUCCEEDED, "rejected": EventKind.PAYMENT_FAILED,
            "error": EventKind.PAYMENT_FAILED, "cancelled": EventKind.PAYMENT_CANCELLED,
            "pending": EventKind.PAYMENT_PENDING, "initialized": EventKind.PAYMENT_PENDING,
            "chargeback": EventKind.CHARGED_BACK, "refunded": EventKind.REFUNDED}
_PAYOUT = {"approved": EventKind.PAYOUT_PAID, "rejected": EventKind.PAYOUT_FAILED,
           "error": EventKind.PAYOUT_FAILED, "cancelled": EventKind.PAYOUT_FAILED}
_STATUS = {"approved": "succeeded", "rejected": "failed", "error": "failed", "cancelled": "cancelled"}


def concatenated(data: Mapping[str, Any], fields: Iterable[str]) -> str:
    """The documented concatenation: each listed field's value, absent or null ones skipped."""
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)

    return "".join(text(data[f]) for f in fields if data.get(f) is not None)


def signature(data: Mapping[str, Any], fields: Iterable[str], secret: str) -> str:
    return hashlib.sha384((concatenated(data, fields) + secret).encode()).hexdigest()


def notification_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """A notification's signed values, flattened from its customer/session/transaction parts."""
    customer, session, tx = body.get("customer") or {}, body.get("session") or {}, body.get("transaction") or {}
    return {"merchant_id": body.get("merchant_id"), "application_key": body.get("application_key"),
            "timestamp": body.get("timestamp"), "customer_token": customer.get("customer_token"),
            "order_id": session.get("order_id"), "tid": tx.get("tid"), "currency": tx.get("currency"),
            "amount": tx.get("amount"), "conversion_rate": tx.get("conversion_rate"),
            "processed_currency": tx.get("processed_currency"), "processed_amount": tx.get("processed_amount")}


class PraxisAdapter:
    name = "praxis"

    def _base(self, ctx: PspContext) -> dict[str, Any]:
        return {"merchant_id": provider_value(ctx.settings, ctx.provider, "MERCHANT_ID"),
                "application_key": provider_value(ctx.settings, ctx.provider, "APPLICATION_KEY"),
                "version": VERSION, "timestamp": int(time.time())}

    def _secret(self, ctx: PspContext) -> str:
        return webhook_secrets(ctx.settings, ctx.provider)[0]  # the merchant secret (first = current)

    def _notification_url(self, ctx: PspContext) -> str:
        return (optional_value(ctx.provider, "NOTIFICATION_URL")
                or f"{ctx.settings.public_base_url.rstrip('/')}/webhooks/{ctx.provider}")

    async def _signed(self, ctx: PspContext, payment: Payment, path: str, body: dict[str, Any],
                      fields: tuple[str, ...]) -> dict[str, Any]:
        auth = signature(body, fields, self._secret(ctx))
        data, headers = await call(ctx, payment, "POST", path, json=body,
                                   headers={"GT-Authentication": auth, "Content-Type": "application/json"})
        if data.get("status") != 0:
            raise GatewayError(str(data.get("description") or "the payment provider refused the request")[:200])
        expected = signature(data, RESPONSE_FIELDS, self._secret(ctx))
        if not hmac.compare_digest(headers.get(HEADER, ""), expected):
            raise GatewayError("the provider's answer is not signed with our merchant secret")
        return data

    async def _cashier(self, ctx: PspContext, payment: Payment, intent: str, return_url: str,
                       customer_name: str) -> dict[str, Any]:
        first, _, last = customer_name.partition(" ")
        body = {**self._base(ctx), "intent": intent, "cid": str(payment.user_id), "order_id": payment.reference,
                "currency": payment.currency, "amount": to_minor(payment.amount, payment.currency),
                "locale": "en-GB", "payment_method": ctx.method.code, "gateway": None,
                "customer_data": {"country": payment.country, "first_name": first or None, "last_name": last or None},
                "notification_url": self._notification_url(ctx),
                "return_url": return_url or ctx.settings.public_base_url}
        if intent == "withdrawal":
            body["withdrawal_details"] = dict(payment.destination)
        return await self._signed(ctx, payment, "/cashier/cashier", body, REQUEST_FIELDS)

    async def create_hosted_payment(self, ctx: PspContext, payment: Payment, *, return_url: str,
                                    customer_name: str) -> Hosted:
        data = await self._cashier(ctx, payment, "payment", return_url, customer_name)
        session = data.get("session") or {}
        if not session.get("auth_token") or not data.get("redirect_url"):
            raise GatewayError("the provider's answer has no session or redirect url")
        return Hosted(str(session["auth_token"]), str(data["redirect_url"]), str(session.get("session_status")))

    async def payout(self, ctx: PspContext, payment: Payment, *, source_payment_id: str | None) -> ProviderObject:
        data = await self._cashier(ctx, payment, "withdrawal", "", "")
        session = data.get("session") or {}
        if not session.get("auth_token"):
            raise GatewayError("the provider's answer has no session")
        return ProviderObject(str(session["auth_token"]), "pending")

    async def refund(self, ctx: PspContext, payment: Payment, amount: Decimal, *, key: str) -> ProviderObject:
        found = await self._find(ctx, payment)
        tid = next((t.get("tid") for t in found.get("transactions") or []
                    if t.get("transaction_status") == "approved"
                    and t.get("transaction_type", "sale") == "sale"), None)
        if tid is None:
            raise GatewayError("the provider has no approved transaction to refund")
        body = {**self._base(ctx), "intent": "refund", "tid": tid, "amount": to_minor(amount, payment.currency)}
        data = await self._signed(ctx, payment, "/agent/manage-transaction", body, AGENT_FIELDS)
        tx = data.get("transaction") or {}
        return ProviderObject(str(tx.get("tid") or tid), _STATUS.get(str(tx.get("transaction_status")), "pending"))

    async def _find(self, ctx: PspContext, payment: Payment) -> dict[str, Any]:
        body = {**self._base(ctx), "order_id": payment.reference}
        return await self._signed(ctx, payment, "/agent/find-order", body, FIND_FIELDS)

    async def lookup(self, ctx: PspContext, payment: Payment) -> ProviderObject:
        found = await self._find(ctx, payment)
        statuses = [str(t.get("transaction_status")) for t in found.get("transactions") or []
                    if t.get("transaction_type", "sale") in ("sale", "payout")]
        status = ("succeeded" if "approved" in statuses else _STATUS.get(statuses[-1], "pending") if statuses
                  else "pending")
        return ProviderObject(payment.provider_payment_id or payment.reference, status)

    def parse_webhook(self, settings: Settings, provider: str, body: bytes,
                      headers: Mapping[str, str]) -> list[PspEvent]:
        secrets = webhook_secrets(settings, provider)  # an unconfigured provider refuses before anything else
        header = headers.get(HEADER)
        if not header:
            raise WebhookRejected("missing signature")
        try:
            data = orjson.loads(body)
            if not isinstance(data, dict):
                raise TypeError("not an object")
            signed = notification_fields(data)
        except (TypeError, AttributeError, orjson.JSONDecodeError) as exc:
            raise WebhookRejected("the notification is not valid JSON of the expected shape",
                                  code="WEBHOOK_MALFORMED") from exc
        if not any(hmac.compare_digest(header, signature(signed, NOTIFICATION_FIELDS, s)) for s in secrets):
            raise WebhookRejected("signature does not match")
        try:
            ts = int(data["timestamp"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WebhookRejected("the notification has no timestamp", code="WEBHOOK_MALFORMED") from exc
        if abs(time.time() - ts) > TOLERANCE_S:
            raise WebhookRejected("signature timestamp outside the tolerance", code="WEBHOOK_TIMESTAMP_OUT_OF_RANGE")
        if signed["merchant_id"] != provider_value(settings, provider, "MERCHANT_ID"):
            raise WebhookRejected("the notification is for another merchant")
        try:
            return _normalise(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise WebhookRejected("the notification is not of the expected shape", code="WEBHOOK_MALFORMED") from exc

    def answer(self, settings: Settings, provider: str, outcome: dict[str, Any]) -> WebhookAnswer:
        body = {"status": 0, "description": "Ok", "version": VERSION, "timestamp": int(time.time())}
        auth = signature(body, ACK_FIELDS, webhook_secrets(settings, provider)[0])
        return WebhookAnswer(200, {**body, "outcome": outcome.get("status")}, {"GT-Authentication": auth})


def _normalise(data: dict[str, Any]) -> list[PspEvent]:
    session, tx, customer = data["session"], data["transaction"], data.get("customer") or {}
    status, tid = str(tx["transaction_status"]), str(tx["tid"])
    auth_token, order_id = str(session["auth_token"]), str(session["order_id"])
    if not tid or len(tid) > MAX_ID or len(auth_token) > MAX_ID or len(order_id) > MAX_ID:
        raise ValueError("missing or oversized id")
    ttype = str(tx.get("transaction_type") or "sale")
    if ttype == "refund":
        kind: EventKind | None = EventKind.REFUNDED if status == "approved" else None
    elif ttype == "chargeback":
        kind = EventKind.CHARGED_BACK
    else:
        kind = (_PAYOUT if str(session.get("intent")) == "withdrawal" else _DEPOSIT).get(status)
    if kind is None:
        return []
    currency = str(tx["currency"]).upper()
    amount = from_minor(tx["amount"], currency)
    name = " ".join(str(customer[k]) for k in ("first_name", "last_name") if customer.get(k)) or None
    card = tx.get("card") or {}
    return [PspEvent(f"{tid}:{status}", kind, auth_token, reference=order_id, amount=amount, currency=currency,
                     reason=str(tx.get("status_details") or status), case_id=tid if kind in (
                         EventKind.CHARGED_BACK, EventKind.REFUNDED) else None,
                     payer_name=name, card_country=card.get("card_issuer_country"),
                     instrument=card.get("card_token"), raw=data)]


ADAPTER = PraxisAdapter()
