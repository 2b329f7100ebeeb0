"""Push delivery: a notification becomes one `push_deliveries` row per device of its user (the idempotency key is
event x device: a replayed job plans nothing new and a sent row is never sent again), each sent by its own job,
retried on 429/5xx with backoff (Retry-After when longer), the device removed when the provider says its token is
dead. Each row keeps the provider's answer: the delivery log."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from domain.audit.service import record
from domain.notifications import devices
from domain.notifications.push.port import Outcome, PushMessage, PushPort, PushResult
from domain.notifications.texts import render
from domain.shared.actor import system_actor
from domain.shared.db import SessionFactory, driver
from domain.shared.settings import Settings

_NAMESPACE = uuid.UUID("6f1c3a52-58a4-4f8e-9a51-0d6b7c1e2f30")
LEASE = timedelta(minutes=5)  # a row left 'sending' by a crashed worker is claimed again after this


async def plan(session_factory: SessionFactory, event_id: int, user_id: int, kind: str) -> list[int]:
    """The deliveries owed for one notification, those not yet sent (on a replay: the same rows, none twice)."""
    async with session_factory() as session, session.begin():
        conn = await driver(session)
        await conn.execute(
            "INSERT INTO push_deliveries (event_id, device_id, user_id, provider, kind) "
            "SELECT $1, d.id, d.user_id, CASE d.platform WHEN 'ios' THEN 'apns' ELSE 'fcm' END, $3::varchar "
            "FROM push_devices d WHERE d.user_id = $2 AND NOT EXISTS (SELECT 1 FROM notification_preferences p "
            "WHERE p.user_id = d.user_id AND p.kind = $3 AND p.channel = 'push' AND NOT p.enabled) "
            "ON CONFLICT (event_id, device_id) DO NOTHING", event_id, user_id, kind)
        rows = await conn.fetch("SELECT id FROM push_deliveries WHERE event_id = $1 AND status = 'pending' "
                                "ORDER BY id", event_id)
    return [int(r["id"]) for r in rows]


@dataclass(frozen=True)
class Attempt:
    status: str  # sent, retrying, failed, dead_token, skipped, or "" when the row was not ours to send
    retry_in_s: float | None = None


async def send(session_factory: SessionFactory, settings: Settings, ports: dict[str, PushPort], delivery_id: int,
               notification: dict[str, Any]) -> Attempt:
    """Send one delivery (claimed first: a second worker on the same row does nothing) and log the answer."""
    async with session_factory() as session, session.begin():
        row = await (await driver(session)).fetchrow(
            "UPDATE push_deliveries x SET status = 'sending', attempts = x.attempts + 1, updated_at = now() "
            "FROM push_deliveries p LEFT JOIN push_devices d ON d.id = p.device_id "
            "WHERE x.id = $1 AND p.id = x.id AND (x.status IN ('pending', 'retrying') "
            "OR (x.status = 'sending' AND x.updated_at < now() - $2::interval)) "
            "RETURNING x.provider, x.attempts, x.device_id, d.token, d.language, d.user_id AS owner, x.user_id",
            delivery_id, LEASE)
    if row is None:
        return Attempt("")
    port = ports.get(str(row["provider"]))
    if row["token"] is None or row["owner"] != row["user_id"] or port is None:
        # Removed (signed out, dead), handed to another user since, or the provider is not configured.
        answer = "provider not configured" if port is None and row["token"] is not None else "device gone"
        await _log(session_factory, delivery_id, "skipped", PushResult(Outcome.FAILED, 0, answer))
        return Attempt("skipped")
    title, body = render(str(notification["kind"]), str(row["language"]), str(notification.get("message", "")),
                         {k: str(v) for k, v in (notification.get("details") or {}).items()})
    message = PushMessage(token=str(row["token"]), title=title, body=body,
                          message_id=str(uuid.uuid5(_NAMESPACE, f"push-delivery:{delivery_id}")),
                          expires_at=int(time.time()) + settings.push_ttl_s,
                          data={"kind": str(notification["kind"]),
                                "notification_id": str(notification.get("notification_id", ""))},
                          collapse_id=None)
    result = await port.send(message)
    if result.outcome is Outcome.SENT:
        await _log(session_factory, delivery_id, "sent", result)
        return Attempt("sent")
    if result.outcome is Outcome.DEAD_TOKEN:
        async with session_factory() as session, session.begin():
            if await devices.remove_dead(session, int(row["device_id"]), str(row["token"]), reason=result.answer):
                await record(session, system_actor("send_push"), action="notifications.device_removed",
                             entity_type="push_device", entity_id=int(row["device_id"]),
                             after={"reason": "provider_token_dead", "provider": row["provider"],
                                    "answer": result.answer}, category="auth")
        await _log(session_factory, delivery_id, "dead_token", result)
        return Attempt("dead_token")
    schedule = settings.push_retry_schedule_s
    attempts = int(row["attempts"])
    if result.outcome is Outcome.RETRY and attempts <= len(schedule):
        wait = max(schedule[attempts - 1], result.retry_after_s or 0.0)
        await _log(session_factory, delivery_id, "retrying", result)
        return Attempt("retrying", wait)
    await _log(session_factory, delivery_id, "failed", result)
    return Attempt("failed")


async def _log(session_factory: SessionFactory, delivery_id: int, status: str, result: PushResult) -> None:
    async with session_factory() as session, session.begin():
        await (await driver(session)).execute(
            "UPDATE push_deliveries SET status = $2, provider_status = $3, provider_answer = $4, "
            "provider_message_id = $5, updated_at = now() WHERE id = $1",
            delivery_id, status, result.status or None, result.answer[:500] or None, result.provider_message_id)


async def due(session_factory: SessionFactory, settings: Settings, *, limit: int = 500) -> list[tuple[int, Any]]:
    """Deliveries whose job was lost (a Redis flush, a crash between the plan and the enqueue): pending a minute
    after planning, retrying past the longest backoff, or sending past the lease; with their notification (the
    outbox event's payload, kept until the daily purge)."""
    wait = timedelta(seconds=max(settings.push_retry_schedule_s, default=0.0) + 60)
    async with session_factory() as session:
        rows = await (await driver(session)).fetch(
            "SELECT x.id, o.payload FROM push_deliveries x JOIN outbox o ON o.id = x.event_id "
            "WHERE (x.status = 'pending' AND x.updated_at < now() - interval '1 minute') "
            "OR (x.status = 'retrying' AND x.updated_at < now() - $1::interval) "
            "OR (x.status = 'sending' AND x.updated_at < now() - $2::interval) ORDER BY x.id LIMIT $3",
            wait, LEASE, limit)
    return [(int(r["id"]), r["payload"]) for r in rows]
