"""Wire withdrawals settle: the bank statement's debit line quoting the reference (CSV or camt.053)
or finance with evidence marks one paid and posts the hold; a return releases it (or credits back)."""

from __future__ import annotations

import json
import time
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.payments import withdrawals
from domain.payments.repo import Payment
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from schema.node import global_id
from tests.payments.conftest import WIRE, check_invariants, finance, payment_row, snapshot, wallet_of
from tests.payments.test_disputes_wire_signals import camt, entry, import_, wire_deposit
from tests.payments.test_withdrawals import approve, request

JUNE_3 = date(2024, 6, 3)


class MemoryStore:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def put(self, key: str, blob: bytes) -> None:
        self.blobs[key] = blob


def stepped(uid: int) -> Actor:
    return Actor(ActorKind.STAFF, user_id=uid, stepped_up_at=time.time(),
                 permissions=frozenset({"payments.read", "payments.approve_withdrawal", "payments.manage"}))


async def sent_wire(factory: Any, settings: Any, make_user: Any, amount: str = "400.00",
                    deposit: str = "1000.00") -> tuple[int, int, Payment]:
    """A client funded by wire, an approved wire withdrawal sent to the bank (pending, held)."""
    uid, staff = await make_user(), await make_user(staff=True)
    dep = await wire_deposit(factory, settings, uid, deposit)
    await import_(factory, staff, "csv", "entry_ref,booking_date,amount,currency,payer_name,remittance\n"
                                         f"in-{dep.id},2024-06-01,{deposit},USD,Test Client,{dep.reference}\n")
    payment = await request(factory, settings, uid, amount, method=WIRE)
    await approve(factory, staff, payment.id)
    sent = await withdrawals.payout(factory, settings, finance(staff), payment.id)
    assert sent.status.value == "pending"
    assert await wallet_of(factory, uid) == (Decimal(deposit), Decimal(amount))
    return uid, staff, sent


async def bank(factory: Any) -> Decimal:
    async with factory() as s:
        return Decimal(await s.scalar(text(
            "SELECT coalesce(sum(b.balance), 0) FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id "
            "WHERE a.purpose = 'bank' AND a.currency = 'USD'")))


async def audits(factory: Any, payment_id: int) -> list[tuple[str, Any]]:
    async with factory() as s:
        rows = (await s.execute(text("SELECT action, after FROM audit_events WHERE entity_type = 'payment' "
                                     "AND entity_id = :i ORDER BY id"), {"i": str(payment_id)})).all()
    return [(r[0], r[1]) for r in rows]


async def test_csv_debit_line_quoting_the_reference_settles_the_wire_withdrawal(
        configured, session_factory, settings, make_user):
    uid, staff, wd = await sent_wire(session_factory, settings, make_user)
    bank_before = await bank(session_factory)
    csv = ("entry_ref,booking_date,amount,currency,payer_name,remittance\n"
           f"out-{wd.id},2024-06-03,-400.00,USD,Test Client,Payout {wd.reference.lower()}\n"
           f"fee-{wd.id},2024-06-03,-2.00,USD,Bank,charges\n")

    result = await import_(session_factory, staff, "csv", csv)
    again = await import_(session_factory, staff, "csv", csv)

    assert result.settled == [wd.reference] and result.unmatched == [] and result.matched == []
    assert again.settled == [] and again.duplicates == [f"out-{wd.id}"]
    assert (await payment_row(session_factory, wd.id)).status == "succeeded"
    assert await wallet_of(session_factory, uid) == (Decimal("600.00"), Decimal(0))
    assert await bank(session_factory) == bank_before - Decimal("400.00")  # the bank account paid it out
    paid = [a for a in await audits(session_factory, wd.id) if a[0] == "payment.withdrawal_paid"]
    assert len(paid) == 1 and paid[0][1]["source"] == "statement" and paid[0][1]["bank_reference"] == f"out-{wd.id}"
    await check_invariants(session_factory)


async def test_camt053_debit_settles_and_a_later_return_credits_the_wallet_back(
        configured, session_factory, settings, make_user):
    uid, staff, wd = await sent_wire(session_factory, settings, make_user, "250.00")
    paid = camt(entry(f"d-{wd.id}", "-250.00", f"WITHDRAWAL {wd.reference}", booked=JUNE_3))
    assert (await import_(session_factory, staff, "camt053", paid)).settled == [wd.reference]
    assert await wallet_of(session_factory, uid) == (Decimal("750.00"), Decimal(0))

    back = camt(entry(f"r-{wd.id}", "250.00", f"RETURN {wd.reference}", booked=JUNE_3, return_code="AC04",
                      return_info="account closed"), version="08")
    result = await import_(session_factory, staff, "camt053", back)
    again = await import_(session_factory, staff, "camt053", back)

    assert result.returned == [wd.reference] and result.matched == [] and again.duplicates == [f"r-{wd.id}"]
    row = await payment_row(session_factory, wd.id)
    assert row.status == "returned" and "AC04 account closed" in row.failure_reason
    assert await wallet_of(session_factory, uid) == (Decimal("1000.00"), Decimal(0))
    await check_invariants(session_factory)


