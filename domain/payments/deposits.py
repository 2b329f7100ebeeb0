"""Deposits: create a payment (card/local: a provider session with a redirect URL; wire: a reference
to quote on the transfer), credit the wallet once when the money is confirmed.

Creating is three short steps so no transaction waits on the network: record the payment, call the
provider, store its session id and apply any webhook that was parked because it came first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.clients import payment_gates
from domain.compliance.aml import engine as aml
from domain.identity.sessions import notify
from domain.ledger.accounts import Purpose, house_account, wallet_for
from domain.ledger.errors import InsufficientFunds
from domain.ledger.holds import place_hold
from domain.ledger.idempotency import Settlement
from domain.ledger.posting import Leg, post
from domain.ledger.wallets import once
from domain.payments import methods, psp_port, repo
from domain.payments.errors import PaymentMethodUnavailable
from domain.payments.repo import Payment
from domain.payments.status import Status
from domain.shared.actor import Actor
from domain.shared.db import SessionFactory, in_transaction
from domain.shared.errors import DomainError, InvalidAmount
from domain.shared.money import at_scale, quantize_exact
from domain.shared.money import currency as currency_info
from domain.shared.settings import Settings

REDIRECT_KINDS = frozenset({"card", "local"})
DEPOSIT_CREDITED = "payment.deposit_credited"  # the notification kind once a deposit is credited


async def provider_lock(session: AsyncSession, provider: str, provider_payment_id: str) -> None:
    """Serialises storing a provider id with webhooks naming it, so none is parked after the sweep."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                          {"k": f"psp:{provider}:{provider_payment_id}"})


async def _record(session: AsyncSession, actor: Actor, *, user_id: int, method_code: str, currency: str,
                  amount: Decimal, country: str | None) -> tuple[Payment, methods.Method]:
    await payment_gates.require_allowed(session, user_id, "deposit")
    code = currency_info(currency).code
    amount = quantize_exact(amount, code, field="amount")
    if amount <= 0:
        raise InvalidAmount("amount must be positive", field="amount")
    method = await methods.resolve(session, method_code, code, country)
    if not method.deposits:
        raise PaymentMethodUnavailable(f"{method_code} does not take deposits", field="methodCode")
    method.check_amount(amount)
    await methods.check_first_deposit(session, method, user_id, amount)
    payment = await repo.insert(session, user_id=user_id, direction="deposit", method_code=method.code,
                                method_kind=method.kind, provider=method.provider, currency=code, amount=amount,
                                fee=method.fee_for(amount), country=country.upper() if country else None)
    await audit.record(session, actor, action="payment.create", entity_type="payment", entity_id=payment.id,
                       after={"reference": payment.reference, "amount": str(amount), "currency": code,
                              "method": method.code}, category="payments")
    if method.kind == "wire":  # nothing to call: the client now sends the transfer quoting the reference
        payment = await repo.move(session, actor, payment, Status.PENDING)
    else:
        await repo.announce(session, payment)
    return payment, method


