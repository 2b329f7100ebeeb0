"""Crypto deposits and payouts through a crypto gateway (the port in crypto_port.py; CoinsPaid is the
built-in adapter): a deposit address per client and asset issued by the gateway, chain
transactions reported by signed callback with their confirmation counts, and payouts.

A transaction output to one of our addresses becomes a pending deposit (a payment of kind crypto)
when first seen and credits the client's wallet in that asset once it has the configured number
of confirmations or the gateway reports it confirmed (final). Exactly once: the transaction row is
unique per (provider, asset, txid, address) and is handled under an advisory lock, and the ledger
entry's idempotency key is derived from the payment id. A transaction the gateway reports
cancelled (reorg, eviction from the mempool) before that is cancelled and never credited
automatically; if it is later reported confirmed again, a compliance signal asks staff to look.

A crypto withdrawal, once approved, is sent to the gateway with our payment reference; the
gateway's payout callback settles or fails it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.clients import payment_gates
from domain.payments import gateway_log, methods, repo, signals
from domain.payments.crypto_port import (
    DROPPED,
    PAYOUT_FAILED,
    PAYOUT_SUCCEEDED,
    ChainEvent,
    PayoutEvent,
    gateway_for,
    gateways,
)
from domain.payments.deposits import credit
from domain.payments.errors import GatewayError, PaymentMethodUnavailable
from domain.payments.methods import Method
from domain.payments.repo import Payment
from domain.payments.status import Status, can_move
from domain.shared.actor import Actor, system_actor
from domain.shared.db import SessionFactory, in_transaction
from domain.shared.errors import DomainError, UnknownCurrency
from domain.shared.money import currency as currency_info
from domain.shared.money import quantize_exact
from domain.shared.settings import Settings
from domain.shared.webhooks import WebhookRejected, WebhookRequest, first_delivery

PROVIDERS = tuple(gateways())  # each adapter's callbacks arrive at /webhooks/<name>
# Confirmations before a deposit is credited; FOREXCRM_PAYMENTS_CRYPTO_CONFIRMATIONS_<ASSET> overrides.
DEFAULT_CONFIRMATIONS = {"BTC": 3, "LTC": 6, "ETH": 12, "USDT": 12, "USDC": 12, "XRP": 1}
FALLBACK_CONFIRMATIONS = 6


def confirmations_required(asset: str) -> int:
    code = asset.upper()
    raw = os.environ.get(f"FOREXCRM_PAYMENTS_CRYPTO_CONFIRMATIONS_{code}")
    return int(raw) if raw else DEFAULT_CONFIRMATIONS.get(code, FALLBACK_CONFIRMATIONS)


@dataclass(frozen=True)
class DepositAddress:
    asset: str
    address: str
    provider: str
    confirmations_required: int


@dataclass(frozen=True)
class Confirmations:
    """A crypto deposit's chain transaction: confirmations so far (0 once dropped) and the count that credits."""

    confirmations: int
    required: int
    dropped: bool


async def confirmations_of(session: AsyncSession, payment_id: int, asset: str) -> Confirmations | None:
    """The transaction behind a crypto deposit, or None when the payment has none."""
    row = (await session.execute(text(
        "SELECT confirmations, dropped_at FROM crypto_transactions WHERE payment_id = :pid"),
        {"pid": payment_id})).first()
    if row is None:
        return None
    return Confirmations(int(row.confirmations), confirmations_required(asset), row.dropped_at is not None)


def _crypto_asset(asset: str) -> str:
    info = currency_info(asset)
    if not info.is_crypto:
        raise UnknownCurrency(f"{info.code} is not a crypto asset", field="asset")
    return info.code


async def crypto_method(session: AsyncSession, asset: str) -> Method:
    """The enabled crypto deposit method for the asset (the default row)."""
    for method in await methods.available(session, country=None, currency=asset):
        if method.kind == "crypto" and method.deposits:
            return method
    raise PaymentMethodUnavailable(f"no crypto deposits are available for {asset}", field="asset")


async def _stored_address(session: AsyncSession, user_id: int, asset: str, provider: str) -> str | None:
    found = await session.scalar(text(
        "SELECT address FROM crypto_deposit_addresses WHERE user_id = :u AND asset = :a AND provider = :p"),
        {"u": user_id, "a": asset, "p": provider})
    return str(found) if found is not None else None


