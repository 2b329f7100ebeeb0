"""The PSP port: what deposits, withdrawals, refunds, chargebacks and `POST /webhooks/<provider>` need
from a payment provider, whatever its wire format.

An adapter (one module in `domain/payments/psp/`, exporting `ADAPTER`) creates hosted payments
(a redirect URL the client completes at the provider), payouts and refunds, looks a payment up, and
verifies and parses its own webhooks into `PspEvent`s. Money amounts cross the port as Decimal in
the payment's currency; each adapter converts to its provider's units.

Which adapter serves a payment method's provider key is configuration: every adapter serves its
own name (`stripe`, `praxis`), and `FOREXCRM_PSP_ADAPTERS="cardpay=stripe,localpay=praxis"` maps
further keys (each key has its own secrets, `FOREXCRM_PSP_<KEY>_...`).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any, Protocol

from domain.payments.methods import Method
from domain.payments.repo import Payment
from domain.shared.db import SessionFactory
from domain.shared.settings import Settings


class EventKind(StrEnum):
    PAYMENT_PENDING = "payment.pending"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_CANCELLED = "payment.cancelled"
    REFUNDED = "payment.refunded"
    CHARGED_BACK = "payment.charged_back"
    PAYOUT_PAID = "payout.paid"
    PAYOUT_FAILED = "payout.failed"


@dataclass(frozen=True)
class PspEvent:
    """One normalised fact from a provider's webhook.

    `event_id` is unique per provider (redeliveries repeat it). The payment is found by
    `provider_payment_id` (the provider object we stored), else by our `reference` when the
    provider echoes it. `replaces_id`: the provider's later object for this payment (Stripe: the
    PaymentIntent after the Checkout Session) becomes the stored provider id.
    """

    event_id: str
    kind: EventKind
    provider_payment_id: str
    reference: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    reason: str | None = None
    case_id: str | None = None  # refund or dispute id (one record per case)
    payer_name: str | None = None
    card_country: str | None = None
    instrument: str | None = None
    replaces_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["amount"] = None if self.amount is None else format(self.amount, "f")
        data["raw"] = dict(self.raw)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PspEvent:
        values = dict(data)
        values["kind"] = EventKind(values["kind"])
        values["amount"] = None if values.get("amount") is None else Decimal(values["amount"])
        return cls(**values)


@dataclass(frozen=True)
class Hosted:
    """A hosted payment page: the provider's id for it and where to send the client."""

    id: str
    url: str
    status: str = "open"


@dataclass(frozen=True)
class ProviderObject:
    id: str
    status: str  # normalised: pending, succeeded, failed, cancelled


@dataclass(frozen=True)
class WebhookAnswer:
    """What the provider expects back for an accepted delivery (Praxis wants a signed body)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PspContext:
    """What an adapter call needs: the provider key (its secrets), the method (endpoint), settings,
    and the session factory for the gateway log."""

    provider: str
    method: Method
    settings: Settings
    factory: SessionFactory


class PspAdapter(Protocol):
    name: str

    async def create_hosted_payment(self, ctx: PspContext, payment: Payment, *, return_url: str,
                                    customer_name: str) -> Hosted: ...

    async def payout(self, ctx: PspContext, payment: Payment, *, source_payment_id: str | None) -> ProviderObject: ...

    async def refund(self, ctx: PspContext, payment: Payment, amount: Decimal, *, key: str) -> ProviderObject:
        """`key`: the idempotency key of this refund (a retry must not refund twice)."""
        ...

    async def lookup(self, ctx: PspContext, payment: Payment) -> ProviderObject: ...

    def parse_webhook(self, settings: Settings, provider: str, body: bytes,
                      headers: Mapping[str, str]) -> list[PspEvent]:
        """Verify the delivery (raises WebhookRejected: nothing is recorded) and normalise it;
        an event type the port does not use yields no event."""
        ...

    def answer(self, settings: Settings, provider: str, outcome: dict[str, Any]) -> WebhookAnswer: ...


@cache
def _adapters() -> dict[str, PspAdapter]:
    import domain.payments.psp as package

    found: dict[str, PspAdapter] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        adapter = getattr(module, "ADAPTER", None)
        if adapter is not None:
            found[adapter.name] = adapter
    return found


def adapter_names() -> list[str]:
    return sorted(_adapters())


def provider_map() -> dict[str, str]:
    """Provider key -> adapter name: each adapter under its own name, plus FOREXCRM_PSP_ADAPTERS."""
    mapping = {name: name for name in _adapters()}
    for item in os.environ.get("FOREXCRM_PSP_ADAPTERS", "").split(","):
        key, _, adapter = item.strip().partition("=")
        if key.strip() and adapter.strip() in mapping:
            mapping[key.strip().lower()] = adapter.strip()
    return mapping


def provider_keys() -> list[str]:
    """Provider keys a payment method may name (method validation uses this)."""
    return sorted(provider_map())


def adapter_for(provider: str) -> PspAdapter:
    from domain.payments.errors import PaymentMethodUnavailable

    name = provider_map().get(provider)
    if name is None:
        raise PaymentMethodUnavailable(f"no payment provider adapter serves {provider}")
    return _adapters()[name]


def context(provider: str, method: Method, settings: Settings, factory: SessionFactory) -> PspContext:
    from domain.shared.errors import ExternalServiceUnavailable

    if not method.base_url:
        raise ExternalServiceUnavailable(f"{method.code} has no provider endpoint configured")
    return PspContext(provider, method, settings, factory)
