"""Card deposits through the Stripe adapter, the Stripe stand-in and our real /webhooks/stripe endpoint."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from domain.payments.errors import AmountOutOfLimits
from domain.payments.psp_port import EventKind, PspEvent
from domain.payments.status import Status
from tests.payments.conftest import (
    card_deposit,
    check_invariants,
    paid_card_deposit,
    payment_row,
    snapshot,
    wallet_of,
)


async def test_card_deposit_end_to_end_credits_net_of_fee_once(configured, session_factory, settings, make_user):
    uid = await make_user()

    payment = await card_deposit(session_factory, settings, uid, "100.00")

    assert payment.status is Status.PENDING
    assert payment.redirect_url and payment.redirect_url.startswith(configured.base_url + "/c/pay/cs_")
    assert payment.reference.startswith("DEP-") and len(payment.reference) == 13
    assert payment.fee == Decimal("2.00")
    response = await configured.deliver(configured.paid_event(payment.provider_payment_id or ""))
    assert response.status_code == 200 and response.json() == {"status": "applied"}
    row = await payment_row(session_factory, payment.id)
    assert row.status == "succeeded" and row.entry_id is not None
    assert await wallet_of(session_factory, uid) == (Decimal("98.00"), Decimal(0))
    await check_invariants(session_factory)


async def test_gateway_log_ties_requests_to_the_payment_and_redacts_card_data(configured, session_factory, settings,
                                                                               make_user):
    uid = await make_user()
    payment = await paid_card_deposit(session_factory, settings, configured, uid, "50.00")

    async with session_factory() as s:
        logs = (await s.execute(text(
            "SELECT direction, endpoint, request::text AS req, response::text AS resp FROM payment_gateway_logs "
            "WHERE correlation_id = :c ORDER BY id"), {"c": payment.correlation_id})).all()
    assert [(r.direction, r.endpoint) for r in logs] == [("outbound", "/v1/checkout/sessions"),
                                                          ("inbound", "/webhooks/stripe")]
    assert payment.reference in logs[0].req and '"5000"' in logs[0].req
    dumped = " ".join(r.req + r.resp for r in logs)
    assert configured.api_key not in dumped and configured.webhook_secret not in dumped


async def test_replayed_webhook_has_one_effect(configured, session_factory, settings, make_user):
    uid = await make_user()
    payment = await card_deposit(session_factory, settings, uid, "40.00")
    body = configured.paid_event(payment.provider_payment_id or "")

    first = await configured.deliver(body)
    second = await configured.deliver(body)

    assert first.json() == {"status": "applied"} and second.json() == {"status": "duplicate"}
    assert await wallet_of(session_factory, uid) == (Decimal("39.20"), Decimal(0))


async def test_same_webhook_delivered_ten_times_concurrently_credits_once(configured, session_factory, settings,
                                                                          make_user):
    uid = await make_user()
    payment = await card_deposit(session_factory, settings, uid, "25.00")
    body = configured.paid_event(payment.provider_payment_id or "")

    responses = await asyncio.gather(*(configured.deliver(body) for _ in range(10)))

    assert sorted(r.json()["status"] for r in responses) == ["applied"] + ["duplicate"] * 9
    assert await wallet_of(session_factory, uid) == (Decimal("24.50"), Decimal(0))
    async with session_factory() as s:
        entries = await s.scalar(text("SELECT count(*) FROM ledger_entries WHERE ref_id = :r"),
                                 {"r": payment.reference})
    assert entries == 1
    await check_invariants(session_factory)


async def test_distinct_success_events_for_one_payment_credit_once(configured, session_factory, settings, make_user):
    uid = await make_user()
    payment = await card_deposit(session_factory, settings, uid, "30.00")

    a = await configured.deliver(configured.paid_event(payment.provider_payment_id or ""))
    b = await configured.deliver(configured.paid_event(payment.provider_payment_id or ""))

    assert a.json()["status"] == "applied" and b.json()["status"].startswith("ignored")
    assert await wallet_of(session_factory, uid) == (Decimal("29.40"), Decimal(0))


@pytest.mark.parametrize("tamper", ["wrong_secret", "body_changed", "missing"])
async def test_bad_signature_is_refused_with_401_and_nothing_written(configured, session_factory, settings,
                                                                     make_user, tamper, http):
    uid = await make_user()
    payment = await card_deposit(session_factory, settings, uid, "60.00")
    body = configured.paid_event(payment.provider_payment_id or "")
    before = await snapshot(session_factory)

    if tamper == "wrong_secret":
        response = await configured.deliver(body, secret="not-the-secret")
    else:
        from sandbox.stripe import stripe_signature

        headers: dict[str, Any] = {"Content-Type": "application/json"}
        if tamper == "body_changed":
            headers["Stripe-Signature"] = stripe_signature(configured.webhook_secret, body)
            body = body.replace(b"6000", b"9000")
        response = await http.post("/webhooks/stripe", content=body, headers=headers)

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "WEBHOOK_SIGNATURE_INVALID"
    assert await snapshot(session_factory) == before


async def test_out_of_order_events_follow_the_status_machine(configured, session_factory, settings, make_user):
    uid = await make_user()
    payment = await card_deposit(session_factory, settings, uid, "70.00")
    pid = payment.provider_payment_id or ""

    failed = await configured.deliver(configured.failed_event(pid))
    succeeded = await configured.deliver(configured.paid_event(pid))
    late_pending = await configured.deliver(configured.event(
        "checkout.session.completed", {**configured.sessions[pid], "payment_status": "unpaid"}))
    late_failed = await configured.deliver(configured.failed_event(pid))

    assert failed.json() == {"status": "applied"}
    assert succeeded.json() == {"status": "applied"}  # a captured retry after a decline: money did arrive
    assert late_pending.json() == {"status": "ignored: succeeded payment"}
    assert late_failed.json() == {"status": "ignored: succeeded payment"}
    assert (await payment_row(session_factory, payment.id)).status == "succeeded"
    assert await wallet_of(session_factory, uid) == (Decimal("68.60"), Decimal(0))


async def test_webhook_before_our_record_is_applied_by_reference(configured, session_factory, settings, make_user):
    uid = await make_user()
    configured.auto_complete = True  # the PSP reports success before answering the session request
    try:
        payment = await card_deposit(session_factory, settings, uid, "80.00")
    finally:
        configured.auto_complete = False

    # client_reference_id names our payment, so nothing waits; the PaymentIntent names it from then on
    assert payment.status is Status.SUCCEEDED
    assert (payment.provider_payment_id or "").startswith("pi_") and (payment.redirect_url or "").startswith(
        configured.base_url)
    assert await wallet_of(session_factory, uid) == (Decimal("78.40"), Decimal(0))


async def test_dispute_naming_an_unknown_payment_is_parked_then_applied(configured, session_factory, settings,
                                                                         make_user):
    uid = await make_user()
    payment = await card_deposit(session_factory, settings, uid, "80.00")
    sid = payment.provider_payment_id or ""
    dispute = configured.dispute_event(sid, dispute_id=f"dp_{payment.id}")  # names the PaymentIntent, unknown yet

    parked = await configured.deliver(dispute)
    paid = await configured.deliver(configured.paid_event(sid))  # completion names the PaymentIntent

    assert parked.status_code == 202 and parked.json() == {"status": "parked"}
    assert paid.json() == {"status": "applied"}
    assert (await payment_row(session_factory, payment.id)).status == "charged_back"
    assert await wallet_of(session_factory, uid) == (Decimal("-1.60"), Decimal(0))


async def test_amount_outside_limits_is_refused_and_writes_nothing(configured, session_factory, settings, make_user):
    uid = await make_user()
    before = await snapshot(session_factory)

    with pytest.raises(AmountOutOfLimits) as refused:
        await card_deposit(session_factory, settings, uid, "5000.01")

    assert refused.value.code == "AMOUNT_OUT_OF_LIMITS"
    assert await snapshot(session_factory) == before


async def test_parked_webhook_sweeper_applies_events_once(configured, session_factory, settings, make_user, runtime):
    from jobs.payments import apply_parked_webhooks

    uid = await make_user()
    payment = await card_deposit(session_factory, settings, uid, "90.00")
    # a park that lost the race with our record (simulated: parked after the provider id was stored)
    event = PspEvent(f"late-{payment.id}", EventKind.PAYMENT_SUCCEEDED, payment.provider_payment_id or "",
                     amount=Decimal("90.00"), currency="USD")
    async with session_factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO payment_parked_webhooks (provider, provider_payment_id, event_id, payload) "
            "VALUES ('stripe', :p, :e, CAST(:b AS jsonb))"),
            {"p": payment.provider_payment_id, "e": event.event_id, "b": orjson.dumps(event.to_json()).decode()})
    ctx = {"session_factory": session_factory, "services": runtime.services}

    assert await apply_parked_webhooks(ctx) == 1
    assert await apply_parked_webhooks(ctx) == 0
    assert await wallet_of(session_factory, uid) == (Decimal("88.20"), Decimal(0))


@pytest.mark.parametrize("amount", ["NaN", "garbage", "1e2", "100.00\n", "Infinity"])
async def test_malformed_webhook_amount_is_refused_typed_and_writes_nothing(configured, session_factory, settings,
                                                                            make_user, amount):
    # Decimal(str(...)) took "NaN" and "1e2", and "garbage" raised an internal error (500).
    uid = await make_user()
    payment = await card_deposit(session_factory, settings, uid, "100.00")
    before = await snapshot(session_factory)

    response = await configured.deliver(configured.paid_event(payment.provider_payment_id or "", amount=amount))

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_AMOUNT"
    assert await snapshot(session_factory) == before
