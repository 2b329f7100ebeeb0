"""Chargebacks into negative (flagged), wire matching from CSV and camt.053. The payment patterns that were
signals (payer name, countries, near the limit, quick withdrawal, no trading) are transaction monitoring's
templates: tests/compliance/test_aml_retired_signals.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

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


CAMT = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt><Id>S1</Id>
{entries}
</Stmt></BkToCstmrStmt></Document>"""
ENTRY = """<Ntry><NtryRef>{ref}</NtryRef><Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<BookgDt><Dt>2024-05-03</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef><NtryDtls><TxDtls>
<RltdPties><Dbtr><Nm>{payer}</Nm></Dbtr></RltdPties><RmtInf><Ustrd>{remittance}</Ustrd></RmtInf>
</TxDtls></NtryDtls></Ntry>"""


async def test_wire_matching_from_camt053(configured, session_factory, settings, make_user):
    uid, staff = await make_user(name="Anna Schmidt"), await make_user(staff=True)
    exact = await wire_deposit(session_factory, settings, uid, "1000.00")
    other_ccy = await wire_deposit(session_factory, settings, uid, "200.00")
    xml = CAMT.format(entries="".join([
        ENTRY.format(ref=f"c-{exact.id}-1", ccy="USD", amount="1000.00", payer="Max Mustermann",
                     remittance=f"DEPOSIT {exact.reference}"),
        ENTRY.format(ref=f"c-{exact.id}-2", ccy="EUR", amount="200.00", payer="Anna Schmidt",
                     remittance=other_ccy.reference),
        ENTRY.format(ref=f"c-{exact.id}-3", ccy="USD", amount="10.00", payer="X", remittance="DEP-ZZZZ-ZZZZ"),
    ]))

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


async def test_first_wire_deposit_below_minimum_is_refused(configured, session_factory, settings, make_user):
    uid = await make_user()
    before = await snapshot(session_factory)
    with pytest.raises(DomainError) as exc:
        await wire_deposit(session_factory, settings, uid, "60.00")
    assert exc.value.code == "FIRST_DEPOSIT_TOO_SMALL"
    assert await snapshot(session_factory) == before