async def test_return_before_settlement_releases_the_hold(configured, session_factory, settings, make_user):
    uid, staff, wd = await sent_wire(session_factory, settings, make_user, "300.00")
    csv = ("entry_ref,booking_date,amount,currency,payer_name,remittance,return_reason\n"
           f"rt-{wd.id},2024-06-04,300.00,USD,Beneficiary Bank,{wd.reference},MS03 no reason\n")
    result = await import_(session_factory, staff, "csv", csv)
    assert result.returned == [wd.reference]
    assert (await payment_row(session_factory, wd.id)).status == "returned"
    assert await wallet_of(session_factory, uid) == (Decimal("1000.00"), Decimal(0))
    # a debit arriving afterwards quoting it is left for review, moving nothing
    late = await import_(session_factory, staff, "csv", "entry_ref,booking_date,amount,currency,payer_name,remittance\n"
                                                        f"late-{wd.id},2024-06-05,-300.00,USD,X,{wd.reference}\n")
    assert late.unmatched == [f"late-{wd.id}"] and late.settled == []
    assert await wallet_of(session_factory, uid) == (Decimal("1000.00"), Decimal(0))
    await check_invariants(session_factory)


async def test_debit_with_wrong_amount_or_unapproved_withdrawal_goes_to_review(
        configured, session_factory, settings, make_user):
    uid, staff, wd = await sent_wire(session_factory, settings, make_user, "200.00")
    waiting = await request(session_factory, settings, uid, "100.00", method=WIRE, key=f"second-{uid}")
    csv = ("entry_ref,booking_date,amount,currency,payer_name,remittance\n"
           f"w1-{wd.id},2024-06-03,-199.00,USD,X,{wd.reference}\n"
           f"w2-{wd.id},2024-06-03,-100.00,USD,X,{waiting.reference}\n")
    result = await import_(session_factory, staff, "csv", csv)
    assert result.amount_mismatch == [f"w1-{wd.id}"] and result.unmatched == [f"w2-{wd.id}"]
    assert result.settled == []
    assert (await payment_row(session_factory, wd.id)).status == "pending"
    assert await wallet_of(session_factory, uid) == (Decimal("1000.00"), Decimal("300.00"))


async def test_staff_mark_paid_with_evidence_is_audited_and_idempotent(
        configured, session_factory, settings, make_user):
    uid, staff, wd = await sent_wire(session_factory, settings, make_user, "150.00")
    store = MemoryStore()

    async def mark(actor: Actor, ref: str = "BANK-TX-991", note: str = "paid from ops account") -> Payment:
        return await in_transaction(session_factory, lambda s: withdrawals.staff_mark_paid(
            s, settings, store, actor, wd.id, bank_reference=ref, note=note, file=("advice.pdf", b"%PDF-1.4 x")))

    before = await snapshot(session_factory)
    for actor, ref, note, code in ((finance(staff), "BANK-TX-991", "n", "STEP_UP_REQUIRED"),
                                   (stepped(staff), "  ", "n", "VALIDATION_FAILED"),
                                   (stepped(staff), "BANK-TX-991", "", "VALIDATION_FAILED")):
        with pytest.raises(DomainError) as exc:
            await mark(actor, ref, note)
        assert exc.value.code == code
    assert await snapshot(session_factory) == before and store.blobs == {}

    paid = await mark(stepped(staff))
    twice = await mark(stepped(staff))

    assert paid.status.value == "succeeded" and twice.status.value == "succeeded"
    assert await wallet_of(session_factory, uid) == (Decimal("850.00"), Decimal(0))
    evidence = [a[1] for a in await audits(session_factory, wd.id) if a[0] == "payment.withdrawal_paid"]
    assert len(evidence) == 1 and len(store.blobs) == 1
    assert evidence[0]["bank_reference"] == "BANK-TX-991" and evidence[0]["source"] == "staff"
    assert evidence[0]["file"]["filename"] == "advice.pdf" and len(evidence[0]["file"]["sha256"]) == 64
    # the bank's own debit line then confirms it without posting again
    confirm = await import_(session_factory, staff, "csv", "entry_ref,booking_date,amount,currency,payer_name,"
                            f"remittance\nok-{wd.id},2024-06-03,-150.00,USD,X,{wd.reference}\n")
    assert confirm.settled == [wd.reference]
    assert await wallet_of(session_factory, uid) == (Decimal("850.00"), Decimal(0))
    # a return after that credits the wallet back, once
    for _ in range(2):
        back = await in_transaction(session_factory, lambda s: withdrawals.staff_mark_returned(
            s, settings, stepped(staff), wd.id, "beneficiary account closed"))
        assert back.status.value == "returned"
    assert await wallet_of(session_factory, uid) == (Decimal("1000.00"), Decimal(0))
    await check_invariants(session_factory)


