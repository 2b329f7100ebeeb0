"""Cross-tenant cases for payments (registered on import from tests/tenancy/cases.py)."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from domain.ledger.wallets import deposit_to_wallet
from domain.payments import methods, repo, withdrawals
from domain.payments.status import Status
from domain.shared.actor import Actor, ActorKind, system_actor
from tests.tenancy.cases import Env, Probe, case

METHOD = "tenancy-wire"


async def _withdrawal(env: Env) -> tuple[int, str]:
    """A withdrawal of the owner's awaiting approval: (payment id, reference)."""
    from tests.payments.conftest import onboarded

    await onboarded(env.session_factory, env.owner_id)  # payment status gates: approved clients withdraw
    async with env.session_factory() as s, s.begin():
        await methods.upsert(s, code=METHOD, kind="wire", provider="bank", currency="USD",
                             max_amount=Decimal(100000))
        await deposit_to_wallet(s, system_actor("tenancy"), user_id=env.owner_id, currency="USD",
                                amount=Decimal("500"), idempotency_key=uuid.uuid4().hex, reference="tenancy")
        actor = Actor(ActorKind.CLIENT, user_id=env.owner_id, stepped_up_at=time.time())
        payment = await withdrawals.request_withdrawal(
            s, env.settings, actor, user_id=env.owner_id, method_code=METHOD, currency="USD", amount=Decimal("123"),
            country=None, destination={"iban": "DE89370400440532013000"}, idempotency_key=uuid.uuid4().hex)
    return payment.id, payment.reference


async def _succeeded_deposit(env: Env) -> tuple[int, str]:
    async with env.session_factory() as s, s.begin():
        await methods.upsert(s, code=METHOD, kind="wire", provider="bank", currency="USD",
                             max_amount=Decimal(100000))
        payment = await repo.insert(s, user_id=env.owner_id, direction="deposit", method_code=METHOD,
                                    method_kind="wire", provider="bank", currency="USD", amount=Decimal("321"),
                                    fee=Decimal(0), country=None)
        from domain.payments.deposits import credit

        payment = await repo.move(s, system_actor("tenancy"), payment, Status.PENDING)
        await credit(s, system_actor("tenancy"), payment)
    return payment.id, payment.reference


@case("Query.payment")
async def payment(env: Env) -> Probe:
    pid, ref = await _withdrawal(env)
    return Probe("query($i: ID!) { payment(id: $i) { reference amount } }", {"i": str(pid)}, [ref])


@case("Mutation.approveWithdrawal")
async def approve_withdrawal(env: Env) -> Probe:
    pid, ref = await _withdrawal(env)
    return Probe("mutation($i: ID!) { approveWithdrawal(id: $i) { payment { reference } errors { code } } }",
                 {"i": str(pid)}, [ref])


@case("Mutation.rejectWithdrawal")
async def reject_withdrawal(env: Env) -> Probe:
    pid, ref = await _withdrawal(env)
    return Probe("mutation($i: ID!) { rejectWithdrawal(id: $i, reason: \"x\") { payment { reference } "
                 "errors { code } } }", {"i": str(pid)}, [ref])


@case("Mutation.markWithdrawalPaid")
async def mark_withdrawal_paid(env: Env) -> Probe:
    pid, ref = await _withdrawal(env)
    return Probe("mutation($i: ID!) { markWithdrawalPaid(id: $i, bankReference: \"TX\", note: \"n\") "
                 "{ payment { reference } errors { code } } }", {"i": str(pid)}, [ref])


@case("Mutation.markWithdrawalReturned")
async def mark_withdrawal_returned(env: Env) -> Probe:
    pid, ref = await _withdrawal(env)
    return Probe("mutation($i: ID!) { markWithdrawalReturned(id: $i, reason: \"x\") { payment { reference } "
                 "errors { code } } }", {"i": str(pid)}, [ref])


@case("Mutation.recordChargeback")
async def record_chargeback(env: Env) -> Probe:
    pid, ref = await _succeeded_deposit(env)
    return Probe("mutation($i: ID!) { recordChargeback(input: {paymentId: $i, amount: \"1.00\", caseId: \"c1\"}) "
                 "{ dispute { caseId } errors { code } } }", {"i": str(pid)}, [ref])


