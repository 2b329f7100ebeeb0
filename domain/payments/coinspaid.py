"""The CoinsPaid (CryptoProcessing) adapter of the crypto gateway port, after its documented API v2.

Every request and callback is authenticated the same way: X-Processing-Key is the merchant's public
key and X-Processing-Signature the hex HMAC-SHA512 of the raw body under the secret key.
- POST /v2/addresses/take {currency, foreign_id, end_user_reference} -> {data: {id, currency, address, tag}}
- POST /v2/withdrawal/crypto {foreign_id, end_user_reference, amount, currency, address, tag?}
  -> {data: {id, foreign_id, type: "withdrawal", status: "processing", amount, ...}}
Callbacks: {id, type: "deposit" | "withdrawal", foreign_id?, crypto_address: {currency, address},
currency_sent: {currency, amount}, transactions: [{txid, confirmations, amount}], error,
status: "not_confirmed" | "confirmed" | "cancelled" (withdrawals also "pending", "declined")}.

Keys: FOREXCRM_PSP_COINSPAID_API_KEY (public key) and FOREXCRM_PSP_COINSPAID_WEBHOOK_SECRETS (the
secret key; several during rotation, the first signs requests), derived from the app secret in
development like every provider's (domain/payments/config.py).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx
import orjson

from domain.payments import gateway_log
from domain.payments.config import api_key, call_api_key, webhook_secrets
from domain.payments.crypto_port import (
    DROPPED,
    PAYOUT_FAILED,
    PAYOUT_PENDING,
    PAYOUT_SUCCEEDED,
    UPDATED,
    ChainEvent,
    PayoutEvent,
    register,
)
from domain.payments.errors import GatewayError
from domain.payments.methods import Method
from domain.payments.repo import Payment
from domain.shared.db import SessionFactory
from domain.shared.errors import ExternalServiceUnavailable
from domain.shared.money import parse_decimal
from domain.shared.settings import Settings
from domain.shared.webhooks import WebhookRejected

NAME = "coinspaid"
KEY_HEADER = "x-processing-key"
SIGNATURE_HEADER = "x-processing-signature"
TIMEOUT_S = 10.0
MAX_ID = 200
DEPOSIT_STATUSES = {"not_confirmed": UPDATED, "confirmed": UPDATED, "cancelled": DROPPED}
WITHDRAWAL_STATUSES = {"confirmed": PAYOUT_SUCCEEDED, "cancelled": PAYOUT_FAILED, "declined": PAYOUT_FAILED,
                       "pending": PAYOUT_PENDING, "processing": PAYOUT_PENDING}


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def end_user_reference(user_id: int) -> str:
    """CoinsPaid's permanent customer id: ours, with no personal data in it."""
    return f"client-{user_id}"


def _malformed(message: str) -> WebhookRejected:
    return WebhookRejected(message, code="WEBHOOK_MALFORMED")


def parse_callback(body: bytes) -> ChainEvent | PayoutEvent:
    try:
        data = orjson.loads(body)
        kind, status, cp_id = str(data["type"]), str(data["status"]), str(data["id"])
        if not cp_id or len(cp_id) > MAX_ID:
            raise ValueError("id")
        transactions = data.get("transactions") or []
        tx = transactions[0] if transactions and isinstance(transactions[0], dict) else {}
        if kind == "deposit":
            address_info, sent = data["crypto_address"], data["currency_sent"]
            txid, address = str(tx["txid"]), str(address_info["address"])
            asset = str(sent.get("currency") or address_info["currency"]).upper()
            amount = parse_decimal(str(sent["amount"]), field="amount")
            confirmations = int(tx.get("confirmations") or 0)
            if status not in DEPOSIT_STATUSES or not txid or not address or len(txid) > MAX_ID \
                    or len(address) > MAX_ID or confirmations < 0:
                raise ValueError("deposit fields")
            # One CoinsPaid id per deposit; each status and confirmation count is its own delivery.
            return ChainEvent(f"deposit:{cp_id}:{status}:{confirmations}", DEPOSIT_STATUSES[status], asset, txid,
                              address, amount, confirmations, confirmed=status == "confirmed")
        if kind == "withdrawal":
            reference = str(data.get("foreign_id") or "")
            if status not in WITHDRAWAL_STATUSES or not reference or len(reference) > MAX_ID:
                raise ValueError("withdrawal fields")
            return PayoutEvent(f"withdrawal:{cp_id}:{status}", reference, cp_id, WITHDRAWAL_STATUSES[status],
                               str(tx["txid"])[:MAX_ID] if tx.get("txid") else None, str(data.get("error") or "")[:500])
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, orjson.JSONDecodeError) as exc:
        raise _malformed("the callback is not valid JSON of the expected shape") from exc
    except Exception as exc:  # a DomainError from parse_decimal
        raise _malformed("the callback's amount is not a decimal") from exc
    raise _malformed(f"callbacks of type {kind[:40]} are not handled")


