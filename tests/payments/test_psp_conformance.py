"""Every PSP adapter against its stand-in, through the port only: hosted deposit -> signed webhook ->
wallet credited exactly once (redelivery, replay, forged, stale and unsigned deliveries), refund,
payout, lookup. A new adapter without a harness here fails `test_every_adapter_has_a_harness`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from domain.payments import deposits, methods, psp_port, refunds, repo, withdrawals
from domain.payments.repo import Payment
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from sandbox.praxis import PraxisStandIn
from sandbox.stripe import StripeStandIn, stripe_signature
from tests.payments.conftest import check_invariants, client, finance, payment_row, snapshot, wallet_of
from tests.payments.test_withdrawals import approve, request, settled

PROVIDERS = ("stripe", "praxis")
STALE_S = 600  # beyond the 300 s tolerance


@dataclass
class Harness:
    """What a test needs from one provider's stand-in, in that provider's wire format."""

    provider: str
    stand_in: Any

    @property
    def method(self) -> str:
        return f"conf-{self.provider}"

    async def pay(self, payment: Payment) -> httpx.Response:
        """The client completes the hosted page the deposit redirected to."""
        assert payment.provider_payment_id
        if isinstance(self.stand_in, StripeStandIn):
            return await self.stand_in.complete(payment.provider_payment_id)
        response: httpx.Response = await self.stand_in.complete(payment.provider_payment_id, "approved")
        return response

    def paid(self, payment: Payment, *, secret: str | None = None, age_s: int = 0) -> tuple[bytes, dict[str, str]]:
        """A signed "paid" delivery naming the payment (as the provider would resend it)."""
        pid = payment.provider_payment_id or ""
        if isinstance(self.stand_in, StripeStandIn):
            body = self.stand_in.paid_event(pid)
            sig = stripe_signature(secret or self.stand_in.webhook_secret, body, int(time.time()) - age_s)
            return body, {"Stripe-Signature": sig, "Content-Type": "application/json"}
        stand_in: PraxisStandIn = self.stand_in
        notice = stand_in.notification(pid, "approved", timestamp=int(time.time()) - age_s)
        return orjson.dumps(notice), {"GT-Authentication": stand_in.sign(notice, secret),
                                      "Content-Type": "application/json"}


@pytest.fixture(scope="session")
async def harnesses(psp: StripeStandIn, praxis: PraxisStandIn, runtime: Any) -> dict[str, Harness]:
    found = {"stripe": Harness("stripe", psp), "praxis": Harness("praxis", praxis)}

    async def setup(s: Any) -> None:
        for h in found.values():
            await methods.upsert(s, code=h.method, kind="card" if h.provider == "stripe" else "local",
                                 provider=h.provider, currency="USD", base_url=h.stand_in.base_url,
                                 min_amount=Decimal(1), max_amount=Decimal(10000), display_name=h.method)

    await in_transaction(runtime.services.session_factory, setup)
    return found


async def deposit(h: Harness, factory: Any, settings: Any, uid: int, amount: str) -> Payment:
    return await deposits.create_deposit(factory, settings, client(uid), user_id=uid, method_code=h.method,
                                         currency="USD", amount=Decimal(amount), country="DE",
                                         return_url="https://portal.example/return")


async def paid_deposit(h: Harness, factory: Any, settings: Any, uid: int, amount: str) -> Payment:
    payment = await deposit(h, factory, settings, uid, amount)
    assert (await h.pay(payment)).status_code == 303
    assert (await payment_row(factory, payment.id)).status == "succeeded"
    return payment


async def entries(factory: Any, reference: str) -> int:
    async with factory() as s:
        return int(await s.scalar(text("SELECT count(*) FROM ledger_entries WHERE ref_id = :r AND ref_kind = "
                                       "'deposit'"), {"r": reference}) or 0)


def test_every_adapter_has_a_harness() -> None:
    assert sorted(PROVIDERS) == psp_port.adapter_names()
    assert set(PROVIDERS) <= set(psp_port.provider_keys())


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_hosted_deposit_is_credited_exactly_once(harnesses, provider, session_factory, settings, make_user,
                                                       http):
    h = harnesses[provider]
    uid = await make_user()

    payment = await deposit(h, session_factory, settings, uid, "25.00")

    assert payment.status.value == "pending" and payment.redirect_url
    assert payment.redirect_url.startswith(h.stand_in.base_url)
    async with httpx.AsyncClient() as browser:
        assert (await browser.get(payment.redirect_url)).status_code == 200  # the hosted page exists
    assert (await h.pay(payment)).status_code == 303  # back to our return URL
    assert await wallet_of(session_factory, uid) == (Decimal("25.00"), Decimal(0))
    body, headers = h.paid(payment)
    for _ in range(2):  # a later copy of the outcome, then its exact redelivery
        again = await http.post(f"/webhooks/{provider}", content=body, headers=headers)
        assert again.status_code == 200
    assert await wallet_of(session_factory, uid) == (Decimal("25.00"), Decimal(0))
    assert await entries(session_factory, payment.reference) == 1
    async with session_factory() as s:
        method = await methods.resolve(s, h.method, "USD", "DE")
        current = await repo.get(s, payment.id)
    assert current is not None
    ctx = psp_port.context(provider, method, settings, session_factory)
    assert (await psp_port.adapter_for(provider).lookup(ctx, current)).status == "succeeded"
    await check_invariants(session_factory)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("tamper", "code"), [("forged", "WEBHOOK_SIGNATURE_INVALID"),
                                              ("stale", "WEBHOOK_TIMESTAMP_OUT_OF_RANGE"),
                                              ("unsigned", "WEBHOOK_SIGNATURE_INVALID"),
                                              ("body_changed", "WEBHOOK_SIGNATURE_INVALID")])
async def test_refused_deliveries_are_typed_and_leave_no_trace(harnesses, provider, tamper, code, session_factory,
                                                               settings, make_user, http):
    h = harnesses[provider]
    uid = await make_user()
    payment = await deposit(h, session_factory, settings, uid, "30.00")
    body, headers = h.paid(payment, secret="not-the-secret" if tamper == "forged" else None,
                           age_s=STALE_S if tamper == "stale" else 0)
    if tamper == "unsigned":
        headers = {"Content-Type": "application/json"}
    if tamper == "body_changed":
        body = body.replace(b"3000", b"9000")
    before = await snapshot(session_factory)

    response = await http.post(f"/webhooks/{provider}", content=body, headers=headers)

    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == code
    assert await snapshot(session_factory) == before


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_refund_is_requested_through_the_port_and_booked_once(harnesses, provider, session_factory, settings,
                                                                    make_user):
    h = harnesses[provider]
    uid, staff = await make_user(), await make_user(staff=True)
    payment = await paid_deposit(h, session_factory, settings, uid, "40.00")

    made = await refunds.request_refund(session_factory, settings, finance(staff), payment.id, Decimal("15.00"))

    assert made.id
    for _ in range(200):  # the provider reports the refund by webhook
        async with session_factory() as s:
            booked = (await s.execute(text("SELECT kind, amount FROM payment_disputes WHERE payment_id = :p"),
                                      {"p": payment.id})).all()
        if booked:
            break
        await asyncio.sleep(0.05)
    assert [(r.kind, Decimal(r.amount)) for r in booked] == [("refund", Decimal("15.00"))]
    assert (await payment_row(session_factory, payment.id)).status == "refunded"
    assert await wallet_of(session_factory, uid) == (Decimal("25.00"), Decimal(0))
    await check_invariants(session_factory)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_refund_beyond_the_payment_is_refused_before_the_provider(harnesses, provider, session_factory,
                                                                        settings, make_user):
    h = harnesses[provider]
    uid, staff = await make_user(), await make_user(staff=True)
    payment = await paid_deposit(h, session_factory, settings, uid, "20.00")
    before = await snapshot(session_factory)

    with pytest.raises(DomainError) as refused:
        await refunds.request_refund(session_factory, settings, finance(staff), payment.id, Decimal("20.01"))

    assert refused.value.code == "DISPUTE_EXCEEDS_PAYMENT"
    assert await snapshot(session_factory) == before


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_payout_settles_the_withdrawal_by_webhook(harnesses, provider, session_factory, settings, make_user):
    h = harnesses[provider]
    uid, approver = await make_user(), await make_user(staff=True)
    await paid_deposit(h, session_factory, settings, uid, "60.00")
    wd = await request(session_factory, settings, uid, "35.00", method=h.method)
    await approve(session_factory, approver, wd.id)

    sent = await withdrawals.payout(session_factory, settings, finance(approver), wd.id)

    assert sent.status.value == "pending" and sent.provider_payment_id
    assert await settled(session_factory, wd.id) == "succeeded"
    assert await wallet_of(session_factory, uid) == (Decimal("25.00"), Decimal(0))
    again = await withdrawals.payout(session_factory, settings, finance(approver), wd.id)  # a retried job
    assert again.status.value == "succeeded"
    await check_invariants(session_factory)


# -- webhook verification, adapter by adapter (no database: verification refuses before any write) --------


def _settings() -> Any:
    from domain.shared.settings import Settings

    return Settings()


def test_stripe_accepts_any_current_secret_and_any_v1_during_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.payments.psp.stripe import ADAPTER
    from domain.shared.webhooks import WebhookRejected

    monkeypatch.setenv("FOREXCRM_PSP_STRIPE_WEBHOOK_SECRETS", "whsec_new,whsec_old")
    body = orjson.dumps({"id": "evt_rot", "type": "checkout.session.completed", "data": {"object": {
        "id": "cs_1", "payment_status": "paid", "amount_total": 1050, "currency": "usd",
        "client_reference_id": "DEP-1", "payment_intent": "pi_1"}}})
    old = stripe_signature("whsec_old", body)
    t, v1 = old.split(",")
    both = f"{t},v1={'0' * 64},{v1}"  # Stripe sends one v1 per active secret

    for header in (old, both, stripe_signature("whsec_new", body)):
        [event] = ADAPTER.parse_webhook(_settings(), "stripe", body, {"stripe-signature": header})
        assert (event.kind, event.amount, event.currency, event.reference, event.replaces_id) == (
            psp_port.EventKind.PAYMENT_SUCCEEDED, Decimal("10.50"), "USD", "DEP-1", "pi_1")
    with pytest.raises(WebhookRejected) as refused:
        ADAPTER.parse_webhook(_settings(), "stripe", body, {"stripe-signature": stripe_signature("whsec_gone", body)})
    assert refused.value.code == "WEBHOOK_SIGNATURE_INVALID"
    with pytest.raises(WebhookRejected) as stale:
        ADAPTER.parse_webhook(_settings(), "stripe", body, {
            "stripe-signature": stripe_signature("whsec_new", body, int(time.time()) - 301)})
    assert stale.value.code == "WEBHOOK_TIMESTAMP_OUT_OF_RANGE"


def test_stripe_event_types_the_port_does_not_use_yield_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.payments.psp.stripe import ADAPTER

    monkeypatch.setenv("FOREXCRM_PSP_STRIPE_WEBHOOK_SECRETS", "whsec_a")
    body = orjson.dumps({"id": "evt_x", "type": "customer.created", "data": {"object": {"id": "cus_1"}}})
    assert ADAPTER.parse_webhook(_settings(), "stripe", body, {"stripe-signature": stripe_signature("whsec_a", body)}) \
        == []


def test_praxis_notification_signature_rotation_and_merchant(monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.payments.config import provider_value
    from domain.payments.psp.praxis import ADAPTER
    from domain.shared.webhooks import WebhookRejected

    monkeypatch.setenv("FOREXCRM_PSP_PRAXIS_WEBHOOK_SECRETS", "new-secret,old-secret")
    settings = _settings()
    stand_in = PraxisStandIn(provider_value(settings, "praxis", "MERCHANT_ID"),
                             provider_value(settings, "praxis", "APPLICATION_KEY"), "old-secret")
    stand_in.sessions["tok"] = {"intent": "payment", "order_id": "DEP-9", "cid": "7", "currency": "JPY",
                                "amount": 1500, "payment_method": "local", "notification_url": "", "return_url": "",
                                "customer_data": {"first_name": "Ann", "last_name": "Lee"}, "customer_token": "ct",
                                "session_status": "created"}
    notice = stand_in.notification("tok", "approved", tid="555")
    body = orjson.dumps(notice)

    [event] = ADAPTER.parse_webhook(settings, "praxis", body, {"gt-authentication": stand_in.sign(notice)})

    assert (event.event_id, event.kind, event.provider_payment_id, event.reference, event.amount, event.currency,
            event.payer_name) == ("555:approved", psp_port.EventKind.PAYMENT_SUCCEEDED, "tok", "DEP-9",
                                  Decimal("1500"), "JPY", "Ann Lee")  # JPY has no minor unit
    foreign = {**notice, "merchant_id": "someone-else"}
    for headers, payload in (({"gt-authentication": stand_in.sign(notice, "gone")}, body),
                             ({"gt-authentication": stand_in.sign(foreign)}, orjson.dumps(foreign)),
                             ({}, body)):
        with pytest.raises(WebhookRejected) as refused:
            ADAPTER.parse_webhook(settings, "praxis", payload, headers)
        assert refused.value.code == "WEBHOOK_SIGNATURE_INVALID"


def test_registry_maps_configured_provider_keys_to_adapters(monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.payments.errors import PaymentMethodUnavailable

    monkeypatch.setenv("FOREXCRM_PSP_ADAPTERS", "cardpay=stripe, apm-eu=praxis, broken=nosuchadapter")

    assert psp_port.provider_keys() == ["apm-eu", "cardpay", "praxis", "stripe"]
    assert psp_port.adapter_for("cardpay").name == "stripe" and psp_port.adapter_for("apm-eu").name == "praxis"
    with pytest.raises(PaymentMethodUnavailable):
        psp_port.adapter_for("broken")