@case("Mutation.refundDeposit")
async def refund_deposit(env: Env) -> Probe:
    pid, ref = await _succeeded_deposit(env)
    return Probe("mutation($i: ID!) { refundDeposit(input: {paymentId: $i, amount: \"1.00\"}) "
                 "{ refund { paymentId providerRefundId } errors { code } } }", {"i": str(pid)}, [ref])
async def _method_rule(env: Env) -> tuple[str, str, str]:
    """A payment method rule made by an administrator: (rule id, code, secret display name)."""
    code, secret = f"tn-{uuid.uuid4().hex[:10]}", f"secret-method-{uuid.uuid4().hex[:8]}"
    made = await env.admin("""mutation($i: CreatePaymentMethodInput!) { createPaymentMethod(input: $i) {
        method { id } errors { code } } }""", {"i": {
        "code": code, "kind": "WIRE", "provider": "bank", "currency": "USD", "maxAmount": "1000.00",
        "country": "LI", "displayName": secret, "baseUrl": "https://bank.example/secret-endpoint"}})
    return made["data"]["createPaymentMethod"]["method"]["id"], code, secret


def _disable(env: Env, rule_id: str) -> Any:
    async def cleanup() -> None:
        await env.admin("mutation($i: ID!) { setPaymentMethodEnabled(id: $i, enabled: false) { errors { code } } }",
                        {"i": rule_id})

    return cleanup


@case("Mutation.updatePaymentMethod")
async def update_payment_method(env: Env) -> Probe:
    rule_id, _, secret = await _method_rule(env)
    return Probe("mutation($i: ID!) { updatePaymentMethod(id: $i, input: {feePercent: \"1\"}) { method { "
                 "displayName baseUrl } errors { code } } }", {"i": rule_id}, [secret, "secret-endpoint"],
                 cleanup=_disable(env, rule_id))


@case("Mutation.setPaymentMethodEnabled")
async def set_payment_method_enabled(env: Env) -> Probe:
    rule_id, _, secret = await _method_rule(env)
    return Probe("mutation($i: ID!) { setPaymentMethodEnabled(id: $i, enabled: false) { method { displayName "
                 "baseUrl } errors { code } } }", {"i": rule_id}, [secret, "secret-endpoint"],
                 cleanup=_disable(env, rule_id))


@case("Query.payments")
async def payments_of_a_client(env: Env) -> Probe:
    """The staff payments queue filtered to the owner's client: refused to clients and to staff without
    payments.read, an empty page (no reference, no name) to desk staff of another desk."""
    _, ref = await _succeeded_deposit(env)
    async with env.session_factory() as s:
        client_id = await s.scalar(text("SELECT id FROM clients WHERE user_id = :u"), {"u": env.owner_id})
    return Probe("query($c: ID) { payments(clientId: $c, first: 10) { nodes { reference client { name } } } }",
                 {"c": str(client_id)}, [ref], empty_ok=True)


@case("Mutation.setWireBankDetails")
async def set_wire_bank_details(env: Env) -> Probe:
    made = await env.admin("""mutation($i: CreatePaymentMethodInput!) { createPaymentMethod(input: $i) {
        method { id } errors { code } } }""", {"i": {"code": f"tw-{uuid.uuid4().hex[:10]}", "kind": "WIRE",
                                                     "provider": "bank", "currency": "USD", "maxAmount": "1000.00",
                                                     "displayName": "secret-wire-name"}})
    rule_id = made["data"]["createPaymentMethod"]["method"]["id"]
    return Probe("mutation($i: ID!) { setWireBankDetails(methodId: $i, input: {iban: \"DE89370400440532013000\", "
                 "bic: \"COBADEFFXXX\", beneficiaryName: \"n\", beneficiaryAddress: \"a\", bankName: \"b\"}) { "
                 "method { displayName } errors { code } } }", {"i": rule_id}, ["secret-wire-name"],
                 cleanup=_disable(env, rule_id))