async def deposit_address(factory: SessionFactory, settings: Settings, actor: Actor, *, user_id: int,
                          asset: str) -> DepositAddress:
    """The client's deposit address for the asset, issued by the provider on first request (to clients
    whose status may deposit in their jurisdiction)."""
    code = _crypto_asset(asset)
    async with factory() as s:
        await payment_gates.require_allowed(s, user_id, "deposit")  # an address is a standing deposit channel
        method = await crypto_method(s, code)
        address = await _stored_address(s, user_id, code, method.provider)
    if address is None:
        gateway = gateway_for(method.provider, method, settings, factory)
        issued = await gateway.take_address(user_id=user_id, asset=code)

        async def store(session: AsyncSession) -> str:
            inserted = await session.scalar(text(
                "INSERT INTO crypto_deposit_addresses (user_id, asset, provider, address) VALUES (:u, :a, :p, :addr) "
                "ON CONFLICT DO NOTHING RETURNING id"), {"u": user_id, "a": code, "p": method.provider, "addr": issued})
            if inserted is not None:
                await audit.record(session, actor, action="crypto_address.issue", entity_type="crypto_deposit_address",
                                   entity_id=int(inserted), after={"asset": code, "address": issued},
                                   category="payments")
            stored = await _stored_address(session, user_id, code, method.provider)
            if stored is None:  # the provider gave an address already bound to someone else
                raise GatewayError("the crypto provider issued an address that is already in use")
            return stored

        address = await in_transaction(factory, store)
    return DepositAddress(code, address, method.provider, confirmations_required(code))


# --- webhooks -------------------------------------------------------------------------------------------------


def _checked(ev: ChainEvent) -> ChainEvent:
    """The asset is a crypto currency we know and the amount fits its scale, or the callback is refused."""
    try:
        asset = _crypto_asset(ev.asset)
        amount = quantize_exact(ev.amount, asset, field="amount")
    except DomainError as exc:
        raise WebhookRejected("the callback's asset or amount is not acceptable", code="WEBHOOK_MALFORMED") from exc
    if amount <= 0:
        raise WebhookRejected("the callback's amount is not positive", code="WEBHOOK_MALFORMED")
    return ev if (asset, amount) == (ev.asset, ev.amount) else ChainEvent(
        ev.id, ev.type, asset, ev.txid, ev.address, amount, ev.confirmations, ev.confirmed)


async def _tx_lock(session: AsyncSession, provider: str, ev: ChainEvent) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                          {"k": f"chain:{provider}:{ev.asset}:{ev.txid}:{ev.address}"})


async def _open_deposit(session: AsyncSession, provider: str, ev: ChainEvent, user_id: int) -> int:
    """First sight of the transaction: a pending crypto deposit and its transaction row."""
    method = await crypto_method(session, ev.asset)
    actor = system_actor(f"webhook:{provider}", ev.txid[:64])
    payment = await repo.insert(session, user_id=user_id, direction="deposit", method_code=method.code,
                                method_kind="crypto", provider=provider, currency=ev.asset, amount=ev.amount,
                                fee=method.fee_for(ev.amount), country=None,
                                destination={"address": ev.address, "txid": ev.txid})
    payment = await repo.update(session, payment, provider_payment_id=f"{ev.asset}:{ev.txid}:{ev.address}"[:200])
    await audit.record(session, actor, action="payment.create", entity_type="payment", entity_id=payment.id,
                       after={"reference": payment.reference, "amount": str(ev.amount), "currency": ev.asset,
                              "method": method.code, "txid": ev.txid}, category="payments")
    await repo.move(session, actor, payment, Status.PENDING)
    await session.execute(text(
        "INSERT INTO crypto_transactions (provider, asset, txid, address, amount, confirmations, payment_id) "
        "VALUES (:p, :a, :t, :addr, :amt, 0, :pid)"),
        {"p": provider, "a": ev.asset, "t": ev.txid, "addr": ev.address, "amt": ev.amount, "pid": payment.id})
    return payment.id


