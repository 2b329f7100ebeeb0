"""Local payment methods through the cashier aggregator (the Praxis adapter, provider key `praxis`)
configured with one method per country, run end to end through the Praxis stand-in and our real
/webhooks/praxis."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.payments import deposits, methods
from domain.payments.errors import PaymentMethodUnavailable
from domain.payments.repo import Payment
from domain.payments.status import Status
from domain.shared.db import in_transaction
from sandbox.praxis import PraxisStandIn
from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.payments.conftest import check_invariants, client, onboarded, payment_row, snapshot, wallet_of

PROVIDER = "praxis"
# One local method per country, each in the country's currency with its own fees and limits.
COUNTRIES: dict[str, dict[str, Any]] = {
    "BR": {"code": "local-pix", "currency": "BRL", "fee_percent": Decimal("1.5"), "fee_fixed": Decimal(0)},
    "MX": {"code": "local-spei", "currency": "MXN", "fee_percent": Decimal(0), "fee_fixed": Decimal(5)},
    "IN": {"code": "local-upi", "currency": "INR", "fee_percent": Decimal(1), "fee_fixed": Decimal(2)},
}


@pytest.fixture(scope="session")
async def local_psp(praxis: PraxisStandIn, runtime: Any) -> PraxisStandIn:
    async def setup(s: Any) -> None:
        for country, m in COUNTRIES.items():
            await methods.upsert(s, code=str(m["code"]), kind="local", provider=PROVIDER,
                                 currency=str(m["currency"]), country=country, base_url=praxis.base_url,
                                 min_amount=Decimal(10), max_amount=Decimal(50000),
                                 fee_percent=Decimal(m["fee_percent"]), fee_fixed=Decimal(m["fee_fixed"]),
                                 display_name=f"Local {country}", withdrawals=False)

    await in_transaction(runtime.services.session_factory, setup)
    return praxis


async def local_deposit(factory: Any, settings: Any, uid: int, country: str, amount: str) -> Payment:
    m = COUNTRIES[country]
    return await deposits.create_deposit(factory, settings, client(uid), user_id=uid, method_code=str(m["code"]),
                                         currency=str(m["currency"]), amount=Decimal(amount), country=country,
                                         return_url="https://portal.example/return")


def local_paid_event(psp: PraxisStandIn, token: str, *, amount: int | None = None) -> dict[str, Any]:
    return psp.notification(token, "approved", amount=amount)


@pytest.mark.parametrize(("country", "amount", "fee"), [("BR", "200.00", "3.00"), ("MX", "150.00", "5.00"),
                                                        ("IN", "1000.00", "12.00")])
async def test_local_deposit_end_to_end_per_country(local_psp, session_factory, settings, make_user, country,
                                                    amount, fee):
    uid = await make_user()
    currency = str(COUNTRIES[country]["currency"])

    payment = await local_deposit(session_factory, settings, uid, country, amount)

    assert payment.status is Status.PENDING and payment.method_kind == "local" and payment.provider == PROVIDER
    assert payment.redirect_url and payment.redirect_url.startswith(local_psp.base_url + "/cashier/pay/")
    assert payment.fee == Decimal(fee) and payment.country == country
    sent = local_psp.requests[-1]
    assert sent["path"] == "/cashier/cashier" and sent["body"]["customer_data"]["country"] == country
    assert sent["body"]["currency"] == currency and sent["body"]["order_id"] == payment.reference
    assert sent["body"]["intent"] == "payment" and sent["body"]["amount"] == int(Decimal(amount) * 100)
    response = await local_psp.deliver(local_paid_event(local_psp, payment.provider_payment_id or ""))
    assert response.status_code == 200 and response.json()["outcome"] == "applied"
    assert response.json()["status"] == 0 and response.headers["GT-Authentication"]
    row = await payment_row(session_factory, payment.id)
    assert row.status == "succeeded" and row.entry_id is not None
    assert await wallet_of(session_factory, uid, currency) == (Decimal(amount) - Decimal(fee), Decimal(0))
    async with session_factory() as s:
        logs = (await s.execute(text("SELECT direction, endpoint FROM payment_gateway_logs WHERE correlation_id = :c "
                                     "ORDER BY id"), {"c": payment.correlation_id})).all()
    assert [tuple(r) for r in logs] == [("outbound", "/cashier/cashier"), ("inbound", "/webhooks/praxis")]
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

    wrong = await local_psp.deliver(local_paid_event(local_psp, pid, amount=100000))
    assert wrong.json()["outcome"] == "ignored: amount or currency differs from the payment"
    cancelled = local_psp.notification(pid, "cancelled", status_details="customer abandoned")
    assert (await local_psp.deliver(cancelled)).json()["outcome"] == "applied"
    assert (await local_psp.deliver(cancelled)).json()["outcome"] == "duplicate"
    late = await local_psp.deliver(local_paid_event(local_psp, pid))

    assert late.json()["outcome"] == "ignored: cancelled payment"
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
    assert (await local_psp.deliver(local_paid_event(local_psp, session_id))).json()["outcome"] == "applied"
    status = await owner("query($i: ID!) { payment(id: $i) { status } }", {"i": made["payment"]["id"]})
    assert status["data"]["payment"]["status"] == "SUCCEEDED"