async def create_deposit(factory: SessionFactory, settings: Settings, actor: Actor, *, user_id: int,
                         method_code: str, currency: str, amount: Decimal, country: str | None,
                         return_url: str, idempotency_key: str | None = None) -> Payment:
    """With an idempotency key a repeat returns the first call's deposit (the same key with other
    input is refused), and the outcome can be looked up by the key."""
    async def record(session: AsyncSession) -> tuple[Payment, methods.Method]:
        return await _record(session, actor, user_id=user_id, method_code=method_code, currency=currency,
                             amount=amount, country=country)

    async def record_once(session: AsyncSession) -> tuple[Payment, methods.Method]:
        assert idempotency_key is not None
        code = currency_info(currency).code
        payload = {"user_id": user_id, "method": method_code.strip(), "currency": code,
                   "amount": quantize_exact(amount, code, field="amount"),
                   "country": country.upper() if country else None, "return_url": return_url}

        async def work(_: Settlement) -> dict[str, Any]:
            return {"payment_id": (await record(session))[0].id}

        result, _ = await once(session, actor, idempotency_key, "create_deposit", payload, work)
        found = await repo.get(session, int(result["payment_id"]))
        assert found is not None
        return found, await methods.resolve(session, found.method_code, found.currency, found.country)

    payment, method = await in_transaction(factory, record if idempotency_key is None else record_once)
    if payment.status is not Status.CREATED:  # a repeat of a deposit already under way (or wire, pending)
        return payment
    if method.kind not in REDIRECT_KINDS:
        return payment
    async with factory() as s:
        name = str(await s.scalar(text("SELECT display_name FROM users WHERE id = :u"), {"u": user_id}) or "")
    try:
        ctx = psp_port.context(method.provider, method, settings, factory)
        session_obj = await psp_port.adapter_for(method.provider).create_hosted_payment(
            ctx, payment, return_url=return_url, customer_name=name)
    except DomainError as exc:
        reason = exc.message[:500]

        async def failed(session: AsyncSession) -> Payment:
            current = await repo.get(session, payment.id, lock=True)
            assert current is not None
            return await repo.move(session, actor, current, Status.FAILED, reason=reason)

        await in_transaction(factory, failed)
        raise

    async def attach(session: AsyncSession) -> Payment:
        await provider_lock(session, method.provider, session_obj.id)
        current = await repo.get(session, payment.id, lock=True)
        assert current is not None
        # a webhook that came first may already have stored the provider's later id (kept)
        current = await repo.update(session, current, provider_payment_id=current.provider_payment_id or session_obj.id,
                                    redirect_url=session_obj.url)
        if current.status is Status.CREATED:
            current = await repo.move(session, actor, current, Status.PENDING)
        from domain.payments.webhooks import apply_parked

        await apply_parked(session, current)
        refreshed = await repo.get(session, payment.id)
        assert refreshed is not None
        return refreshed

    return await in_transaction(factory, attach)


async def credit(session: AsyncSession, actor: Actor, payment: Payment, **fields: Any) -> Payment:
    """Money arrived: debit clearing (PSP) or bank, credit the wallet net of fee, book the fee.
    `fields` are more columns the same UPDATE sets (what the provider told about the payer).

    The entry's idempotency key is derived from the payment id: a second credit cannot post."""
    wallet = await wallet_for(session, payment.user_id, payment.currency)
    source = (await house_account(session, Purpose.BANK, payment.currency) if payment.method_kind == "wire"
              else await house_account(session, Purpose.PSP_CLEARING, payment.currency, provider=payment.provider))
    legs = [Leg(source, payment.amount), Leg(wallet, -payment.net)]
    if payment.fee > 0:
        legs.append(Leg(await house_account(session, Purpose.FEES, payment.currency), -payment.fee))
    entry = await post(session, actor, legs, ref_kind="deposit", ref_id=payment.reference,
                       idempotency_key=f"payment:{payment.id}:credit", description=f"deposit {payment.reference}",
                       details={"payment_id": payment.id, "fee": str(payment.fee)})
    updated = await repo.move(session, actor, payment, Status.SUCCEEDED, entry_id=entry.id, **fields)
    # In-app, live (the `notifications` subscription), in the same transaction: only once it is credited.
    net = str(at_scale(updated.net, updated.currency))
    await notify(session, updated.user_id, DEPOSIT_CREDITED,
                 f"Your deposit {updated.reference} of {net} {updated.currency} was credited.",
                 reference=updated.reference, amount=net, currency=updated.currency)
    # Payer name, high-risk and card countries, deposits near the method's limit: transaction monitoring's
    # templates (domain/compliance/aml/templates.py), no longer signals of their own.
    verdict = await aml.decide(session, actor, payment_id=updated.id, trigger="deposit")
    if verdict.outcome in ("block", "decline"):
        # The money arrived: a ledger hold keeps it from leaving (or trading) until a case officer
        # releases it. A balance already spent by a concurrent movement leaves nothing to hold.
        try:
            hold = await place_hold(session, wallet, updated.net, ref_kind="aml", ref_id=f"deposit:{updated.id}")
            hold_id: int | None = hold.id
        except InsufficientFunds:
            hold_id = None
        await aml.attach_hold(session, verdict.decision_ids, hold_id, "held")
    return updated
