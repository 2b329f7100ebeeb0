"""Chargebacks into negative (flagged), wire matching from CSV and camt.053. The payment patterns that were
signals (payer name, countries, near the limit, quick withdrawal, no trading) are transaction monitoring's
templates: tests/compliance/test_aml_retired_signals.py."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from bench.camt_files import Entry, statement
from domain.payments import deposits, disputes, repo, statements
from domain.payments.statements import ImportResult
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from domain.shared.pagination import PageRequest
from tests.payments.conftest import (
    WIRE,
    check_invariants,
    client,
    finance,
    paid_card_deposit,
    payment_row,
    signal_kinds,
    snapshot,
    wallet_of,
)
from tests.payments.test_withdrawals import request


async def test_chargeback_takes_wallet_negative_and_flags_client(configured, session_factory, settings, make_user):
    uid, staff = await make_user(), await make_user(staff=True)
    payment = await paid_card_deposit(session_factory, settings, configured, uid, "100.00")  # wallet 98
    await request(session_factory, settings, uid, "90.00")  # held

    notice = configured.dispute_event(payment.provider_payment_id or "", dispute_id="dp_1", amount=10000)
    first, again = await configured.deliver(notice), await configured.deliver(notice)

    assert first.json() == {"status": "applied"} and again.json() == {"status": "duplicate"}
    assert await wallet_of(session_factory, uid) == (Decimal("-2.00"), Decimal("90.00"))
    assert (await payment_row(session_factory, payment.id)).status == "charged_back"
    assert "negative_balance" in await signal_kinds(session_factory, uid)
    async with session_factory() as s:
        history = (await disputes.history(s, uid, PageRequest())).items
    assert [(d.kind, d.case_id, d.amount, d.negative_balance) for d in history] == [
        ("chargeback", "dp_1", Decimal("100"), True)]
    before = await snapshot(session_factory)
    with pytest.raises(DomainError) as exc:
        await in_transaction(session_factory, lambda s: _dispute(s, staff, payment.id, "0.01", "dp_2"))
    assert exc.value.code == "PAYMENT_NOT_FOUND"  # a charged-back deposit cannot be disputed again
    assert await snapshot(session_factory) == before
    await check_invariants(session_factory)


async def _dispute(s, staff: int, payment_id: int, amount: str, case: str, kind: str = "chargeback"):
    payment = await repo.get(s, payment_id, lock=True)
    assert payment is not None
    return await disputes.record(s, finance(staff), payment, kind=kind, amount=Decimal(amount), case_id=case)


async def test_partial_refund_then_excess_refused(configured, session_factory, settings, make_user):
    uid, staff = await make_user(), await make_user(staff=True)
    payment = await paid_card_deposit(session_factory, settings, configured, uid, "100.00")

    await in_transaction(session_factory, lambda s: _dispute(s, staff, payment.id, "30.00", "rf_1", "refund"))
    before = await snapshot(session_factory)
    with pytest.raises(DomainError) as exc:
        await in_transaction(session_factory, lambda s: _dispute(s, staff, payment.id, "70.01", "rf_2", "refund"))

    assert exc.value.code == "DISPUTE_EXCEEDS_PAYMENT"
    assert await snapshot(session_factory) == before
    assert await wallet_of(session_factory, uid) == (Decimal("68.00"), Decimal(0))


async def wire_deposit(factory, settings, uid: int, amount: str):
    return await deposits.create_deposit(factory, settings, client(uid), user_id=uid, method_code=WIRE,
                                         currency="USD", amount=Decimal(amount), country="DE", return_url="")


async def import_(factory, staff: int, fmt: str, content: str, account: str = "DE-OPS-1") -> ImportResult:
    return await in_transaction(factory, lambda s: statements.import_statement(
        s, finance(staff), account=account, fmt=fmt, content=content))


async def test_wire_matching_from_csv(configured, session_factory, settings, make_user):
    uid, staff = await make_user(name="Anna Schmidt"), await make_user(staff=True)
    exact = await wire_deposit(session_factory, settings, uid, "500.00")
    short = await wire_deposit(session_factory, settings, uid, "300.00")
    assert exact.status.value == "pending" and exact.redirect_url is None
    csv = ("entry_ref,booking_date,amount,currency,payer_name,remittance\n"
           f"b-{exact.id}-1,2024-05-02,500.00,USD,SCHMIDT ANNA,Invoice {exact.reference.lower()} thanks\n"
           f"b-{exact.id}-2,2024-05-02,250.00,USD,Anna Schmidt,{short.reference}\n"
           f"b-{exact.id}-3,2024-05-02,75.00,USD,Someone,no reference here\n"
           f"b-{exact.id}-4,2024-05-02,-20.00,USD,Bank,fees\n")

    result = await import_(session_factory, staff, "csv", csv)
    again = await import_(session_factory, staff, "csv", csv)

    assert result.matched == [exact.reference]
    assert result.amount_mismatch == [f"b-{exact.id}-2"] and result.unmatched == [f"b-{exact.id}-3"]
    assert again.matched == [] and len(again.duplicates) == 3
    assert (await payment_row(session_factory, exact.id)).status == "succeeded"
    assert (await payment_row(session_factory, short.id)).status == "pending"
    assert await wallet_of(session_factory, uid) == (Decimal("500.00"), Decimal(0))
    await check_invariants(session_factory)


def camt(*entries: Entry, version: str = "02") -> str:
    """A camt.053 statement valid per the XSD (the fixture builder the reconciliation's tests use), in USD."""
    return statement(version, iban="DE89370400440532013000", statement_id=f"S-{uuid.uuid4().hex[:12]}",
                     currency="USD", opening=Decimal(0), day=date(2024, 5, 3), entries=entries).decode()


def entry(ref: str, amount: str, remittance: str, *, payer: str | None = None, ccy: str = "USD",
          booked: date = date(2024, 5, 3), return_code: str | None = None, return_info: str | None = None) -> Entry:
    """An entry whose bank reference (AcctSvcrRef) is `ref`; a negative amount is a debit."""
    return Entry(Decimal(amount), remittance=remittance, bank_ref=ref, booked=booked, currency=ccy, payer=payer,
                 return_code=return_code, return_info=return_info)


async def test_wire_matching_from_camt053(configured, session_factory, settings, make_user):
    uid, staff = await make_user(name="Anna Schmidt"), await make_user(staff=True)
    exact = await wire_deposit(session_factory, settings, uid, "1000.00")
    other_ccy = await wire_deposit(session_factory, settings, uid, "200.00")
    xml = camt(
        entry(f"c-{exact.id}-1", "1000.00", f"DEPOSIT {exact.reference}", payer="Max Mustermann"),
        entry(f"c-{exact.id}-2", "200.00", other_ccy.reference, payer="Anna Schmidt", ccy="EUR"),
        entry(f"c-{exact.id}-3", "10.00", "DEP-ZZZZ-ZZZZ", payer="X"),
    )

    result = await import_(session_factory, staff, "camt053", xml)

    assert result.matched == [exact.reference]
    assert result.amount_mismatch == [f"c-{exact.id}-2"] and result.unmatched == [f"c-{exact.id}-3"]
    assert await wallet_of(session_factory, uid) == (Decimal("1000.00"), Decimal(0))
    assert (await payment_row(session_factory, exact.id)).payer_name == "Max Mustermann"  # what monitoring reads


async def test_malformed_statement_is_refused_and_writes_nothing(configured, session_factory, make_user):
    staff = await make_user(staff=True)
    before = await snapshot(session_factory)
    for fmt, content in (("csv", "a,b\n1,2\n"), ("camt053", "<Document><Ntry>"),
                         ("camt053", '<!DOCTYPE x [<!ENTITY a "b">]><Document/>')):
        with pytest.raises(DomainError) as exc:
            await import_(session_factory, staff, fmt, content)
        assert exc.value.code == "STATEMENT_MALFORMED"
    assert await snapshot(session_factory) == before


async def test_camt053_not_valid_per_the_xsd_is_refused_with_its_message_and_writes_nothing(
        configured, session_factory, settings, make_user):
    uid, staff = await make_user(), await make_user(staff=True)
    dep = await wire_deposit(session_factory, settings, uid, "300.00")
    valid = camt(entry(f"x-{dep.id}-1", "300.00", dep.reference), entry(f"x-{dep.id}-2", "5.00", "fee"))
    lines = valid.splitlines()
    assert "<BkTxCd>" in lines[-2]  # the second entry's line
    invalid = "\n".join([*lines[:-2], lines[-2].replace("<Sts>BOOK</Sts>", ""), lines[-1]])
    before = await snapshot(session_factory)

    with pytest.raises(DomainError) as exc:
        await import_(session_factory, staff, "camt053", invalid)

    assert exc.value.code == "STATEMENT_MALFORMED" and exc.value.field == "content"
    assert exc.value.message.startswith(f"line {len(lines) - 1}: ") and "Sts" in exc.value.message, exc.value.message
    assert await snapshot(session_factory) == before
    assert (await payment_row(session_factory, dep.id)).status == "pending"  # the first entry was not matched


async def test_first_wire_deposit_below_minimum_is_refused(configured, session_factory, settings, make_user):
    uid = await make_user()
    before = await snapshot(session_factory)
    with pytest.raises(DomainError) as exc:
        await wire_deposit(session_factory, settings, uid, "60.00")
    assert exc.value.code == "FIRST_DEPOSIT_TOO_SMALL"
    assert await snapshot(session_factory) == before

