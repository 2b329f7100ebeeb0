"""Local payment methods: the generic redirect-and-webhook adapter (provider `localpay`) configured
with one method per country, run end to end through a stand-in and our real /webhooks/localpay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.payments import deposits, methods
from domain.payments.config import api_key, webhook_secrets
from domain.payments.errors import PaymentMethodUnavailable
from domain.payments.repo import Payment
from domain.payments.status import Status
from domain.shared.db import in_transaction
from sandbox.psp import StandInPSP, running_psp
from tests.conftest import GraphQLClient, LiveServer
from tests.identity.helpers import register
from tests.payments.conftest import check_invariants, client, onboarded, payment_row, snapshot, wallet_of

PROVIDER = "localpay"
# One local method per country, each in the country's currency with its own fees and limits.
COUNTRIES: dict[str, dict[str, Any]] = {
    "BR": {"code": "local-pix", "currency": "BRL", "fee_percent": Decimal("1.5"), "fee_fixed": Decimal(0)},
    "MX": {"code": "local-spei", "currency": "MXN", "fee_percent": Decimal(0), "fee_fixed": Decimal(5)},
    "IN": {"code": "local-upi", "currency": "INR", "fee_percent": Decimal(1), "fee_fixed": Decimal(2)},
}


@pytest.fixture(scope="session")
async def local_psp(live_server: LiveServer, runtime: Any) -> AsyncIterator[StandInPSP]:
    settings = live_server.settings
    async with running_psp(PROVIDER, live_server.base_url, webhook_secrets(settings, PROVIDER)[0],
                           api_key(settings, PROVIDER)) as stand_in:
        async def setup(s: Any) -> None:
            for country, m in COUNTRIES.items():
                await methods.upsert(s, code=str(m["code"]), kind="local", provider=PROVIDER,
                                     currency=str(m["currency"]), country=country, base_url=stand_in.base_url,
                                     min_amount=Decimal(10), max_amount=Decimal(50000),
                                     fee_percent=Decimal(m["fee_percent"]), fee_fixed=Decimal(m["fee_fixed"]),
                                     display_name=f"Local {country}", withdrawals=False)

        await in_transaction(runtime.services.session_factory, setup)
        yield stand_in


async def local_deposit(factory: Any, settings: Any, uid: int, country: str, amount: str) -> Payment:
    m = COUNTRIES[country]
    return await deposits.create_deposit(factory, settings, client(uid), user_id=uid, method_code=str(m["code"]),
                                         currency=str(m["currency"]), amount=Decimal(amount), country=country,
                                         return_url="https://portal.example/return")


def local_paid_event(psp: StandInPSP, session_id: str, *, amount: str | None = None) -> bytes:
    s = psp.sessions[session_id]
    return psp.event("payment.succeeded", {"payment_id": session_id, "reference": s["reference"],
                                           "amount": amount or s["amount"], "currency": s["currency"],
                                           "payer_name": "Test Client"})


@pytest.mark.parametrize(("country", "amount", "fee"), [("BR", "200.00", "3.00"), ("MX", "150.00", "5.00"),
                                                        ("IN", "1000.00", "12.00")])
async def test_local_deposit_end_to_end_per_country(local_psp, session_factory, settings, make_user, country,
                                                    amount, fee):
    uid = await make_user()
    currency = str(COUNTRIES[country]["currency"])

    payment = await local_deposit(session_factory, settings, uid, country, amount)

    assert payment.status is Status.PENDING and payment.method_kind == "local" and payment.provider == PROVIDER
    assert payment.redirect_url and payment.redirect_url.startswith(local_psp.base_url + "/pay/cs_")
    assert payment.fee == Decimal(fee) and payment.country == country
    sent = local_psp.requests[-1]
    assert sent["path"] == "/v1/checkout/sessions" and sent["body"]["customer"]["country"] == country
    assert sent["body"]["currency"] == currency and sent["body"]["reference"] == payment.reference
    response = await local_psp.deliver(local_paid_event(local_psp, payment.provider_payment_id or ""))
    assert response.status_code == 200 and response.json() == {"status": "applied"}
    row = await payment_row(session_factory, payment.id)
    assert row.status == "succeeded" and row.entry_id is not None
    assert await wallet_of(session_factory, uid, currency) == (Decimal(amount) - Decimal(fee), Decimal(0))
    async with session_factory() as s:
        logs = (await s.execute(text("SELECT direction, endpoint FROM payment_gateway_logs WHERE correlation_id = :c "
                                     "ORDER BY id"), {"c": payment.correlation_id})).all()
    assert [tuple(r) for r in logs] == [("outbound", "/v1/checkout/sessions"), ("inbound", "/webhooks/localpay")]
    await check_invariants(session_factory)


async def test_local_method_is_only_offered_in_its_country(local_psp, session_factory, settings, make_user):
    uid = await make_user()
    async with session_factory() as s:
        in_br = {m.code for m in await methods.available(s, country="BR", currency=None)}
        in_de = {m.code for m in await methods.available(s, country="DE", currency=None)}
    assert "local-pix" in in_br and "local-spei" not in in_br
    assert not {"local-pix", "local-spei", "local-upi"} & in_de
    before = await snapshot(session_factory)

    with pytest.raises(PaymentMethodUnavailable) as refused:
        await deposits.create_deposit(session_factory, settings, client(uid), user_id=uid, method_code="local-pix",
                                      currency="BRL", amount=Decimal(100), country="DE", return_url="")

    assert refused.value.code == "PAYMENT_METHOD_UNAVAILABLE"
    assert await snapshot(session_factory) == before


async def test_local_failure_then_replay_and_wrong_amount_are_not_credited(local_psp, session_factory, settings,
                                                                            make_user):
    uid = await make_user()
    payment = await local_deposit(session_factory, settings, uid, "BR", "100.00")
    pid = payment.provider_payment_id or ""

    wrong = await local_psp.deliver(local_paid_event(local_psp, pid, amount="1000.00"))
    assert wrong.json() == {"status": "ignored: amount or currency differs from the payment"}
    cancelled = local_psp.event("payment.cancelled", {"payment_id": pid, "reason": "customer abandoned"})
    assert (await local_psp.deliver(cancelled)).json() == {"status": "applied"}
    assert (await local_psp.deliver(cancelled)).json() == {"status": "duplicate"}
    late = await local_psp.deliver(local_paid_event(local_psp, pid))

    assert late.json() == {"status": "ignored: cancelled payment"}
    assert (await payment_row(session_factory, payment.id)).status == "cancelled"
    assert await wallet_of(session_factory, uid, "BRL") == (Decimal(0), Decimal(0))


async def test_local_deposit_over_graphql(local_psp, http, session_factory):
    registered = await register(GraphQLClient(http))
    await onboarded(session_factory, int(registered["viewer"]["id"]))
    owner = GraphQLClient(http, registered["accessToken"])

    offered = await owner('{ paymentMethods(country: "MX") { code kind currency } }')
    created = await owner("""mutation($i: CreateDepositInput!) { createDeposit(input: $i) {
        payment { id status redirectUrl fee } errors { code } } }""",
                          {"i": {"methodCode": "local-spei", "currency": "MXN", "amount": "300.00", "country": "MX"}})

    assert {"code": "local-spei", "kind": "local", "currency": "MXN"} in offered["data"]["paymentMethods"]
    made = created["data"]["createDeposit"]
    assert made["errors"] == [] and made["payment"]["status"] == "PENDING" and made["payment"]["fee"] == "5.00"
    session_id = made["payment"]["redirectUrl"].rsplit("/", 1)[-1]
    assert (await local_psp.deliver(local_paid_event(local_psp, session_id))).json() == {"status": "applied"}
    status = await owner("query($i: ID!) { payment(id: $i) { status } }", {"i": made["payment"]["id"]})
    assert status["data"]["payment"]["status"] == "SUCCEEDED"