async def test_mark_paid_refuses_what_was_not_approved_and_changes_nothing(
        configured, session_factory, settings, make_user):
    uid, staff, _ = await sent_wire(session_factory, settings, make_user, "100.00")
    waiting = await request(session_factory, settings, uid, "50.00", method=WIRE, key=f"wait-{uid}")
    before, store = await snapshot(session_factory), MemoryStore()
    for call, code in (
        (lambda s: withdrawals.staff_mark_paid(s, settings, store, stepped(staff), waiting.id, bank_reference="X1",
                                               note="n", file=("a.pdf", b"%PDF")), "WITHDRAWAL_NOT_APPROVED"),
        (lambda s: withdrawals.staff_mark_returned(s, settings, stepped(staff), waiting.id, "r"),
         "WITHDRAWAL_NOT_APPROVED"),
        (lambda s: withdrawals.staff_mark_paid(s, settings, MemoryStore(), stepped(staff), 10**12,
                                               bank_reference="X1", note="n"), "PAYMENT_NOT_FOUND"),
    ):
        with pytest.raises(DomainError) as exc:
            await in_transaction(session_factory, call)
        assert exc.value.code == code
    assert await snapshot(session_factory) == before and store.blobs == {}


MARK_PAID = """mutation($i: ID!, $r: String!, $n: String!) { markWithdrawalPaid(id: $i, bankReference: $r, note: $n) {
  payment { id status } errors { field code } } }"""
MARK_RETURNED = """mutation($i: ID!, $r: String!) { markWithdrawalReturned(id: $i, reason: $r) {
  payment { id status } errors { field code } } }"""


async def test_mark_paid_and_returned_over_graphql(configured, http, session_factory, settings, make_user):
    from tests.identity.staff import make_staff

    uid, _, wd = await sent_wire(session_factory, settings, make_user, "120.00")
    finance_staff = await make_staff(http, session_factory, settings, ["finance"])
    support = await make_staff(http, session_factory, settings, ["support"])
    denied = await support.client(MARK_PAID, {"i": str(wd.id), "r": "TX-1", "n": "n"})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    blank = (await finance_staff.client(MARK_PAID, {"i": str(wd.id), "r": "", "n": "n"}))["data"]
    assert blank["markWithdrawalPaid"]["errors"] == [{"field": "bankReference", "code": "VALIDATION_FAILED"}]
    # the evidence file goes as a GraphQL multipart request
    query = MARK_PAID.replace("$n: String!)", "$n: String!, $f: Upload)").replace("note: $n)", "note: $n, evidence: $f)")
    response = await http.post("/graphql", headers={"Authorization": f"Bearer {finance_staff.client.token}",
                                                    "apollo-require-preflight": "true"}, data={
        "operations": json.dumps({"query": query, "variables": {"i": str(wd.id), "r": "TX-1", "n": "sent", "f": None}}),
        "map": json.dumps({"f": ["variables.f"]})}, files={"f": ("advice.pdf", b"%PDF-1.4 bank advice")})
    paid = response.json()["data"]
    assert paid["markWithdrawalPaid"] == {"payment": {"id": global_id("Payment", wd.id), "status": "SUCCEEDED"}, "errors": []}, paid
    [evidence] = [a[1] for a in await audits(session_factory, wd.id) if a[0] == "payment.withdrawal_paid"]
    assert evidence["file"]["filename"] == "advice.pdf" and evidence["file"]["size"] == 20
    back = (await finance_staff.client(MARK_RETURNED, {"i": str(wd.id), "r": "closed"}))["data"]
    assert back["markWithdrawalReturned"] == {"payment": {"id": global_id("Payment", wd.id), "status": "RETURNED"}, "errors": []}
    assert await wallet_of(session_factory, uid) == (Decimal("1000.00"), Decimal(0))
