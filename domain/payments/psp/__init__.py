"""PSP adapters, one module each (a module exporting `ADAPTER` registers itself with the port,
domain/payments/psp_port.py): adding a provider is adding a module here. Shared helpers below."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from domain.payments import gateway_log
from domain.payments.errors import GatewayError
from domain.payments.psp_port import PspContext
from domain.payments.repo import Payment
from domain.shared.errors import ExternalServiceUnavailable, InvalidAmount
from domain.shared.money import currency as currency_info
from domain.shared.money import quantize_exact

TIMEOUT_S = 10.0


def to_minor(amount: Decimal, code: str) -> int:
    """An amount in the currency's minor unit (per ISO 4217 exponent): USD 10.50 -> 1050, JPY 100 -> 100."""
    cur = currency_info(code)
    return int(quantize_exact(amount, cur.code).scaleb(cur.scale))


def from_minor(value: object, code: str, *, field: str = "amount") -> Decimal:
    """A provider's minor-unit integer as a Decimal amount; anything else is INVALID_AMOUNT."""
    if isinstance(value, bool) or not isinstance(value, int | str) or (
            isinstance(value, str) and not (value.isascii() and value.isdigit())):
        raise InvalidAmount(f"{value!r} is not an amount in minor units", field=field)
    cur = currency_info(code)
    return Decimal(int(value)).scaleb(-cur.scale)


async def call(ctx: PspContext, payment: Payment | None, method: str, path: str, *, headers: dict[str, str],
               form: dict[str, Any] | None = None, json: dict[str, Any] | None = None,
               log_request: dict[str, Any] | None = None) -> tuple[dict[str, Any], httpx.Headers]:
    """One provider call, logged (redacted) apart from the caller's transaction; 5xx and network
    errors are ExternalServiceUnavailable, 4xx a GatewayError with the provider's message."""
    url = ctx.method.base_url.rstrip("/") + path
    log: dict[str, Any] = {"provider": ctx.provider, "direction": "outbound", "endpoint": path,
                           "request": log_request if log_request is not None else (form or json or {}),
                           "payment_id": payment.id if payment else None,
                           "correlation_id": payment.correlation_id if payment else None}
    if payment is not None:
        headers = {**headers, "X-Correlation-Id": str(payment.correlation_id)}
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            response = await client.request(method, url, data=form, json=json, headers=headers)
    except httpx.HTTPError as exc:
        await gateway_log.write_apart(ctx.factory, **log, response={"error": type(exc).__name__})
        raise ExternalServiceUnavailable("the payment provider could not be reached") from exc
    try:
        data = response.json()
        if not isinstance(data, dict):
            data = {"raw": data}
    except ValueError:
        data = {"raw": response.text[:2000]}
    await gateway_log.write_apart(ctx.factory, **log, response=data, status_code=response.status_code)
    if response.status_code >= 500:
        raise ExternalServiceUnavailable("the payment provider failed; try again later")
    if response.status_code >= 400:
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else (error or data.get("description"))
        raise GatewayError(str(message or "the payment provider refused the request")[:200])
    return data, response.headers
