"""Payments fixtures: the Stripe stand-in wired to the live API's /webhooks/stripe endpoint, configured
methods, users created with SQL, and snapshots of every table a payment may touch."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.payments import deposits, methods
from domain.payments.config import api_key, provider_value, webhook_secrets
from domain.payments.repo import Payment
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import in_transaction
from sandbox.coinspaid import CoinsPaidStandIn, running_coinspaid
from tests.conftest import LiveServer
from tests.ledger.conftest import SNAPSHOT_TABLES, check_invariants, wallet_balance

__all__ = ["SNAPSHOT_TABLES", "check_invariants", "wallet_balance"]
from sandbox.praxis import PraxisStandIn, running_praxis
from sandbox.stripe import StripeStandIn, running_stripe

CARD = "card-test"
WIRE = "wire-test"
PAYMENT_TABLES = {**SNAPSHOT_TABLES, "payments": "id", "payment_approvals": "payment_id, approver_id",
                  "payment_disputes": "id", "bank_statement_lines": "id", "payment_signals": "id",
                  "webhook_events": "id", "payment_parked_webhooks": "id"}


def client(uid: int, *, stepped_up: bool = False) -> Actor:
    return Actor(ActorKind.CLIENT, user_id=uid, stepped_up_at=time.time() if stepped_up else None)


def finance(uid: int) -> Actor:
    return Actor(ActorKind.STAFF, user_id=uid, permissions=frozenset(
        {"payments.read", "payments.approve_withdrawal", "payments.manage"}))


@pytest.fixture(scope="session")
async def psp(live_server: LiveServer) -> AsyncIterator[StripeStandIn]:
    settings = live_server.settings
    async with running_stripe(f"{live_server.base_url}/webhooks/stripe", webhook_secrets(settings, "stripe")[0],
                              api_key(settings, "stripe")) as stand_in:
        yield stand_in


@pytest.fixture(scope="session")
async def praxis(live_server: LiveServer) -> AsyncIterator[PraxisStandIn]:
    """The Praxis stand-in; notifications go to the live API (FOREXCRM_PSP_PRAXIS_NOTIFICATION_URL)."""
    settings = live_server.settings
    name = "FOREXCRM_PSP_PRAXIS_NOTIFICATION_URL"
    previous = os.environ.get(name)
    os.environ[name] = f"{live_server.base_url}/webhooks/praxis"
    try:
        async with running_praxis(provider_value(settings, "praxis", "MERCHANT_ID"),
                                  provider_value(settings, "praxis", "APPLICATION_KEY"),
                                  webhook_secrets(settings, "praxis")[0]) as stand_in:
            yield stand_in
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


@pytest.fixture
async def configured(psp: StripeStandIn, runtime: Any) -> StripeStandIn:
    """The card and wire methods, the card one pointed at this directory's stand-in. Per test: another
    directory's conftest that imports these fixtures (tests/compliance) gets its own session `psp`, and
    its tests re-point the shared method row; a session-cached setup here would then send this directory's
    deposits to that other stand-in."""
    async def setup(s: Any) -> None:
        await methods.upsert(s, code=CARD, kind="card", provider="stripe", currency="USD", base_url=psp.base_url,
                             min_amount=Decimal(10), max_amount=Decimal(5000), fee_percent=Decimal(2),
                             display_name="Card")
        await methods.upsert(s, code=WIRE, kind="wire", provider="bank", currency="USD",
                             min_amount=Decimal(50), max_amount=Decimal(100000), first_deposit_min=Decimal(100))

    await in_transaction(runtime.services.session_factory, setup)
    return psp


async def onboarded(factory: Any, uid: int, *, status: str = "approved", country: str | None = None) -> None:
    """The user as a client compliance has approved (payment status gates let approved clients move money):
    the end state of the onboarding tests/clients drives through the API, written directly."""
    async with factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO clients (user_id, status, country) VALUES (:u, :st, :c) "
            "ON CONFLICT (user_id) DO UPDATE SET status = EXCLUDED.status, country = EXCLUDED.country"),
            {"u": uid, "st": status, "c": country})


@pytest.fixture
def make_user(session_factory: Any) -> Callable[..., Awaitable[int]]:
    async def make(*, staff: bool = False, name: str = "Test Client") -> int:
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        async with session_factory() as s, s.begin():
            uid = await s.scalar(text(
                "INSERT INTO users (email, email_normalized, is_client, is_staff, display_name) "
                "VALUES (:e, :e, :c, :s, :n) RETURNING id"), {"e": email, "c": not staff, "s": staff, "n": name})
        if not staff:
            await onboarded(session_factory, int(uid))
        return int(uid)

    return make


async def card_deposit(factory: Any, settings: Any, uid: int, amount: str, *, country: str = "DE") -> Payment:
    return await deposits.create_deposit(factory, settings, client(uid), user_id=uid, method_code=CARD,
                                         currency="USD", amount=Decimal(amount), country=country,
                                         return_url="https://portal.example/return")


async def paid_card_deposit(factory: Any, settings: Any, psp: StripeStandIn, uid: int, amount: str) -> Payment:
    payment = await card_deposit(factory, settings, uid, amount)
    assert payment.provider_payment_id
    response = await psp.deliver(psp.paid_event(payment.provider_payment_id))
    assert response.status_code == 200, response.text
    return payment


async def snapshot(factory: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    async with factory() as s:
        for table, order in PAYMENT_TABLES.items():
            out[table] = [tuple(r) for r in (await s.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))).all()]
    return out


async def payment_row(factory: Any, payment_id: int) -> Any:
    async with factory() as s:
        return (await s.execute(text("SELECT * FROM payments WHERE id = :i"), {"i": payment_id})).one()


async def wallet_of(factory: Any, uid: int, currency: str = "USD") -> tuple[Decimal, Decimal]:
    async with factory() as s:
        wid = await s.scalar(text("SELECT id FROM ledger_accounts WHERE owner_id = :u AND purpose = 'client_wallet' "
                                  "AND currency = :c"), {"u": uid, "c": currency})
    if wid is None:
        return Decimal(0), Decimal(0)
    return await wallet_balance(factory, int(wid))


async def signal_kinds(factory: Any, uid: int) -> set[str]:
    async with factory() as s:
        return set((await s.scalars(text("SELECT kind FROM payment_signals WHERE user_id = :u"), {"u": uid})).all())


# --- the crypto gateway (CoinsPaid stand-in) ------------------------------------------------------------------

CRYPTO_PROVIDER = "coinspaid"
CRYPTO_METHODS = (("BTC", "crypto-btc"), ("ETH", "crypto-eth"), ("USDT", "crypto-usdt"))


@pytest.fixture(scope="session")
async def chain(live_server: LiveServer, runtime: Any) -> AsyncIterator[CoinsPaidStandIn]:
    settings = live_server.settings
    async with running_coinspaid(f"{live_server.base_url}/webhooks/{CRYPTO_PROVIDER}",
                                 api_key(settings, CRYPTO_PROVIDER),
                                 webhook_secrets(settings, CRYPTO_PROVIDER)[0]) as stand_in:
        async def setup(s: Any) -> None:
            for asset, code in CRYPTO_METHODS:
                await methods.upsert(s, code=code, kind="crypto", provider=CRYPTO_PROVIDER, currency=asset,
                                     base_url=stand_in.api_url, max_amount=Decimal(1000), withdrawals=True)

        await in_transaction(runtime.services.session_factory, setup)
        yield stand_in
