"""Provider webhooks through the PSP port: the provider's adapter verifies and normalises a delivery
(domain/payments/psp_port.py); here each event is deduped by its id, applied along the status
machine, or parked when it names a provider payment we have not stored yet.

Money moves at most once: a redelivered event is dropped by first_delivery, a different event
with the same effect meets the status machine, and ledger entries carry keys derived from the
payment id (unique in the journal).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.payments import crypto, disputes, gateway_log, repo, withdrawals
from domain.payments.deposits import credit, provider_lock
from domain.payments.psp_port import EventKind, PspEvent, adapter_for, provider_keys
from domain.payments.repo import Payment
from domain.payments.status import Status, can_move
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.webhooks import RESPONSE_HEADERS, WebhookHandler, WebhookRequest, first_delivery

DEPOSIT_EVENTS = {EventKind.PAYMENT_PENDING: Status.PENDING, EventKind.PAYMENT_SUCCEEDED: Status.SUCCEEDED,
                  EventKind.PAYMENT_FAILED: Status.FAILED, EventKind.PAYMENT_CANCELLED: Status.CANCELLED}
PAYOUT_EVENTS = {EventKind.PAYOUT_PAID: Status.SUCCEEDED, EventKind.PAYOUT_FAILED: Status.FAILED}
DISPUTE_EVENTS = {EventKind.CHARGED_BACK: "chargeback", EventKind.REFUNDED: "refund"}


async def apply_event(session: AsyncSession, payment: Payment, event: PspEvent) -> str:
    """Apply one event to a locked payment; returns what happened ("applied", "ignored: ...")."""
    actor = system_actor(f"webhook:{payment.provider}", str(payment.correlation_id))
    if event.currency is not None and event.currency != payment.currency:
        return "ignored: amount or currency differs from the payment"
    if event.kind in DISPUTE_EVENTS:
        if payment.direction != "deposit":
            return "ignored: event does not apply to this payment"
        await disputes.record(session, actor, payment, kind=DISPUTE_EVENTS[event.kind],
                              amount=event.amount if event.amount is not None else payment.amount,
                              case_id=event.case_id or event.event_id, reason=event.reason or "")
        return "applied"
    targets = DEPOSIT_EVENTS if payment.direction == "deposit" else PAYOUT_EVENTS
    target = targets.get(event.kind)
    if target is None:
        return "ignored: event does not apply to this payment"
    if payment.status is target or not can_move(payment.status, target):
        return f"ignored: {payment.status.value} payment"  # stale or out-of-order: the machine decides
    if payment.direction == "withdrawal":
        if target is Status.SUCCEEDED:
            await withdrawals.settle(session, actor, payment)
        else:
            await withdrawals.fail(session, actor, payment, event.reason or "payout failed")
        return "applied"
    if target is Status.SUCCEEDED:
        if event.amount != payment.amount:
            return "ignored: amount or currency differs from the payment"
        await credit(session, actor, payment, payer_name=_clip(event.payer_name),
                     card_bin_country=_clip(event.card_country, 2), instrument=_clip(event.instrument, 100))
        return "applied"
    await repo.move(session, actor, payment, target, reason=event.reason)
    return "applied"


def _clip(value: Any, size: int = 200) -> str | None:
    return str(value)[:size] if value else None


async def apply_parked(session: AsyncSession, payment: Payment) -> int:
    """Apply events that arrived before the payment knew its provider id, in arrival order."""
    assert payment.provider_payment_id is not None
    rows = (await session.execute(text(
        "SELECT id, payload FROM payment_parked_webhooks WHERE provider = :p AND provider_payment_id = :pid "
        "AND applied_at IS NULL ORDER BY id FOR UPDATE"),
        {"p": payment.provider, "pid": payment.provider_payment_id})).all()
    for row in rows:
        current = await repo.get(session, payment.id, lock=True)
        assert current is not None
        outcome = await apply_event(session, current, PspEvent.from_json(row.payload))
        await session.execute(text("UPDATE payment_parked_webhooks SET applied_at = now() WHERE id = :id"),
                              {"id": row.id})
        await gateway_log.write(session, provider=payment.provider, direction="inbound", endpoint="parked",
                                request=row.payload, response={"outcome": outcome}, payment_id=payment.id,
                                correlation_id=payment.correlation_id)
    return len(rows)


async def _find(session: AsyncSession, provider: str, event: PspEvent) -> Payment | None:
    payment = await repo.by_provider_id(session, provider, event.provider_payment_id)
    if payment is None and event.reference:
        found = await repo.by_reference(session, event.reference)
        if found is not None and found.provider == provider:
            payment = found
    return payment


async def apply_delivered(session: AsyncSession, provider: str, event: PspEvent) -> tuple[str, Payment | None]:
    """One normalised event in the caller's transaction: (outcome, the payment it named, as found)."""
    await provider_lock(session, provider, event.provider_payment_id)
    if not await first_delivery(session, provider, event.event_id, event.raw):
        return "duplicate", None
    payment = await _find(session, provider, event)
    if payment is None:
        parked = {**event.to_json(), "raw": {}}
        await session.execute(text(
            "INSERT INTO payment_parked_webhooks (provider, provider_payment_id, event_id, payload) "
            "VALUES (:p, :pid, :e, CAST(:b AS jsonb)) ON CONFLICT DO NOTHING"),
            {"p": provider, "pid": event.provider_payment_id, "e": event.event_id,
             "b": orjson.dumps(parked).decode()})
        return "parked", None
    outcome = await apply_event(session, payment, event)
    if event.replaces_id and event.replaces_id != payment.provider_payment_id:
        # the provider's later object for this payment (Stripe: the PaymentIntent) names it from now on
        await provider_lock(session, provider, event.replaces_id)
        current = await repo.get(session, payment.id, lock=True)
        assert current is not None
        current = await repo.update(session, current, provider_payment_id=event.replaces_id)
        await apply_parked(session, current)
    return outcome, payment


def handler_for(provider: str) -> WebhookHandler:
    async def handle(services: Any, request: WebhookRequest) -> tuple[int, dict[str, Any]]:
        adapter = adapter_for(provider)
        events = adapter.parse_webhook(services.settings, provider, request.body, request.headers)
        logged = orjson.loads(request.body)

        async def txn(session: AsyncSession) -> list[str]:
            outcomes: list[str] = []
            for event in events:
                outcome, payment = await apply_delivered(session, provider, event)
                outcomes.append(outcome)
                # A payment's id and correlation id never change: the row as found names both.
                await gateway_log.write(session, provider=provider, direction="inbound",
                                        endpoint=f"/webhooks/{provider}", request=logged,
                                        response={"outcome": outcome},
                                        status_code=202 if outcome == "parked" else 200,
                                        payment_id=payment.id if payment else None,
                                        correlation_id=payment.correlation_id if payment else None)
            return outcomes

        outcomes = await in_transaction(services.session_factory, txn) if events else []
        status = (outcomes[0] if len(set(outcomes)) == 1 else "applied" if "applied" in outcomes
                  else outcomes[0]) if outcomes else "ignored: event type not used"
        answer = adapter.answer(services.settings, provider, {"status": status})
        body = dict(answer.body)
        if answer.headers:
            body[RESPONSE_HEADERS] = answer.headers
        return answer.status, body

    return handle


WEBHOOK_HANDLERS: dict[str, WebhookHandler] = {
    **{provider: handler_for(provider) for provider in provider_keys()},
    **{provider: crypto.handle for provider in crypto.PROVIDERS},
}
