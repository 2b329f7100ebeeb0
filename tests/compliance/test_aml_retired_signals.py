"""The six payment patterns that were hard-coded signals (payer name, high-risk country, card country,
deposits near the method's limit, quick withdrawal, withdrawal without trading) are templates now: with
them live, the same payments raise the same patterns as alerts with their explanation, and no signal
row is written any more (one pattern per concern)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text

from domain.compliance.aml.templates import BY_KEY
from domain.payments import deposits
from tests.compliance.test_aml import live, only, watch  # noqa: F401
from tests.payments.conftest import client, paid_card_deposit, signal_kinds
from tests.payments.test_withdrawals import request

RETIRED = {"third_party_funding": "third_party", "high_risk_country": "high_risk_country",
           "card_country_mismatch": "card_country_mismatch", "deposits_near_limit": "deposits_near_limit",
           "quick_withdrawal": "quick_withdrawal", "withdrawal_without_trading": "withdrawal_without_trading"}


async def test_the_retired_signals_patterns_raise_through_their_templates(
        configured: Any, session_factory: Any, settings: Any, make_user: Any, live: Any) -> None:  # noqa: F811
    uid = await make_user(name="Anna Schmidt")
    watched = await watch(session_factory, uid)
    for key in RETIRED:
        doc = BY_KEY[key].document
        await live({**doc, "rules": [{**r, "when": only(watched, r["when"])} for r in doc["rules"]]})

    payment = await deposits.create_deposit(session_factory, settings, client(uid), user_id=uid,
                                            method_code="card-test", currency="USD", amount=Decimal("4600"),
                                            country="IR", return_url="")
    await configured.deliver(configured.paid_event(payment.provider_payment_id or "", payer_name="John Doe",
                                                   bin_country="GB"))
    for _ in range(2):
        await paid_card_deposit(session_factory, settings, configured, uid, "4700.00")
    await request(session_factory, settings, uid, "100.00")  # right after, never traded

    async with session_factory() as s:
        rows = (await s.execute(text(
            "SELECT d.trigger, d.outcome, e.value->>'rule' AS rule FROM aml_decisions d, "
            "jsonb_array_elements(d.explain) e WHERE d.user_id = :u AND (e.value->>'hit')::boolean"),
            {"u": uid})).all()
    raised = {r.rule for r in rows}
    assert raised == set(RETIRED.values())
    assert {r.outcome for r in rows} == {"review"}
    assert {r.rule for r in rows if r.trigger == "withdrawal"} == {"quick_withdrawal", "withdrawal_without_trading"}
    assert await signal_kinds(session_factory, uid) == set()  # the old signals are no longer written
