"""The event types a webhook endpoint may subscribe to, and how they enter the outbox.

Payloads carry ids, amounts, currencies and statuses only: no names, e-mail addresses or documents (a
partner that needs more asks the API with its own token)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from domain.shared.db import driver

EVENT_TYPES: dict[str, str] = {
    "payment.deposit_credited": "A client's deposit was credited (payment id, reference, user id, amount, currency)",
    "payment.withdrawal_paid": "A client's withdrawal was paid out (payment id, reference, user id, amount, currency)",
    "account.opened": "A live trading account was opened (account id, login, server id, user id, client id, currency)",
    "client.approved": "A client's application was approved (client id, user id)",
}
TOPIC = "webhook.event"
FAN_OUT_JOB = "webhooks_fan_out"


_PUBLISH = """
WITH m AS (INSERT INTO webhook_messages (event_type, body) VALUES ($1, $2) RETURNING id)
INSERT INTO outbox (topic, payload, job) SELECT $3, jsonb_build_object('message_id', m.id), $4 FROM m RETURNING id
"""


async def publish(session: AsyncSession, event_type: str, data: dict[str, Any]) -> int:
    """Queue an event for every endpoint subscribed to its type, in the caller's transaction: the message (its
    body as it will be sent, its id the order) and the outbox event that has the worker fan it out, in one
    statement. Returns the outbox event's id."""
    assert event_type in EVENT_TYPES, event_type
    body = orjson.dumps({"type": event_type, "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
                         "data": data}).decode()
    return int(await (await driver(session)).fetchval(_PUBLISH, event_type, body, TOPIC, FAN_OUT_JOB))
