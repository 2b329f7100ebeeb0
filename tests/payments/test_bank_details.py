"""A wire method's bank account, set by staff (setWireBankDetails, payments.methods.manage) and shown to a
client with a wire deposit's reference (Payment.wireInstructions): IBAN check digits and BIC shape verified,
each bad input a typed error beside its field that writes nothing; every change audited."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.identity.staff import make_staff
from tests.payments.conftest import onboarded

CREATE = """mutation($i: CreatePaymentMethodInput!) { createPaymentMethod(input: $i) { method { id } errors { code } } }"""
SET = """mutation($m: ID!, $i: WireBankDetailsInput!) { setWireBankDetails(methodId: $m, input: $i) {
  method { id code bankDetails { iban bic beneficiaryName beneficiaryAddress bankName } } errors { field code } } }"""
DEPOSIT = """mutation($i: CreateDepositInput!) { createDeposit(input: $i) { payment { reference
  wireInstructions { iban bic beneficiaryName beneficiaryAddress bankName } } errors { field code } } }"""
ACCOUNT = {"iban": "de89 3704 0044 0532 0130 00", "bic": "cobadeff xxx", "beneficiaryName": " Acme  Brokerage Ltd ",
           "beneficiaryAddress": "1 Example Street, Berlin", "bankName": "Commerzbank"}
STORED = {"iban": "DE89370400440532013000", "bic": "COBADEFFXXX", "beneficiaryName": "Acme Brokerage Ltd",
          "beneficiaryAddress": "1 Example Street, Berlin", "bankName": "Commerzbank"}


async def _method(staff: Any, kind: str, currency: str = "USD") -> tuple[str, str]:
    code = f"w-{uuid.uuid4().hex[:10]}"
    extra = {"baseUrl": "https://psp.example/api", "provider": "stripe"} if kind == "CARD" else {"provider": "bank"}
    made = await staff(CREATE, {"i": {"code": code, "kind": kind, "currency": currency, "maxAmount": "50000.00",
                                      "minAmount": "10.00", **extra}})
    assert made["data"]["createPaymentMethod"]["errors"] == [], made
    return made["data"]["createPaymentMethod"]["method"]["id"], code


async def _written(factory: Any) -> tuple[Any, ...]:
    async with factory() as s:
        rows = (await s.execute(text("SELECT * FROM payment_method_bank_details ORDER BY method_id"))).all()
        audits = await s.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'payment_method.bank_details_set'"))
    return tuple(tuple(r) for r in rows), audits


async def test_staff_set_a_wire_account_and_the_client_sees_it_with_the_reference(http, session_factory, settings):
    finance = (await make_staff(http, session_factory, settings, ["finance"])).client
    method_id, code = await _method(finance, "WIRE")
    body = (await finance(SET, {"m": method_id, "i": ACCOUNT}))["data"]["setWireBankDetails"]
    assert body == {"method": {"id": method_id, "code": code, "bankDetails": STORED}, "errors": []}
    listed = await finance("query($c: String) { paymentMethodConfigs(code: $c) { id bankDetails { iban bic } } }",
                           {"c": code})
    assert listed["data"]["paymentMethodConfigs"] == [{"id": method_id, "bankDetails": {"iban": STORED["iban"],
                                                                                         "bic": STORED["bic"]}}]
    async with session_factory() as s:
        audited = (await s.execute(text(
            "SELECT before, after FROM audit_events WHERE action = 'payment_method.bank_details_set' "
            "AND entity_id = (SELECT CAST(id AS text) FROM payment_methods WHERE code = :c)"), {"c": code})).all()
    assert [(a.before, a.after["iban"]) for a in audited] == [(None, STORED["iban"])]
    # The same account again changes nothing and is not audited again.
    before = await _written(session_factory)
    assert (await finance(SET, {"m": method_id, "i": ACCOUNT}))["data"]["setWireBankDetails"]["errors"] == []
    assert await _written(session_factory) == before

    owner = await register(GraphQLClient(http))
    await onboarded(session_factory, int(owner["viewer"]["id"]))
    client = GraphQLClient(http, owner["accessToken"])
    made = (await client(DEPOSIT, {"i": {"methodCode": code, "currency": "USD", "amount": "250.00",
                                         "idempotencyKey": uuid.uuid4().hex}}))["data"]["createDeposit"]
    assert made["errors"] == [] and made["payment"]["reference"]
    assert made["payment"]["wireInstructions"] == STORED
    listed_mine = await client("{ myPayments(first: 5) { nodes { reference wireInstructions { iban } } } }")
    assert listed_mine["data"]["myPayments"]["nodes"] == [{"reference": made["payment"]["reference"],
                                                           "wireInstructions": {"iban": STORED["iban"]}}]


async def test_a_bad_account_is_refused_beside_its_field_and_writes_nothing(http, session_factory, settings):
    admin = (await make_staff(http, session_factory, settings, ["administrator"])).client
    wire_id, _ = await _method(admin, "WIRE")
    card_id, _ = await _method(admin, "CARD")
    assert (await admin(SET, {"m": wire_id, "i": ACCOUNT}))["data"]["setWireBankDetails"]["errors"] == []
    before = await _written(session_factory)
    refusals = [
        (wire_id, {"iban": "DE89370400440532013001"}, "iban", "INVALID_IBAN"),  # a check digit off
        (wire_id, {"iban": "DE8937040044053201300"}, "iban", "INVALID_IBAN"),  # too short
        (wire_id, {"iban": "89DE370400440532013000"}, "iban", "INVALID_IBAN"),
        (wire_id, {"iban": ""}, "iban", "INVALID_IBAN"),
        (wire_id, {"bic": "COBADEF"}, "bic", "INVALID_BIC"),
        (wire_id, {"bic": "COBA1EFFXXX"}, "bic", "INVALID_BIC"),
        (wire_id, {"bic": "BNPAFRPPXXX"}, "bic", "INVALID_BIC"),  # a French bank for a German IBAN
        (wire_id, {"beneficiaryName": "   "}, "beneficiaryName", "VALIDATION_FAILED"),
        (wire_id, {"beneficiaryAddress": "x" * 301}, "beneficiaryAddress", "VALIDATION_FAILED"),
        (wire_id, {"bankName": ""}, "bankName", "VALIDATION_FAILED"),
        (card_id, {}, "methodId", "INVALID_PAYMENT_METHOD"),
        ("999999999", {}, "methodId", "PAYMENT_METHOD_NOT_FOUND"),
        ("VHJhZGluZ1NlcnZlcjox", {}, "methodId", "INVALID_ID"),  # TradingServer:1
    ]
    for method_id, change, field, code in refusals:
        body = (await admin(SET, {"m": method_id, "i": {**ACCOUNT, "iban": "DE02120300000000202051", **change}}))
        assert body["data"]["setWireBankDetails"] == {"method": None, "errors": [{"field": field, "code": code}]}, \
            (change, body)
    assert await _written(session_factory) == before
    # A staff member without payments.methods.manage is refused.
    support = (await make_staff(http, session_factory, settings, ["support"])).client
    denied = await support(SET, {"m": wire_id, "i": ACCOUNT})
    assert denied["data"] is None and denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await _written(session_factory) == before