def verify(headers: Mapping[str, str], body: bytes, public_key: str, secrets: list[str]) -> None:
    given = headers.get(SIGNATURE_HEADER) or ""
    if not given or not hmac.compare_digest(headers.get(KEY_HEADER) or "", public_key):
        raise WebhookRejected("missing or unknown X-Processing-Key / X-Processing-Signature")
    if not any(hmac.compare_digest(signature(s, body), given.lower()) for s in secrets):
        raise WebhookRejected("X-Processing-Signature does not match")


class CoinsPaidGateway:
    name = NAME

    def __init__(self, method: Method | None, settings: Settings, factory: SessionFactory | None) -> None:
        self.method, self.settings, self.factory = method, settings, factory

    async def _call(self, path: str, body: dict[str, Any], *, payment: Payment | None = None) -> dict[str, Any]:
        assert self.method is not None and self.factory is not None
        if not self.method.base_url:
            raise ExternalServiceUnavailable(f"{self.method.code} has no provider endpoint configured")
        key = call_api_key(self.settings, self.method.provider)
        raw = orjson.dumps(body)
        headers = {"Content-Type": "application/json", "X-Processing-Key": key,
                   "X-Processing-Signature": signature(webhook_secrets(self.settings, self.method.provider)[0], raw)}
        log: dict[str, Any] = {"provider": self.method.provider, "direction": "outbound", "endpoint": path,
                               "request": body}
        if payment is not None:
            log |= {"payment_id": payment.id, "correlation_id": payment.correlation_id}
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
                response = await client.post(self.method.base_url.rstrip("/") + path, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            await gateway_log.write_apart(self.factory, **log, response={"error": type(exc).__name__})
            raise ExternalServiceUnavailable("the crypto gateway could not be reached") from exc
        try:
            answer: dict[str, Any] = response.json()
        except ValueError:
            answer = {"raw": response.text[:2000]}
        await gateway_log.write_apart(self.factory, **log, response=answer, status_code=response.status_code)
        if response.status_code >= 500:
            raise ExternalServiceUnavailable("the crypto gateway failed; try again later")
        data = answer.get("data")
        if response.status_code >= 400 or not isinstance(data, dict):
            raise GatewayError(str(answer.get("errors") or "the crypto gateway refused the request")[:200])
        return data

    async def take_address(self, *, user_id: int, asset: str) -> str:
        data = await self._call("/v2/addresses/take", {
            "currency": asset, "foreign_id": f"{end_user_reference(user_id)}:{asset}",
            "end_user_reference": end_user_reference(user_id)})
        address = str(data.get("address") or "")
        if not address or len(address) > MAX_ID:
            raise GatewayError("the crypto gateway returned no usable address")
        return address

    async def withdraw(self, payment: Payment) -> str:
        destination = payment.destination or {}
        body: dict[str, Any] = {"foreign_id": payment.reference, "end_user_reference": end_user_reference(
            payment.user_id), "amount": format(Decimal(payment.amount).normalize(), "f"),
            "currency": payment.currency, "address": str(destination.get("address") or "")}
        if destination.get("tag"):
            body["tag"] = str(destination["tag"])
        data = await self._call("/v2/withdrawal/crypto", body, payment=payment)
        return str(data["id"])

    def verify_callback(self, headers: Mapping[str, str], body: bytes) -> ChainEvent | PayoutEvent:
        # Unset keys in production raise ConfigurationError: answered as an unconfigured provider.
        verify(headers, body, api_key(self.settings, NAME), webhook_secrets(self.settings, NAME))
        return parse_callback(body)


register(NAME, CoinsPaidGateway)
