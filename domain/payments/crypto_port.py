"""The crypto gateway port: deposit addresses per client and asset, crypto payouts, and the
gateway's signed callbacks read into chain and payout events. Each adapter (coinspaid.py) speaks one
gateway's documented API and owns its callback verification; the payment method's `provider`
names the adapter in the registry, so a broker plugs a gateway in by writing one module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from domain.payments.methods import Method
from domain.payments.repo import Payment
from domain.shared.db import SessionFactory
from domain.shared.settings import Settings

UPDATED, DROPPED = "transaction.updated", "transaction.dropped"
PAYOUT_SUCCEEDED, PAYOUT_FAILED, PAYOUT_PENDING = "succeeded", "failed", "pending"


@dataclass(frozen=True)
class ChainEvent:
    """A transaction to one of our addresses: `confirmed` when the gateway calls it final."""

    id: str
    type: str
    asset: str
    txid: str
    address: str
    amount: Decimal
    confirmations: int
    confirmed: bool = False


@dataclass(frozen=True)
class PayoutEvent:
    """A payout's outcome: `reference` is our payment reference, sent with the payout."""

    id: str
    reference: str
    provider_id: str
    outcome: str
    txid: str | None = None
    reason: str = ""


class CryptoGateway(Protocol):
    name: str

    async def take_address(self, *, user_id: int, asset: str) -> str: ...

    async def withdraw(self, payment: Payment) -> str:
        """Sends the payout; returns the gateway's id for it. Safe to repeat (the reference is unique)."""
        ...

    def verify_callback(self, headers: Mapping[str, str], body: bytes) -> ChainEvent | PayoutEvent:
        """Checks the signature over the raw body and reads the callback; raises
        domain.shared.webhooks.WebhookRejected (nothing recorded) otherwise."""
        ...


GatewayFactory = Callable[[Method | None, Settings, SessionFactory | None], CryptoGateway]
GATEWAYS: dict[str, GatewayFactory] = {}


def register(name: str, factory: GatewayFactory) -> None:
    GATEWAYS[name] = factory


def gateways() -> dict[str, GatewayFactory]:
    from domain.payments import coinspaid  # noqa: F401  (the built-in adapters register themselves)

    return GATEWAYS


def gateway_for(provider: str, method: Method | None, settings: Settings,
                factory: SessionFactory | None) -> CryptoGateway:
    from domain.payments.errors import PaymentMethodUnavailable

    made = gateways().get(provider)
    if made is None:
        raise PaymentMethodUnavailable(f"no crypto gateway adapter is named {provider}", field="asset")
    return made(method, settings, factory)
