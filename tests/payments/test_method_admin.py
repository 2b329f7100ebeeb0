"""Payment methods operated through the API (payments.methods.manage): create a rule per code,
currency and country, update it, disable and enable it, list every rule; bad input refused with an
exact code and nothing changed; every change audited with before/after."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from domain.payments import deposits
from domain.payments.errors import PaymentMethodUnavailable
from schema.node import global_id, key_of
from tests.identity.staff import make_staff
from tests.payments.conftest import client, snapshot

CREATE = """mutation($i: CreatePaymentMethodInput!) { createPaymentMethod(input: $i) {
  method { id code kind provider baseUrl displayName currency country minAmount maxAmount feeFixed feePercent
           firstDepositMin deposits withdrawals enabled }
  errors { field code } } }"""
UPDATE = """mutation($id: ID!, $i: UpdatePaymentMethodInput!) { updatePaymentMethod(id: $id, input: $i) {
  method { id minAmount maxAmount feeFixed feePercent displayName deposits enabled } errors { field code } } }"""
ENABLE = """mutation($id: ID!, $e: Boolean!) { setPaymentMethodEnabled(id: $id, enabled: $e) {
  method { id enabled } errors { field code } } }"""
LIST = """query($c: String) { paymentMethodConfigs(code: $c) { id code country enabled minAmount maxAmount feePercent
  provider baseUrl } }"""
OFFERED = """query($country: String) { paymentMethods(country: $country, currency: "USD") { code name } }"""


def _code() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


def _card(code: str, **over: Any) -> dict[str, Any]:
    return {"code": code, "kind": "CARD", "provider": "stripe", "currency": "USD", "maxAmount": "5000.00",
            "minAmount": "10.00", "feeFixed": "0.30", "feePercent": "2.5", "firstDepositMin": "50.00",
            "baseUrl": "https://psp.example/api", "displayName": "Visa / Mastercard", **over}


async def _state(factory: Any) -> dict[str, list[Any]]:
    state = await snapshot(factory)
    async with factory() as s:
        state["payment_methods"] = [tuple(r) for r in (await s.execute(text(
            "SELECT * FROM payment_methods ORDER BY id"))).all()]
    return state


async def _audit(factory: Any, rule_id: str) -> list[tuple[str, Any, Any]]:
    rule_id = str(key_of(rule_id, "PaymentMethodConfig"))  # the rule's global id; audit rows name its database key
    async with factory() as s:
        rows = (await s.execute(text(
            "SELECT action, before, after FROM audit_events WHERE entity_type = 'payment_method' AND entity_id = :i "
            "ORDER BY id"), {"i": rule_id})).all()
    return [(r.action, r.before, r.after) for r in rows]


async def test_staff_create_update_disable_and_list_methods(http, session_factory, settings, make_user) -> None:
    finance = await make_staff(http, session_factory, settings, ["finance"])
    code = _code()
    made = (await finance.client(CREATE, {"i": _card(code)}))["data"]["createPaymentMethod"]
    assert made["errors"] == []
    rule = made["method"]
    assert rule == {"id": rule["id"], "code": code, "kind": "CARD", "provider": "stripe",
                    "baseUrl": "https://psp.example/api", "displayName": "Visa / Mastercard", "currency": "USD",
                    "country": "*", "minAmount": "10.00", "maxAmount": "5000.00", "feeFixed": "0.30",
                    "feePercent": "2.5", "firstDepositMin": "50.00", "deposits": True, "withdrawals": True,
                    "enabled": True}
    # a German override with its own limits, and the client-facing list picks the most specific row
    de = (await finance.client(CREATE, {"i": _card(code, country="de", maxAmount="1000.00",
                                                   displayName="Karte")}))["data"]["createPaymentMethod"]
    assert de["errors"] == [] and de["method"]["country"] == "DE"
    offered_de = (await finance.client(OFFERED, {"country": "DE"}))["data"]["paymentMethods"]
    offered_fr = (await finance.client(OFFERED, {"country": "FR"}))["data"]["paymentMethods"]
    assert {"code": code, "name": "Karte"} in offered_de and {"code": code, "name": "Visa / Mastercard"} in offered_fr

    changed = (await finance.client(UPDATE, {"id": rule["id"], "i": {"feePercent": "1.75", "maxAmount": "8000",
                                                                      "deposits": False}}))
    assert changed["data"]["updatePaymentMethod"] == {
        "method": {"id": rule["id"], "minAmount": "10.00", "maxAmount": "8000.00", "feeFixed": "0.30",
                   "feePercent": "1.75", "displayName": "Visa / Mastercard", "deposits": False, "enabled": True},
        "errors": []}
    # disabling the German row makes the method unavailable in Germany, not fall back to the default
    off = (await finance.client(ENABLE, {"id": de["method"]["id"], "e": False}))["data"]["setPaymentMethodEnabled"]
    assert off == {"method": {"id": de["method"]["id"], "enabled": False}, "errors": []}
    assert code not in {m["code"] for m in (await finance.client(OFFERED, {"country": "DE"}))["data"]["paymentMethods"]}
    uid = await make_user()
    try:
        await deposits.create_deposit(session_factory, settings, client(uid), user_id=uid, method_code=code,
                                      currency="USD", amount=Decimal("100"), country="DE", return_url="")
        raise AssertionError("a disabled rule took a deposit")
    except PaymentMethodUnavailable as exc:
        assert exc.code == "PAYMENT_METHOD_UNAVAILABLE"

    listed = (await finance.client(LIST, {"c": code}))["data"]["paymentMethodConfigs"]
    assert [(r["country"], r["enabled"], r["maxAmount"], r["feePercent"]) for r in listed] == [
        ("*", True, "8000.00", "1.75"), ("DE", False, "1000.00", "2.5")]
    on = (await finance.client(ENABLE, {"id": de["method"]["id"], "e": True}))["data"]["setPaymentMethodEnabled"]
    assert on["method"]["enabled"] is True

    same = (await finance.client(UPDATE, {"id": rule["id"], "i": {"feePercent": "1.750", "maxAmount": "8000.00"}}))
    assert same["data"]["updatePaymentMethod"]["errors"] == []  # no change: nothing audited
    trail = await _audit(session_factory, rule["id"])
    assert [a for a, _, _ in trail] == ["payment_method.created", "payment_method.updated"]
    _, before, after = trail[1]
    assert (before["fee_percent"], before["max_amount"], before["deposits"]) == ("2.5", "5000", True)
    assert (after["fee_percent"], after["max_amount"], after["deposits"]) == ("1.75", "8000", False)
    assert [(a, b, c) for a, b, c in await _audit(session_factory, de["method"]["id"])][1:] == [
        ("payment_method.disabled", {"enabled": True}, {"enabled": False}),
        ("payment_method.enabled", {"enabled": False}, {"enabled": True})]


async def test_bad_method_input_is_refused_and_changes_nothing(http, session_factory, settings) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    code = _code()
    existing = (await admin.client(CREATE, {"i": _card(code)}))["data"]["createPaymentMethod"]["method"]
    before = await _state(session_factory)
    refusals = [
        (_card(_code(), currency="ABC"), "currency", "UNKNOWN_CURRENCY"),
        (_card(_code(), minAmount="600.00", maxAmount="500.00"), "maxAmount", "INVALID_PAYMENT_METHOD_LIMITS"),
        (_card(_code(), minAmount="-1.00"), "minAmount", "INVALID_PAYMENT_METHOD_LIMITS"),
        (_card(_code(), firstDepositMin="6000.00"), "firstDepositMin", "INVALID_PAYMENT_METHOD_LIMITS"),
        (_card(_code(), maxAmount="0"), "maxAmount", "INVALID_PAYMENT_METHOD_LIMITS"),
        (_card(_code(), feeFixed="-0.30"), "feeFixed", "INVALID_PAYMENT_METHOD_FEE"),
        (_card(_code(), feePercent="-1"), "feePercent", "INVALID_PAYMENT_METHOD_FEE"),
        (_card(_code(), feePercent="100"), "feePercent", "INVALID_PAYMENT_METHOD_FEE"),
        (_card(_code(), feePercent="150"), "feePercent", "INVALID_PAYMENT_METHOD_FEE"),
        (_card(_code(), feePercent="1.0000001"), "feePercent", "AMOUNT_PRECISION"),
        (_card(_code(), minAmount="10.001"), "minAmount", "AMOUNT_PRECISION"),
        (_card(_code(), country="ZZ"), "country", "INVALID_COUNTRY"),
        (_card(_code(), country="Germany"), "country", "INVALID_COUNTRY"),
        (_card(code), "code", "PAYMENT_METHOD_EXISTS"),
        (_card(code.upper()), "code", "PAYMENT_METHOD_EXISTS"),
        (_card(_code(), provider="acme-psp"), "provider", "UNKNOWN_PAYMENT_PROVIDER"),
        (_card(_code(), kind="WIRE"), "provider", "UNKNOWN_PAYMENT_PROVIDER"),
        (_card(code, kind="WIRE", provider="bank", currency="EUR"), "kind", "INVALID_PAYMENT_METHOD"),
        (_card(_code(), baseUrl=""), "baseUrl", "INVALID_PAYMENT_METHOD"),
        (_card(_code(), baseUrl="ftp://psp.example"), "baseUrl", "INVALID_PAYMENT_METHOD"),
        (_card("Has Spaces"), "code", "INVALID_PAYMENT_METHOD"),
        (_card(_code(), displayName="x" * 101), "displayName", "INVALID_PAYMENT_METHOD"),
    ]
    for given, field, code_ in refusals:
        body = (await admin.client(CREATE, {"i": given}))["data"]["createPaymentMethod"]
        assert body == {"method": None, "errors": [{"field": field, "code": code_}]}, (given, body)
    rid = existing["id"]
    updates = [
        ({"minAmount": "6000.00"}, "maxAmount", "INVALID_PAYMENT_METHOD_LIMITS"),
        ({"feePercent": "100"}, "feePercent", "INVALID_PAYMENT_METHOD_FEE"),
        ({"provider": "nobody"}, "provider", "UNKNOWN_PAYMENT_PROVIDER"),
        ({"kind": "CRYPTO"}, "provider", "UNKNOWN_PAYMENT_PROVIDER"),
    ]
    for given, field, code_ in updates:
        body = (await admin.client(UPDATE, {"id": rid, "i": given}))["data"]["updatePaymentMethod"]
        assert body == {"method": None, "errors": [{"field": field, "code": code_}]}, (given, body)
    for missing, code_ in (("999999999", "PAYMENT_METHOD_NOT_FOUND"), ("nope", "INVALID_ID"),
                           (global_id("Payment", 1), "INVALID_ID")):
        for query, variables in ((UPDATE, {"id": missing, "i": {"feePercent": "1"}}),
                                 (ENABLE, {"id": missing, "e": False})):
            data = (await admin.client(query, variables))["data"]
            assert next(iter(data.values())) == {"method": None, "errors": [{"field": "id", "code": code_}]}
    assert await _state(session_factory) == before


async def test_only_method_managers_change_methods(http, session_factory, settings) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    support = await make_staff(http, session_factory, settings, ["support"])
    rule = (await admin.client(CREATE, {"i": _card(_code())}))["data"]["createPaymentMethod"]["method"]
    before = await _state(session_factory)
    for caller in (support.client,):
        for query, variables in ((CREATE, {"i": _card(_code())}), (UPDATE, {"id": rule["id"], "i": {"feeFixed": "0"}}),
                                 (ENABLE, {"id": rule["id"], "e": False})):
            body = await caller(query, variables)
            assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # support reads payments, so it may list the rules; a client may not
    assert any(r["id"] == rule["id"] for r in (await support.client(LIST, {"c": rule["code"]}))["data"][
        "paymentMethodConfigs"])
    assert await _state(session_factory) == before
