"""Provider webhooks: verify (several secrets during rotation), dedupe by event id, apply along the
status machine, and park events naming a provider payment we have not stored yet.

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
from domain.payments.config import webhook_secrets
from domain.payments.deposits import credit, provider_lock
from domain.payments.repo import Payment
from domain.payments.status import Status, can_move
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.money import wire_amount
from domain.shared.webhooks import (
    SIGNATURE_HEADER,
    WebhookHandler,
    WebhookRejected,
    WebhookRequest,
    first_delivery,
    verify_signature,
)

# The providers speaking the hosted-checkout protocol (card processors, local redirect methods).
PROVIDERS = ("cardpay", "localpay")
DEPOSIT_EVENTS = {"payment.pending": Status.PENDING, "payment.succeeded": Status.SUCCEEDED,
                  "payment.failed": Status.FAILED, "payment.cancelled": Status.CANCELLED}
PAYOUT_EVENTS = {"payout.paid": Status.SUCCEEDED, "payout.failed": Status.FAILED}
DISPUTE_EVENTS = {"dispute.created": "chargeback", "refund.succeeded": "refund"}


MAX_ID = 200


def _parse(body: bytes) -> tuple[str, str, dict[str, Any]]:
    try:
        event = orjson.loads(body)
        data = event["data"]
        if not isinstance(data, dict) or not str(data["payment_id"]):
            raise ValueError("no payment id")
        event_id, payment_id = str(event["id"]), str(data["payment_id"])
        if not event_id or len(event_id) > MAX_ID or len(payment_id) > MAX_ID:  # the columns' width
            raise ValueError("id too long")
        return event_id, str(event["type"]), data
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise WebhookRejected("the event is not valid JSON of the expected shape", code="WEBHOOK_MALFORMED") from exc


async def apply_event(session: AsyncSession, payment: Payment, event_type: str, data: dict[str, Any]) -> str:
    """Apply one event to a locked payment; returns what happened ("applied", "ignored: ...")."""
    actor = system_actor(f"webhook:{payment.provider}", str(payment.correlation_id))
    if event_type in DISPUTE_EVENTS:
        amount = wire_amount(data["amount"]) if data.get("amount") else payment.amount
        await disputes.record(session, actor, payment, kind=DISPUTE_EVENTS[event_type], amount=amount,
                              case_id=str(data.get("case_id") or data.get("refund_id") or event_type),
                              reason=str(data.get("reason") or ""))
        return "applied"
    targets = DEPOSIT_EVENTS if payment.direction == "deposit" else PAYOUT_EVENTS
    target = targets.get(event_type)
    if target is None:
        return "ignored: event does not apply to this payment"
    if payment.status is target or not can_move(payment.status, target):
        return f"ignored: {payment.status.value} payment"  # stale or out-of-order: the machine decides
    if payment.direction == "withdrawal":
        if target is Status.SUCCEEDED:
            await withdrawals.settle(session, actor, payment)
        else:
            await withdrawals.fail(session, actor, payment, str(data.get("reason") or "payout failed"))
        return "applied"
    if target is Status.SUCCEEDED:
        if wire_amount(data.get("amount", "0")) != payment.amount or data.get("currency") != payment.currency:
            return "ignored: amount or currency differs from the payment"
        card = data.get("card") or {}
        payment = await repo.update(session, payment, payer_name=_clip(data.get("payer_name")),
                                    card_bin_country=_clip(card.get("bin_country"), 2),
                                    instrument=_clip(card.get("fingerprint"), 100))
        await credit(session, actor, payment)
        return "applied"
    await repo.move(session, actor, payment, target, reason=str(data.get("reason")) if data.get("reason") else None)
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
        outcome = await apply_event(session, current, str(row.payload["type"]), dict(row.payload["data"]))
        await session.execute(text("UPDATE payment_parked_webhooks SET applied_at = now() WHERE id = :id"),
                              {"id": row.id})
        await gateway_log.write(session, provider=payment.provider, direction="inbound", endpoint="parked",
                                request=row.payload, response={"outcome": outcome}, payment_id=payment.id,
                                correlation_id=payment.correlation_id)
    return len(rows)


async def handle(services: Any, request: WebhookRequest) -> tuple[int, dict[str, Any]]:
    provider = request.provider
    verify_signature(request.headers.get(SIGNATURE_HEADER), request.body,
                     webhook_secrets(services.settings, provider))
    event_id, event_type, data = _parse(request.body)
    event = orjson.loads(request.body)
    provider_payment_id = str(data["payment_id"])

    async def txn(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        await provider_lock(session, provider, provider_payment_id)
        if not await first_delivery(session, provider, event_id, event):
            return 200, {"status": "duplicate"}
        payment = await repo.by_provider_id(session, provider, provider_payment_id)
        if payment is None:
            await session.execute(text(
                "INSERT INTO payment_parked_webhooks (provider, provider_payment_id, event_id, payload) "
                "VALUES (:p, :pid, :e, CAST(:b AS jsonb)) ON CONFLICT DO NOTHING"),
                {"p": provider, "pid": provider_payment_id, "e": event_id, "b": request.body.decode()})
            await gateway_log.write(session, provider=provider, direction="inbound", endpoint=f"/webhooks/{provider}",
                                    request=event, response={"outcome": "parked"}, status_code=202)
            return 202, {"status": "parked"}
        outcome = await apply_event(session, payment, event_type, data)
        await gateway_log.write(session, provider=provider, direction="inbound", endpoint=f"/webhooks/{provider}",
                                request=event, response={"outcome": outcome}, status_code=200, payment_id=payment.id,
                                correlation_id=payment.correlation_id)
        return 200, {"status": outcome}

    return await in_transaction(services.session_factory, txn)


WEBHOOK_HANDLERS: dict[str, WebhookHandler] = {
    **{provider: handle for provider in PROVIDERS},
    **{provider: crypto.handle for provider in crypto.PROVIDERS},
}
