"""Refunds we ask a provider for: the request goes through the PSP port; the money moves when the
provider reports the refund (its webhook records it like any refund, domain/payments/disputes.py),
so a refund the provider refuses or never makes changes no balance."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.payments import methods, psp_port, repo
from domain.payments.errors import DisputeExceedsPayment, PaymentNotFound
from domain.payments.psp_port import ProviderObject
from domain.payments.status import Status
from domain.shared.actor import Actor
from domain.shared.db import SessionFactory, in_transaction
from domain.shared.errors import InvalidAmount
from domain.shared.money import quantize_exact
from domain.shared.settings import Settings


async def request_refund(factory: SessionFactory, settings: Settings, actor: Actor, payment_id: int,
                         amount: Decimal) -> ProviderObject:
    async with factory() as s:
        try:  # staff who may see the client, else not found
            payment = await repo.get_visible(s, actor, payment_id)
        except PaymentNotFound as exc:
            raise PaymentNotFound("no such payment", field="paymentId") from exc
        if (payment.direction != "deposit" or payment.method_kind == "wire"
                or payment.status not in (Status.SUCCEEDED, Status.REFUNDED)):
            raise PaymentNotFound("only a succeeded card or local deposit can be refunded", field="paymentId")
        amount = quantize_exact(amount, payment.currency, field="amount")
        if amount <= 0:
            raise InvalidAmount("amount must be positive", field="amount")
        disputed = Decimal(await s.scalar(text(
            "SELECT coalesce(sum(amount), 0) FROM payment_disputes WHERE payment_id = :p"), {"p": payment.id}) or 0)
        if disputed + amount > payment.amount:
            raise DisputeExceedsPayment(
                f"{(payment.amount - disputed).normalize():f} {payment.currency} is left to refund", field="amount")
        refunds = int(await s.scalar(text(
            "SELECT count(*) FROM payment_disputes WHERE payment_id = :p AND kind = 'refund'"), {"p": payment.id}) or 0)
        method = await methods.resolve(s, payment.method_code, payment.currency, payment.country)
    ctx = psp_port.context(payment.provider, method, settings, factory)
    made = await psp_port.adapter_for(payment.provider).refund(
        ctx, payment, amount, key=f"{payment.reference}:refund:{refunds + 1}:{amount}")

    async def record(session: AsyncSession) -> None:
        await audit.record(session, actor, action="payment.refund_request", entity_type="payment",
                           entity_id=payment.id, after={"amount": str(amount), "provider_refund_id": made.id,
                                                        "status": made.status}, category="payments")

    await in_transaction(factory, record)
    return made
