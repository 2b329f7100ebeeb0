"""The hosted-checkout PSP adapter (card processors and local redirect methods speak this shape):
create a payment session -> redirect URL; payouts; refunds. Results arrive by signed webhook.

Every call is logged (redacted) with the payment's correlation id; the payment reference is sent as
the provider's idempotency key, so a retried call never creates a second session or payout.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from domain.payments import gateway_log
from domain.payments.config import call_api_key
from domain.payments.errors import GatewayError
from domain.payments.methods import Method
from domain.payments.repo import Payment
from domain.shared.db import SessionFactory
from domain.shared.errors import ExternalServiceUnavailable
from domain.shared.settings import Settings

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ProviderObject:
    id: str
    status: str
    url: str | None = None


class HostedCheckoutGateway:
    def __init__(self, method: Method, settings: Settings, factory: SessionFactory) -> None:
        if not method.base_url:
            raise ExternalServiceUnavailable(f"{method.code} has no provider endpoint configured")
        self.method = method
        self.settings = settings
        self.factory = factory

    async def _call(self, payment: Payment, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.method.base_url.rstrip("/") + path
        headers = {"Authorization": f"Bearer {call_api_key(self.settings, self.method.provider)}",
                   "Idempotency-Key": f"{payment.reference}{path}", "X-Correlation-Id": str(payment.correlation_id)}
        log = {"provider": self.method.provider, "direction": "outbound", "endpoint": path, "request": body,
               "payment_id": payment.id, "correlation_id": payment.correlation_id}
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
                response = await client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            await gateway_log.write_apart(self.factory, **log, response={"error": type(exc).__name__})
            raise ExternalServiceUnavailable("the payment provider could not be reached") from exc
        try:
            data: dict[str, Any] = response.json()
        except ValueError:
            data = {"raw": response.text[:2000]}
        await gateway_log.write_apart(self.factory, **log, response=data, status_code=response.status_code)
        if response.status_code >= 500:
            raise ExternalServiceUnavailable("the payment provider failed; try again later")
        if response.status_code >= 400:
            raise GatewayError(str(data.get("error", "the payment provider refused the request"))[:200])
        return data

    async def create_session(self, payment: Payment, *, return_url: str, customer_name: str) -> ProviderObject:
        data = await self._call(payment, "/v1/checkout/sessions", {
            "amount": _minor(payment.amount), "currency": payment.currency, "reference": payment.reference,
            "return_url": return_url, "customer": {"name": customer_name, "country": payment.country}})
        return ProviderObject(str(data["id"]), str(data.get("status", "open")), str(data["url"]))

    async def payout(self, payment: Payment, *, source_payment_id: str | None) -> ProviderObject:
        data = await self._call(payment, "/v1/payouts", {
            "amount": _minor(payment.amount), "currency": payment.currency, "reference": payment.reference,
            "source_payment": source_payment_id, "destination": payment.destination})
        return ProviderObject(str(data["id"]), str(data.get("status", "pending")))

    async def refund(self, payment: Payment, amount: Decimal) -> ProviderObject:
        assert payment.provider_payment_id is not None
        data = await self._call(payment, "/v1/refunds", {
            "payment_id": payment.provider_payment_id, "amount": _minor(amount), "reference": payment.reference})
        return ProviderObject(str(data["id"]), str(data.get("status", "pending")))


def _minor(amount: Decimal) -> str:
    """Amounts travel as decimal strings (never floats); providers that want minor units convert."""
    return format(amount.normalize(), "f")