async def apply_chain_event(session: AsyncSession, provider: str, ev: ChainEvent) -> tuple[str, int | None]:
    """Apply one event under the transaction's lock; returns (outcome, payment id)."""
    owner = await session.scalar(text(
        "SELECT user_id FROM crypto_deposit_addresses WHERE provider = :p AND asset = :a AND address = :addr"),
        {"p": provider, "a": ev.asset, "addr": ev.address})
    if owner is None:
        return "ignored: not one of our addresses", None
    tx = (await session.execute(text(
        "SELECT id, amount, payment_id, dropped_at FROM crypto_transactions "
        "WHERE provider = :p AND asset = :a AND txid = :t AND address = :addr FOR UPDATE"),
        {"p": provider, "a": ev.asset, "t": ev.txid, "addr": ev.address})).first()
    if tx is None:
        if ev.type == DROPPED:
            return "ignored: unknown transaction dropped", None
        payment_id = await _open_deposit(session, provider, ev, int(owner))
    else:
        payment_id = int(tx.payment_id)
        if Decimal(tx.amount) != ev.amount:
            return "ignored: amount differs from the transaction", payment_id
    payment = await repo.get(session, payment_id, lock=True)
    assert payment is not None
    actor = system_actor(f"webhook:{provider}", str(payment.correlation_id))
    threshold = confirmations_required(ev.asset)

    if ev.type == DROPPED:
        if payment.status is not Status.PENDING:
            if payment.status is Status.SUCCEEDED:
                await signals.raise_signal(session, user_id=payment.user_id, payment_id=payment.id,
                                           kind="crypto_dropped_after_credit", details={"txid": ev.txid})
            return f"ignored: {payment.status.value} payment", payment_id
        await session.execute(text(
            "UPDATE crypto_transactions SET dropped_at = now(), confirmations = 0, updated_at = now() "
            "WHERE payment_id = :pid"), {"pid": payment_id})
        await repo.move(session, actor, payment, Status.CANCELLED, reason="the transaction was dropped from the chain")
        return "applied", payment_id

    await session.execute(text(
        "UPDATE crypto_transactions SET confirmations = :c, updated_at = now() WHERE payment_id = :pid"),
        {"c": ev.confirmations, "pid": payment_id})
    if payment.status is not Status.PENDING:
        if payment.status is Status.CANCELLED and (ev.confirmations >= threshold or ev.confirmed):
            await signals.raise_signal(session, user_id=payment.user_id, payment_id=payment.id,
                                       kind="crypto_dropped_tx_confirmed",
                                       details={"txid": ev.txid, "confirmations": ev.confirmations})
        return f"ignored: {payment.status.value} payment", payment_id
    if ev.confirmations < threshold and not ev.confirmed:
        return f"pending: {ev.confirmations} of {threshold} confirmations", payment_id
    await credit(session, actor, payment)
    return "credited", payment_id


async def apply_payout_event(session: AsyncSession, provider: str, ev: PayoutEvent) -> tuple[str, int | None]:
    """The gateway's word on a payout we sent (found by our reference, locked)."""
    from domain.payments import withdrawals

    found = await repo.by_reference(session, ev.reference)
    if found is None or found.direction != "withdrawal" or found.provider != provider:
        return "ignored: not one of our payouts", None
    payment = await repo.get(session, found.id, lock=True)
    assert payment is not None
    if ev.outcome not in (PAYOUT_SUCCEEDED, PAYOUT_FAILED):
        return "pending", payment.id
    target = Status.SUCCEEDED if ev.outcome == PAYOUT_SUCCEEDED else Status.FAILED
    if payment.status is target or not can_move(payment.status, target):
        return f"ignored: {payment.status.value} payment", payment.id
    actor = system_actor(f"webhook:{provider}", str(payment.correlation_id))
    if target is Status.SUCCEEDED:  # the chain transaction id stays in the gateway log with the callback
        await withdrawals.settle(session, actor, payment)
    else:
        await withdrawals.fail(session, actor, payment, ev.reason or "the crypto gateway cancelled the payout")
    return "applied", payment.id


async def send_payout(factory: SessionFactory, settings: Settings, method: Method, payment: Payment) -> str:
    """An approved crypto withdrawal to the gateway; returns the gateway's payout id."""
    if not (payment.destination or {}).get("address"):
        raise GatewayError("a crypto withdrawal needs a destination address")
    return await gateway_for(method.provider, method, settings, factory).withdraw(payment)


async def handle(services: Any, request: WebhookRequest) -> tuple[int, dict[str, Any]]:
    provider = request.provider
    ev = gateway_for(provider, None, services.settings, None).verify_callback(request.headers, request.body)
    if isinstance(ev, ChainEvent):
        ev = _checked(ev)
    event = orjson.loads(request.body)

    async def txn(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        if isinstance(ev, ChainEvent):
            await _tx_lock(session, provider, ev)
        else:
            await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                                  {"k": f"payout:{provider}:{ev.reference}"})
        if not await first_delivery(session, provider, ev.id, event):
            return 200, {"status": "duplicate"}
        if isinstance(ev, ChainEvent):
            outcome, payment_id = await apply_chain_event(session, provider, ev)
        else:
            outcome, payment_id = await apply_payout_event(session, provider, ev)
        payment = await repo.get(session, payment_id) if payment_id is not None else None
        await gateway_log.write(session, provider=provider, direction="inbound", endpoint=f"/webhooks/{provider}",
                                request=event, response={"outcome": outcome}, status_code=200,
                                payment_id=payment_id, correlation_id=payment.correlation_id if payment else None)
        return 200, {"status": outcome}

    return await in_transaction(services.session_factory, txn)
