"""Withdrawals: step-up, hold, closed loop, approvals (four eyes), payout, settle or fail."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.payments import withdrawals
from domain.payments.repo import Payment
from domain.payments.status import Status
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from tests.payments.conftest import (
    CARD,
    check_invariants,
    client,
    finance,
    paid_card_deposit,
    payment_row,
    snapshot,
    wallet_of,
)


async def request(factory: Any, settings: Any, uid: int, amount: str, *, method: str = CARD,
                  stepped_up: bool = True, key: str | None = None) -> Payment:
    return await in_transaction(factory, lambda s: withdrawals.request_withdrawal(
        s, settings, client(uid, stepped_up=stepped_up), user_id=uid, method_code=method, currency="USD",
        amount=Decimal(amount), country="DE", destination={"iban": "DE89370400440532013000"},
        idempotency_key=key or f"wd-{uid}-{amount}-{method}"))


async def settled(factory: Any, payment_id: int, timeout_s: float = 10.0) -> str:
    """The payment's status once the provider's webhook moved it out of pending."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        status = str((await payment_row(factory, payment_id)).status)
        if status != "pending" or asyncio.get_running_loop().time() > deadline:
            return status
        await asyncio.sleep(0.05)


async def approve(factory: Any, staff_id: int, payment_id: int) -> tuple[Payment, bool]:
    return await in_transaction(factory, lambda s: withdrawals.approve(s, finance(staff_id), payment_id))


async def refused(code: str, factory: Any, call: Any) -> None:
    before = await snapshot(factory)
    with pytest.raises(DomainError) as exc:
        await call()
    assert exc.value.code == code
    assert await snapshot(factory) == before


async def test_withdrawal_happy_path_holds_approves_pays_and_settles(configured, session_factory, settings,
                                                                      make_user):
    uid, approver = await make_user(), await make_user(staff=True)
    await paid_card_deposit(session_factory, settings, configured, uid, "200.00")  # wallet 196

    payment = await request(session_factory, settings, uid, "150.00")

    assert payment.status is Status.CREATED and payment.approval == "awaiting"
    assert await wallet_of(session_factory, uid) == (Decimal("196.00"), Decimal("150.00"))
    approved, done = await approve(session_factory, approver, payment.id)
    assert done and approved.approval == "approved"
    sent = await withdrawals.payout(session_factory, settings, finance(approver), payment.id)
    # a card withdrawal goes back to the card: a Stripe refund of the deposit, marked as a payout
    assert sent.status is Status.PENDING and sent.provider_payment_id in configured.refunds
    refund = configured.refunds[sent.provider_payment_id or ""]
    assert refund["metadata"] == {"reference": payment.reference, "kind": "payout"} and refund["amount"] == 15000
    assert await settled(session_factory, payment.id) == "succeeded"  # refund.updated, signed, arrived
    assert await wallet_of(session_factory, uid) == (Decimal("46.00"), Decimal(0))
    await check_invariants(session_factory)


async def test_failed_payout_releases_the_hold(configured, session_factory, settings, make_user):
    uid, approver = await make_user(), await make_user(staff=True)
    await paid_card_deposit(session_factory, settings, configured, uid, "100.00")
    payment = await request(session_factory, settings, uid, "50.00")
    await approve(session_factory, approver, payment.id)
    configured.payout_outcome = "failed"
    try:
        await withdrawals.payout(session_factory, settings, finance(approver), payment.id)
        assert await settled(session_factory, payment.id) == "failed"  # refund.failed
    finally:
        configured.payout_outcome = "succeeded"

    row = await payment_row(session_factory, payment.id)
    assert row.failure_reason == "expired_or_canceled_card"
    assert await wallet_of(session_factory, uid) == (Decimal("98.00"), Decimal(0))
    await check_invariants(session_factory)


async def test_withdrawal_without_step_up_is_refused(configured, session_factory, settings, make_user):
    uid = await make_user()
    await paid_card_deposit(session_factory, settings, configured, uid, "100.00")
    await refused("STEP_UP_REQUIRED", session_factory,
                  lambda: request(session_factory, settings, uid, "10.00", stepped_up=False))


async def test_withdrawal_above_available_is_refused(configured, session_factory, settings, make_user):
    uid = await make_user()
    await paid_card_deposit(session_factory, settings, configured, uid, "100.00")  # 98 available
    await refused("INSUFFICIENT_FUNDS", session_factory, lambda: request(session_factory, settings, uid, "99.00"))


async def test_closed_loop_card_first_then_wire(configured, session_factory, settings, make_user):
    uid, approver = await make_user(), await make_user(staff=True)
    await paid_card_deposit(session_factory, settings, configured, uid, "100.00")
    from domain.ledger.wallets import adjust_balance
    from tests.ledger.conftest import staff

    async with session_factory() as s, s.begin():
        wid = await s.scalar(text("SELECT id FROM ledger_accounts WHERE owner_id = :u AND purpose = 'client_wallet'"),
                             {"u": uid})
        await adjust_balance(s, staff(approver), wallet_id=int(wid), amount=Decimal("70"), reason="profit",
                             idempotency_key=f"profit-{uid}")
    # 168 available, 100 of it deposited by card: only 68 may leave by wire
    await refused("CLOSED_LOOP_REQUIRED", session_factory,
                  lambda: request(session_factory, settings, uid, "68.01", method="wire-test"))
    await refused("CLOSED_LOOP_REQUIRED", session_factory, lambda: request(session_factory, settings, uid, "100.01"))

    await request(session_factory, settings, uid, "100.00")
    wire = await request(session_factory, settings, uid, "68.00", method="wire-test")

    assert wire.approval == "awaiting"
    assert await wallet_of(session_factory, uid) == (Decimal("168.00"), Decimal("168.00"))


async def test_requester_cannot_approve_and_four_eyes_need_two_others(configured, session_factory, settings,
                                                                       make_user):
    uid, first, second = await make_user(), await make_user(staff=True), await make_user(staff=True)
    for _ in range(3):
        await paid_card_deposit(session_factory, settings, configured, uid, "500.00")
    payment = await request(session_factory, settings, uid, "1200.00")  # above the 1000 threshold

    await refused("SELF_APPROVAL_FORBIDDEN", session_factory, lambda: approve(session_factory, uid, payment.id))
    after_one, done = await approve(session_factory, first, payment.id)
    assert not done and after_one.approval == "awaiting"
    await refused("ALREADY_APPROVED_BY_YOU", session_factory, lambda: approve(session_factory, first, payment.id))
    after_two, done = await approve(session_factory, second, payment.id)
    assert done and after_two.approval == "approved"
    await refused("WITHDRAWAL_NOT_AWAITING_APPROVAL", session_factory,
                  lambda: approve(session_factory, second, payment.id))


async def test_rejection_releases_the_hold(configured, session_factory, settings, make_user):
    uid, approver = await make_user(), await make_user(staff=True)
    await paid_card_deposit(session_factory, settings, configured, uid, "100.00")
    payment = await request(session_factory, settings, uid, "40.00")

    rejected = await in_transaction(session_factory, lambda s: withdrawals.reject(
        s, finance(approver), payment.id, "documents missing"))

    assert rejected.status is Status.CANCELLED and rejected.approval == "rejected"
    assert await wallet_of(session_factory, uid) == (Decimal("98.00"), Decimal(0))
    await check_invariants(session_factory)
