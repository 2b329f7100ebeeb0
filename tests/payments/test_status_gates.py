"""Deposits and withdrawals gated by the client's status per jurisdiction (config.manage sets the
gate, audited); a refused payment leaves no trace. Tests set gates for single countries only, never
'*', so other tests in the same database keep the built-in default."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.ledger.wallets import deposit_to_wallet
from domain.payments import deposits, withdrawals
from domain.payments.errors import DepositNotAllowedForStatus, WithdrawalNotAllowedForStatus
from domain.shared.actor import Actor, ActorKind, system_actor
from tests.clients.flow import registered
from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.identity.staff import make_staff
from tests.payments.conftest import WIRE, client, onboarded, snapshot

SET = """mutation($j: String!, $d: [ClientStatus!]!, $w: [ClientStatus!]!) {
  setPaymentStatusGate(jurisdiction: $j, depositStatuses: $d, withdrawalStatuses: $w) {
    gate { jurisdiction depositStatuses withdrawalStatuses builtIn } errors { field code } } }"""
GATES = "{ paymentStatusGates { jurisdiction depositStatuses withdrawalStatuses builtIn } }"
DEPOSIT = """mutation($i: CreateDepositInput!) { createDeposit(input: $i) { payment { status } errors { field code } } }"""


async def _state(factory: Any) -> dict[str, list[Any]]:
    state = await snapshot(factory)
    async with factory() as s:
        state["payment_status_gates"] = [tuple(r) for r in (await s.execute(text(
            "SELECT * FROM payment_status_gates ORDER BY jurisdiction"))).all()]
    return state


async def _wire(factory: Any, settings: Any, uid: int) -> Any:
    return await deposits.create_deposit(factory, settings, client(uid), user_id=uid, method_code=WIRE,
                                         currency="USD", amount=Decimal("150.00"), country=None, return_url="")


async def _withdraw(factory: Any, settings: Any, uid: int) -> Any:
    actor = Actor(ActorKind.CLIENT, user_id=uid, stepped_up_at=time.time())
    async with factory() as s, s.begin():
        return await withdrawals.request_withdrawal(
            s, settings, actor, user_id=uid, method_code=WIRE, currency="USD", amount=Decimal("60.00"), country=None,
            destination={"iban": "DE89370400440532013000"}, idempotency_key=uuid.uuid4().hex)


async def test_unverified_registrants_cannot_deposit(configured, http, session_factory, settings) -> None:
    # a client who registered (status registered, country unknown) and a bare user without a client record
    reg_client, _, _ = await registered(http)
    bare = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    before = await _state(session_factory)
    for who in (reg_client, bare):
        body = (await who(DEPOSIT, {"i": {"methodCode": WIRE, "currency": "USD", "amount": "150.00"}}))
        assert body["data"]["createDeposit"] == {
            "payment": None, "errors": [{"field": None, "code": "DEPOSIT_NOT_ALLOWED_FOR_STATUS"}]}
    assert await _state(session_factory) == before


async def test_a_jurisdiction_gate_decides_who_deposits_and_withdraws(configured, http, session_factory, settings,
                                                                      make_user) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    uid = await make_user()
    await onboarded(session_factory, uid, status="email_verified", country="LI")
    other = await make_user()
    await onboarded(session_factory, other, status="email_verified", country="AT")
    async with session_factory() as s, s.begin():
        await deposit_to_wallet(s, system_actor("test"), user_id=uid, currency="USD", amount=Decimal("100"),
                                idempotency_key=uuid.uuid4().hex, reference="gate-test")

    before = await _state(session_factory)
    with pytest.raises(DepositNotAllowedForStatus):
        await _wire(session_factory, settings, uid)
    with pytest.raises(WithdrawalNotAllowedForStatus):
        await _withdraw(session_factory, settings, uid)
    assert await _state(session_factory) == before

    made = (await admin.client(SET, {"j": "li", "d": ["EMAIL_VERIFIED", "APPROVED", "ACTIVE", "APPROVED"],
                                     "w": ["APPROVED", "ACTIVE"]}))["data"]["setPaymentStatusGate"]
    assert made == {"gate": {"jurisdiction": "LI", "depositStatuses": ["EMAIL_VERIFIED", "APPROVED", "ACTIVE"],
                             "withdrawalStatuses": ["APPROVED", "ACTIVE"], "builtIn": False}, "errors": []}
    assert (await _wire(session_factory, settings, uid)).status.value == "pending"
    with pytest.raises(WithdrawalNotAllowedForStatus):  # withdrawals still wait for approval
        await _withdraw(session_factory, settings, uid)
    with pytest.raises(DepositNotAllowedForStatus):  # Austria follows the default
        await _wire(session_factory, settings, other)
    await onboarded(session_factory, uid, status="approved", country="LI")
    assert (await _withdraw(session_factory, settings, uid)).approval == "awaiting"

    gates = (await admin.client(GATES))["data"]["paymentStatusGates"]
    assert gates[0]["jurisdiction"] == "*"
    assert {"jurisdiction": "LI", "depositStatuses": ["EMAIL_VERIFIED", "APPROVED", "ACTIVE"],
            "withdrawalStatuses": ["APPROVED", "ACTIVE"], "builtIn": False} in gates
    async with session_factory() as s:
        trail = (await s.execute(text(
            "SELECT before, after FROM audit_events WHERE action = 'brokerage.payment_gate_set' AND entity_id = 'LI' "
            "ORDER BY id"))).all()
    assert trail[-1].after == {"deposit_statuses": ["email_verified", "approved", "active"],
                               "withdrawal_statuses": ["approved", "active"]}
    # a second setting keeps the first as its before
    again = (await admin.client(SET, {"j": "LI", "d": ["APPROVED"], "w": ["APPROVED"]}))["data"]
    assert again["setPaymentStatusGate"]["errors"] == []
    async with session_factory() as s:
        last = (await s.execute(text(
            "SELECT before FROM audit_events WHERE action = 'brokerage.payment_gate_set' AND entity_id = 'LI' "
            "ORDER BY id DESC LIMIT 1"))).one()
    assert last.before == trail[-1].after


async def test_bad_gates_are_refused_and_change_nothing(http, session_factory, settings) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    finance = await make_staff(http, session_factory, settings, ["finance"])
    before = await _state(session_factory)
    for variables, field, code in (
        ({"j": "ZZ", "d": ["APPROVED"], "w": ["APPROVED"]}, "jurisdiction", "INVALID_COUNTRY"),
        ({"j": "", "d": ["APPROVED"], "w": ["APPROVED"]}, "jurisdiction", "INVALID_COUNTRY"),
        ({"j": "MT", "d": ["APPROVED", "BLOCKED"], "w": ["APPROVED"]}, "depositStatuses",
         "INVALID_BROKERAGE_CONFIGURATION"),
        ({"j": "*", "d": ["REJECTED"], "w": []}, "depositStatuses", "INVALID_BROKERAGE_CONFIGURATION"),
    ):
        body = (await admin.client(SET, variables))["data"]["setPaymentStatusGate"]
        assert body == {"gate": None, "errors": [{"field": field, "code": code}]}, variables
    unknown = await admin.client(SET, {"j": "MT", "d": ["RICH"], "w": []})
    assert unknown["data"] is None and unknown["errors"]
    for query, variables in ((SET, {"j": "MT", "d": ["APPROVED"], "w": []}), (GATES, {})):
        denied = await finance.client(query, variables)
        assert denied["data"] is None and denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await _state(session_factory) == before
