"""A credited deposit becomes one `payment.deposit_credited` webhook message (with the outbox event that has the
worker fan it out), carrying ids, amount, currency and status only: no name or e-mail."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text

from tests.payments.conftest import card_deposit


async def test_a_credited_deposit_is_one_webhook_message_without_personal_data(configured, session_factory, settings,
                                                                                make_user):
    uid = await make_user()
    payment = await card_deposit(session_factory, settings, uid, "100.00")

    async def messages() -> list[dict[str, Any]]:
        async with session_factory() as s:
            rows = (await s.execute(text(
                "SELECT body FROM webhook_messages WHERE event_type = 'payment.deposit_credited' "
                "AND (body::jsonb -> 'data' ->> 'payment_id')::bigint = :p"), {"p": payment.id})).scalars()
            return [orjson.loads(r) for r in rows]

    assert await messages() == []  # pending: nothing to announce yet
    response = await configured.deliver(configured.paid_event(payment.provider_payment_id or ""))
    assert response.status_code == 200
    await configured.deliver(configured.paid_event(payment.provider_payment_id or ""))  # a replayed PSP webhook
    [message] = await messages()
    assert message["type"] == "payment.deposit_credited"
    assert message["data"] == {"payment_id": payment.id, "reference": payment.reference, "user_id": uid,
                               "amount": "100.00", "currency": "USD", "status": "succeeded"}
    async with session_factory() as s:
        email = await s.scalar(text("SELECT email FROM users WHERE id = :u"), {"u": uid})
    assert email and email not in orjson.dumps(message).decode()
