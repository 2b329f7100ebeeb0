"""Withdrawals: step-up, hold at once, closed-loop and balance checks, approval (four eyes above a
threshold, never the requester), payout through the gateway, then settle or fail.

Closed loop: money goes back to the card/method it came from, up to what that method deposited
(less what was already returned or disputed); only the rest may leave by wire.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.clients import payment_gates
from domain.compliance.aml import engine as aml
from domain.identity import four_eyes
from domain.identity.totp import require_step_up
from domain.ledger.accounts import Purpose, balance_of, house_account, wallet_for
from domain.ledger.errors import InsufficientFunds
from domain.ledger.holds import capture_hold, place_hold, release_hold
from domain.ledger.idempotency import Settlement
from domain.ledger.posting import Leg, post
from domain.ledger.wallets import once
from domain.payments import methods, psp_port, repo
from domain.payments.config import four_eyes_threshold
from domain.payments.errors import (
    AlreadyApproved,
    ClosedLoopRequired,
    CryptoAddressInvalid,
    InvalidTransition,
    NotAwaitingApproval,
    PaymentMethodUnavailable,
    PaymentNotFound,
    SelfApprovalForbidden,
    WithdrawalNotApproved,
)
from domain.payments.repo import Payment
from domain.payments.status import Status
from domain.shared.actor import Actor
from domain.shared.db import SessionFactory, in_transaction
from domain.shared.errors import InvalidAmount, ValidationFailed
from domain.shared.money import currency as currency_info
from domain.shared.money import quantize_exact
from domain.shared.settings import Settings

LOOP_KINDS = ("card", "local", "crypto")
OPEN = ("failed", "cancelled", "returned")  # withdrawals whose money stayed with (or came back to) the client
WITHDRAWAL_FLOW = "withdrawal"


async def refundable_by_method(session: AsyncSession, user_id: int, currency: str) -> dict[str, Decimal]:
    """Per closed-loop method: deposited - disputed - already withdrawn to it (not failed/cancelled)."""
    rows = (await session.execute(text(
        "SELECT method_code, sum(CASE WHEN direction = 'deposit' THEN amount - coalesce(("
        "  SELECT sum(d.amount) FROM payment_disputes d WHERE d.payment_id = p.id), 0) ELSE -amount END) AS left "
        "FROM payments p WHERE user_id = :u AND currency = :c AND method_kind = ANY(CAST(:kinds AS text[])) "
        "AND ((direction = 'deposit' AND status IN ('succeeded', 'refunded', 'charged_back')) "
        "  OR (direction = 'withdrawal' AND status <> ALL(CAST(:open AS text[])))) "
        "GROUP BY method_code"), {"u": user_id, "c": currency, "kinds": list(LOOP_KINDS), "open": list(OPEN)})).all()
    return {r.method_code: max(Decimal(r.left), Decimal(0)) for r in rows}


def check_closed_loop(method: methods.Method, amount: Decimal, available: Decimal,
                      refundable: dict[str, Decimal]) -> None:
    if method.kind in LOOP_KINDS:
        allowed = refundable.get(method.code, Decimal(0))
        if amount > allowed:
            raise ClosedLoopRequired(
                f"at most {allowed.normalize():f} {method.currency} can go back to {method.code}; "
                "withdraw the rest by wire", field="amount")
        return
    owed = sum(refundable.values(), Decimal(0))
    if amount > available - owed:
        raise ClosedLoopRequired(
            f"first return {owed.normalize():f} {method.currency} to the methods you deposited with",
            field="methodCode")


CRYPTO_ADDRESS = re.compile(r"[A-Za-z0-9:_\-]{20,120}")
CRYPTO_TAG = re.compile(r"[A-Za-z0-9]{1,64}")


def crypto_destination(destination: dict[str, Any]) -> dict[str, Any]:
    """{address, tag?} of a crypto payout, checked for shape (the gateway checks the chain's rules)."""
    address, tag = str(destination.get("address") or "").strip(), str(destination.get("tag") or "").strip()
    if not CRYPTO_ADDRESS.fullmatch(address):
        raise CryptoAddressInvalid("give the address to send the coins to", field="address")
    if tag and not CRYPTO_TAG.fullmatch(tag):
        raise CryptoAddressInvalid("the destination tag is letters and digits", field="tag")
    return {"address": address, **({"tag": tag} if tag else {})}


async def request_withdrawal(session: AsyncSession, settings: Settings, actor: Actor, *, user_id: int,
                             method_code: str, currency: str, amount: Decimal, country: str | None,
                             destination: dict[str, Any], idempotency_key: str) -> Payment:
    await require_step_up(session, actor, settings)
    await payment_gates.require_allowed(session, user_id, "withdrawal")
    code = currency_info(currency).code
    amount = quantize_exact(amount, code, field="amount")
    if amount <= 0:
        raise InvalidAmount("amount must be positive", field="amount")
    method = await methods.resolve(session, method_code, code, country)
    if not method.withdrawals:
        raise PaymentMethodUnavailable(f"{method_code} does not pay out", field="methodCode")
    method.check_amount(amount)
    if method.kind == "crypto":
        destination = crypto_destination(destination)
    payload = {"user_id": user_id, "method": method.code, "currency": code, "amount": amount,
               "destination": destination}

    async def work(_: Settlement) -> dict[str, Any]:
        wallet = await wallet_for(session, user_id, code)
        available = (await balance_of(session, wallet.id)).available
        if amount > available:  # checked again atomically by the hold below
            raise InsufficientFunds("not enough available funds", field="amount")
        check_closed_loop(method, amount, available, await refundable_by_method(session, user_id, code))
        payment = await repo.insert(session, user_id=user_id, direction="withdrawal", method_code=method.code,
                                    method_kind=method.kind, provider=method.provider, currency=code, amount=amount,
                                    fee=Decimal(0), country=country.upper() if country else None,
                                    approval="awaiting", destination=destination, requested_by=actor.user_id)
        hold = await place_hold(session, wallet, amount, ref_kind="withdrawal", ref_id=payment.reference)
        payment = await repo.update(session, payment, hold_id=hold.id)
        await audit.record(session, actor, action="payment.withdrawal_request", entity_type="payment",
                           entity_id=payment.id, after={"reference": payment.reference, "amount": str(amount),
                                                        "currency": code, "method": method.code},
                           category="payments")
        await repo.announce(session, payment)
        verdict = await aml.decide(session, actor, payment_id=payment.id, trigger="withdrawal")
        if verdict.outcome == "decline":  # the hold goes back at once: nothing leaves, nothing is lost
            await release_hold(session, wallet, hold.id)
            payment = await repo.update(session, payment, approval="rejected")
            payment = await repo.move(session, actor, payment, Status.CANCELLED,
                                      reason="declined by transaction monitoring")
            await aml.attach_hold(session, verdict.decision_ids, hold.id, "declined")
        elif verdict.outcome == "block":  # the withdrawal's own hold keeps the money until a case officer decides
            await aml.attach_hold(session, verdict.decision_ids, hold.id, "held")
        return {"payment_id": payment.id}

    result, _ = await once(session, actor, idempotency_key, "request_withdrawal", payload, work)
    found = await repo.get(session, int(result["payment_id"]))
    assert found is not None
    return found


async def _awaiting(session: AsyncSession, payment_id: int) -> Payment:
    payment = await repo.get(session, payment_id, lock=True)
    if payment is None or payment.direction != "withdrawal":
        raise PaymentNotFound("no such withdrawal", field="id")
    if payment.approval != "awaiting":
        raise NotAwaitingApproval("this withdrawal is not awaiting approval", field="id")
    return payment


async def approve(session: AsyncSession, actor: Actor, payment_id: int) -> tuple[Payment, bool]:
    """Record one approval; (payment, fully approved). Two different, unrelated staff approve when the
    amount, with what this requester or this client withdrew on one approval within the four-eyes
    window, reaches the threshold."""
    payment = await _awaiting(session, payment_id)
    await aml.require_not_held(session, payment.id)
    if actor.user_id is None or actor.user_id in (payment.user_id, payment.requested_by):
        raise SelfApprovalForbidden("you cannot approve your own withdrawal", field="id")
    earlier = list(await session.scalars(text(
        "SELECT approver_id FROM payment_approvals WHERE payment_id = :p ORDER BY approver_id"), {"p": payment.id}))
    if actor.user_id in earlier:
        raise AlreadyApproved("you already approved this withdrawal; a second approver is needed", field="id")
    await four_eyes.require_independent(session, actor.user_id, [payment.requested_by, payment.user_id, *earlier])
    initiator = payment.requested_by or payment.user_id
    threshold = four_eyes_threshold(payment.currency)
    cumulative = await four_eyes.needs_second_approver(
        session, flow=WITHDRAWAL_FLOW, initiator=initiator, client=payment.user_id, currency=payment.currency,
        amount=payment.amount, threshold=threshold, inclusive=True)
    await session.execute(text("INSERT INTO payment_approvals (payment_id, approver_id) VALUES (:p, :a)"),
                          {"p": payment.id, "a": actor.user_id})
    count = len(earlier) + 1
    needed = 2 if cumulative else 1
    done = count >= needed
    if done:
        payment = await repo.update(session, payment, approval="approved")
        if count == 1:
            await four_eyes.record_solo(session, flow=WITHDRAWAL_FLOW, ref=f"payment:{payment.id}",
                                        initiator=initiator, client=payment.user_id, currency=payment.currency,
                                        amount=payment.amount)
    await audit.record(session, actor, action="payment.withdrawal_approve", entity_type="payment",
                       entity_id=payment.id, after={"approvals": count, "needed": needed,
                                                    "threshold": str(threshold),
                                                    "window_s": four_eyes.window_s()}, category="payments")
    await repo.announce(session, payment)
    return payment, done


async def reject(session: AsyncSession, actor: Actor, payment_id: int, reason: str) -> Payment:
    reason = reason.strip()
    if not reason or len(reason) > 1000:
        raise ValidationFailed("a reason of 1 to 1000 characters is required", field="reason")
    payment = await _awaiting(session, payment_id)
    wallet = await wallet_for(session, payment.user_id, payment.currency)
    assert payment.hold_id is not None
    await release_hold(session, wallet, payment.hold_id)
    payment = await repo.update(session, payment, approval="rejected")
    return await repo.move(session, actor, payment, Status.CANCELLED, reason=reason)


async def payout(factory: SessionFactory, settings: Settings, actor: Actor, payment_id: int) -> Payment:
    """Send an approved withdrawal to the provider (safe to repeat: the reference is its idempotency key)."""
    async with factory() as s:
        payment = await repo.get(s, payment_id)
        assert payment is not None
        if payment.approval != "approved" or payment.status is not Status.CREATED:
            return payment
        method = await methods.resolve(s, payment.method_code, payment.currency, payment.country)
        source = await s.scalar(text(
            "SELECT provider_payment_id FROM payments WHERE user_id = :u AND direction = 'deposit' "
            "AND method_code = :m AND status = 'succeeded' ORDER BY id DESC LIMIT 1"),
            {"u": payment.user_id, "m": payment.method_code})
    if not method.base_url:  # wire paid out by finance from the bank: waits for the bank's confirmation
        obj_id = None
    elif method.kind == "crypto":  # the crypto gateway's port (domain/payments/crypto_port.py)
        from domain.payments.crypto import send_payout

        obj_id = await send_payout(factory, settings, method, payment)
    else:
        ctx = psp_port.context(method.provider, method, settings, factory)
        obj_id = (await psp_port.adapter_for(method.provider).payout(ctx, payment, source_payment_id=source)).id

    async def sent(session: AsyncSession) -> Payment:
        current = await repo.get(session, payment_id, lock=True)
        assert current is not None
        if current.status is not Status.CREATED:
            return current
        if obj_id is not None:
            from domain.payments.deposits import provider_lock
            from domain.payments.webhooks import apply_parked

            await provider_lock(session, current.provider, obj_id)
            current = await repo.update(session, current, provider_payment_id=obj_id)
            current = await repo.move(session, actor, current, Status.PENDING)
            await apply_parked(session, current)
            refreshed = await repo.get(session, payment_id)
            assert refreshed is not None
            return refreshed
        return await repo.move(session, actor, current, Status.PENDING)

    return await in_transaction(factory, sent)


async def settle(session: AsyncSession, actor: Actor, payment: Payment) -> Payment:
    """The provider paid out: capture the hold into the provider's clearing account."""
    wallet = await wallet_for(session, payment.user_id, payment.currency)
    counter = (await house_account(session, Purpose.BANK, payment.currency) if payment.method_kind == "wire"
               else await house_account(session, Purpose.PSP_CLEARING, payment.currency, provider=payment.provider))
    assert payment.hold_id is not None
    entry = await capture_hold(session, actor, wallet, payment.hold_id, counter, ref_kind="withdrawal",
                               ref_id=payment.reference, idempotency_key=f"payment:{payment.id}:settle",
                               description=f"withdrawal {payment.reference}")
    return await repo.move(session, actor, payment, Status.SUCCEEDED, entry_id=entry.id)


async def fail(session: AsyncSession, actor: Actor, payment: Payment, reason: str) -> Payment:
    wallet = await wallet_for(session, payment.user_id, payment.currency)
    assert payment.hold_id is not None
    await release_hold(session, wallet, payment.hold_id)
    return await repo.move(session, actor, payment, Status.FAILED, reason=reason)


# Wire withdrawals are paid by finance from the bank, so no provider reports the outcome: the bank
# statement's debit line quoting the reference (statements.import_statement), or a staff member with
# evidence, marks one paid; a line sending the money back, or staff, marks it returned.
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Evidence:
    """Why a wire withdrawal is taken as paid: the bank's reference, a note, and the file if any
    (stored encrypted like client documents; its checksum goes into the audit record)."""

    bank_reference: str
    note: str
    source: str  # "staff" or "statement"
    file: dict[str, Any] | None = None

    def audit(self) -> dict[str, Any]:
        return {"bank_reference": self.bank_reference, "note": self.note, "source": self.source,
                "file": self.file}


def check_evidence(bank_reference: str, note: str) -> tuple[str, str]:
    bank_reference, note = bank_reference.strip(), note.strip()
    if not 0 < len(bank_reference) <= 64:
        raise ValidationFailed("the bank's reference for the transfer (1 to 64 characters) is required",
                               field="bankReference")
    if not 0 < len(note) <= 1000:
        raise ValidationFailed("a note of 1 to 1000 characters is required", field="note")
    return bank_reference, note


async def store_evidence(settings: Settings, store: Any, payment_id: int, filename: str,
                         data: bytes) -> dict[str, Any]:
    """Keep the evidence file (encrypted at rest) and describe it for the audit record."""
    from domain.clients.storage import encrypt

    if not data or len(data) > MAX_EVIDENCE_BYTES:
        raise ValidationFailed(f"the evidence file has 1 byte to {MAX_EVIDENCE_BYTES // 1024 // 1024} MB",
                               field="evidence")
    key = f"payments/{payment_id}/{uuid.uuid4().hex}"
    await store.put(key, encrypt(settings, key, data))
    return {"filename": filename[:200], "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "storage_key": key}


async def _wire(session: AsyncSession, payment_id: int) -> Payment:
    payment = await repo.get(session, payment_id, lock=True)
    if payment is None or payment.direction != "withdrawal" or payment.method_kind != "wire":
        raise PaymentNotFound("no such wire withdrawal", field="id")
    return payment


def _check_payable(payment: Payment) -> None:
    if payment.approval != "approved":
        raise WithdrawalNotApproved("this withdrawal is not approved, so it cannot have been paid", field="id")
    if payment.status not in (Status.CREATED, Status.PENDING):
        raise InvalidTransition(f"a {payment.status.value} withdrawal cannot be marked paid", field="id")


async def mark_paid(session: AsyncSession, actor: Actor, payment_id: int, evidence: Evidence) -> Payment:
    """The bank paid an approved wire withdrawal out: post the hold to the bank account. Marking a
    paid one again changes nothing (the same statement line, or a retried request)."""
    payment = await _wire(session, payment_id)
    if payment.status is Status.SUCCEEDED:
        return payment
    _check_payable(payment)
    paid = await settle(session, actor, payment)
    await audit.record(session, actor, action="payment.withdrawal_paid", entity_type="payment", entity_id=payment.id,
                       after={"reference": payment.reference, "amount": str(payment.amount),
                              "currency": payment.currency, **evidence.audit()}, category="payments")
    return paid


async def mark_returned(session: AsyncSession, actor: Actor, payment_id: int, reason: str) -> Payment:
    """The bank sent an approved wire withdrawal back: a held amount is released; one already
    posted to the bank is credited back to the wallet. Returning a returned one changes nothing."""
    reason = reason.strip()
    if not 0 < len(reason) <= 1000:
        raise ValidationFailed("a reason of 1 to 1000 characters is required", field="reason")
    payment = await _wire(session, payment_id)
    if payment.status is Status.RETURNED:
        return payment
    if payment.approval != "approved":
        raise WithdrawalNotApproved("this withdrawal is not approved, so it cannot have been returned", field="id")
    if payment.status not in (Status.CREATED, Status.PENDING, Status.SUCCEEDED):
        raise InvalidTransition(f"a {payment.status.value} withdrawal cannot be returned", field="id")
    wallet = await wallet_for(session, payment.user_id, payment.currency)
    if payment.status is Status.SUCCEEDED:
        bank = await house_account(session, Purpose.BANK, payment.currency)
        await post(session, actor, [Leg(bank, payment.amount), Leg(wallet, -payment.amount)],
                   ref_kind="withdrawal_return", ref_id=payment.reference,
                   idempotency_key=f"payment:{payment.id}:return", description=f"returned {payment.reference}",
                   details={"payment_id": payment.id})
    else:
        assert payment.hold_id is not None
        await release_hold(session, wallet, payment.hold_id)
    return await repo.move(session, actor, payment, Status.RETURNED, reason=f"returned by the bank: {reason}")


async def staff_mark_paid(session: AsyncSession, settings: Settings, store: Any, actor: Actor, payment_id: int, *,
                          bank_reference: str, note: str, file: tuple[str, bytes] | None = None) -> Payment:
    """Finance confirms a wire withdrawal left the bank (fresh step-up; evidence audited)."""
    bank_reference, note = check_evidence(bank_reference, note)
    await require_step_up(session, actor, settings)
    payment = await _wire(session, payment_id)
    if payment.status is Status.SUCCEEDED:
        return payment
    _check_payable(payment)  # before the file is stored
    stored = await store_evidence(settings, store, payment.id, *file) if file is not None else None
    return await mark_paid(session, actor, payment.id, Evidence(bank_reference, note, "staff", stored))


async def staff_mark_returned(session: AsyncSession, settings: Settings, actor: Actor, payment_id: int,
                              reason: str) -> Payment:
    """Finance records that the bank sent a wire withdrawal back (fresh step-up)."""
    await require_step_up(session, actor, settings)
    return await mark_returned(session, actor, payment_id, reason)
