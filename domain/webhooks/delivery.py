"""Fan-out and delivery.

An event (outbox, `catalogue.publish`) becomes one message and one delivery per enabled endpoint subscribed to
its type (idempotent per event: the relay delivers at least once). Each endpoint's deliveries go out one at a
time in id order (a Redis lock per endpoint; whoever releases it looks again, so a delivery queued meanwhile is
never stranded). A failed attempt (no 2xx, a timeout, a refused address) is retried after the next step of
`webhook_retry_schedule_s`, holding back the endpoint's later messages (order); when the schedule is exhausted
the delivery fails, the endpoint is disabled, audited, and its creator notified."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from redis.asyncio import Redis

from domain.audit.service import record
from domain.identity.sessions import notify
from domain.shared.actor import system_actor
from domain.shared.db import SessionFactory, autocommit_fetchrow, driver
from domain.shared.settings import Settings
from domain.webhooks.service import unseal
from domain.webhooks.signing import headers

log = structlog.get_logger(__name__)
EXCERPT = 200
SLICE_S = 60.0
Schedule = Callable[[int, datetime | None], Awaitable[None]]


def message_id(row_id: int) -> str:
    return f"msg_{row_id}"


_FAN_OUT = """
WITH m AS (
    SELECT id, event_type, created_at FROM webhook_messages WHERE NOT fanned_out ORDER BY id LIMIT $1 FOR UPDATE
), done AS (
    UPDATE webhook_messages w SET fanned_out = true FROM m WHERE w.id = m.id
)
INSERT INTO webhook_deliveries (endpoint_id, message_id)
SELECT e.id, m.id FROM m JOIN webhook_endpoints e ON e.enabled AND m.event_type = ANY(e.event_types)
    AND e.created_at <= m.created_at  -- an endpoint hears of what happens from its registration on
ORDER BY m.id, e.id
ON CONFLICT (endpoint_id, message_id) WHERE NOT manual DO NOTHING
RETURNING endpoint_id
"""


async def fan_out(session_factory: SessionFactory, redis: Redis, namespace: str, *, batch: int = 1000) -> set[int]:
    """Give every message not yet fanned out a delivery per enabled endpoint subscribed to its type, in message id
    order, one fan-out at a time (a Redis lock: deliveries' ids are each endpoint's order). Whoever holds the lock
    looks again after releasing it, so a message committed meanwhile is never stranded. Returns the endpoints owed
    something new."""
    touched: set[int] = set()
    key = f"{namespace}:webhook-fan-out"
    while True:
        token = secrets.token_hex(8)
        if not await redis.set(key, token, nx=True, px=60_000):
            return touched
        try:
            while True:
                async with session_factory() as session, session.begin():
                    conn = await driver(session)
                    rows = await conn.fetch(_FAN_OUT, batch)
                    more = bool(await conn.fetchval(
                        "SELECT EXISTS (SELECT 1 FROM webhook_messages WHERE NOT fanned_out)"))
                touched.update(int(r[0]) for r in rows)
                await redis.pexpire(key, 60_000)
                if not more:
                    break
        finally:
            if (await redis.get(key)) in (token, token.encode()):
                await redis.delete(key)
        async with session_factory() as session:
            if not await (await driver(session)).fetchval(
                    "SELECT EXISTS (SELECT 1 FROM webhook_messages WHERE NOT fanned_out)"):
                return touched


_COLUMNS = """d.id, d.attempts, d.next_attempt_at, d.message_id, m.body, e.url, e.enabled, e.secret_sealed,
       e.previous_secret_sealed, e.previous_secret_until, e.created_by, now() AS now
FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
JOIN webhook_endpoints e ON e.id = d.endpoint_id"""
_NEXT = f"""
SELECT {_COLUMNS}
WHERE d.endpoint_id = $1 AND d.status = 'pending' ORDER BY d.id LIMIT 1
"""
# A success, logged, and the endpoint's next pending delivery, in one statement (autocommit: one round trip). The
# statement's snapshot does not see its own update, so the next is looked for after the delivered one.
_DELIVERED_AND_NEXT = f"""
WITH a AS (
    INSERT INTO webhook_attempts (delivery_id, endpoint_id, status_code, duration_ms, response_excerpt)
    VALUES ($2, $1, $3, $4, $5)
), u AS (
    UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_status_code = $3,
        delivered_at = now() WHERE id = $2
)
SELECT {_COLUMNS}
WHERE d.endpoint_id = $1 AND d.status = 'pending' AND d.id > $2 ORDER BY d.id LIMIT 1
"""  # noqa: S608 (constant column list)


class Deliverer:
    def __init__(self, session_factory: SessionFactory, settings: Settings, redis: Redis, client: httpx.AsyncClient,
                 schedule: Schedule) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.redis = redis
        self.client = client
        self.schedule = schedule
        self.lock_ttl_ms = int((settings.webhook_timeout_s * 20 + 30) * 1000)  # refreshed every 20 attempts
        self._unsealed: dict[str, str] = {}

    def _lock_key(self, endpoint_id: int) -> str:
        return f"{self.settings.redis_namespace}:webhook-lock:{endpoint_id}"

    async def run(self, endpoint_id: int) -> int:
        """Deliver what is due to the endpoint, in order, unless another worker is at it; returns attempts made.
        A long queue is worked for `SLICE_S` at a time, then handed to a fresh job (well inside arq's job timeout,
        and a busy endpoint does not hold a worker slot for ever)."""
        made = 0
        until = time.monotonic() + SLICE_S
        while True:
            token = secrets.token_hex(8)
            key = self._lock_key(endpoint_id)
            if not await self.redis.set(key, token, nx=True, px=self.lock_ttl_ms):
                return made  # the holder looks again after releasing
            try:
                made += await self._drain(endpoint_id, key, until)
            finally:
                if (await self.redis.get(key)) in (token, token.encode()):
                    await self.redis.delete(key)
            if not await self._due(endpoint_id):
                return made
            if time.monotonic() > until:
                await self.schedule(endpoint_id, None)
                return made

    async def _due(self, endpoint_id: int) -> bool:
        async with self.session_factory() as session:
            conn = await driver(session)
            return bool(await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id "
                "WHERE d.endpoint_id = $1 AND d.status = 'pending' AND e.enabled AND d.next_attempt_at <= now())",
                endpoint_id))

    async def _drain(self, endpoint_id: int, key: str, until: float) -> int:
        made = 0
        row = await autocommit_fetchrow(self.session_factory, _NEXT, endpoint_id)
        while True:
            if row is None or not row["enabled"]:
                return made
            if row["next_attempt_at"] > row["now"]:
                await self.schedule(endpoint_id, row["next_attempt_at"])
                return made
            if time.monotonic() > until:
                await self.schedule(endpoint_id, None)  # the rest in a new job, once this one has let go
                return made
            row = await self._attempt(endpoint_id, row)
            made += 1
            if made % 20 == 0:
                await self.redis.pexpire(key, self.lock_ttl_ms)

    def _secrets(self, row: Any) -> list[str]:
        """The signing secrets, unsealed once per sealed value (the process key's HKDF is not free)."""
        found = [self._unseal(row["secret_sealed"])]
        if row["previous_secret_sealed"] and row["previous_secret_until"] and row["previous_secret_until"] > row["now"]:
            found.append(self._unseal(row["previous_secret_sealed"]))
        return found

    def _unseal(self, sealed: str) -> str:
        secret = self._unsealed.get(sealed)
        if secret is None:
            if len(self._unsealed) > 10_000:
                self._unsealed.clear()
            secret = self._unsealed[sealed] = unseal(self.settings, sealed)
        return secret

    async def _attempt(self, endpoint_id: int, row: Any) -> Any:
        """Send the delivery once and log it; returns the endpoint's next pending delivery (or this one again)."""
        now = datetime.now(UTC)
        body = row["body"].encode()
        sent_headers = headers(self._secrets(row), message_id(row["message_id"]), int(now.timestamp()), body)
        status: int | None = None
        excerpt: str | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            async with self.client.stream("POST", row["url"], content=body, headers=sent_headers) as response:
                status = response.status_code
                head = b""
                async for chunk in response.aiter_raw():  # only a short excerpt is read and kept
                    head += chunk
                    if len(head) >= EXCERPT:
                        break
                excerpt = head[:EXCERPT].decode("utf-8", errors="replace") or None
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        duration_ms = int((time.perf_counter() - started) * 1000)
        if status is not None and 200 <= status < 300:
            return await autocommit_fetchrow(self.session_factory, _DELIVERED_AND_NEXT, endpoint_id, row["id"],
                                             status, duration_ms, excerpt)
        await self._failed(endpoint_id, row, status=status, excerpt=excerpt, error=error, duration_ms=duration_ms)
        return await autocommit_fetchrow(self.session_factory, _NEXT, endpoint_id)

    async def _failed(self, endpoint_id: int, row: Any, *, status: int | None, excerpt: str | None,
                      error: str | None, duration_ms: int) -> None:
        attempts = int(row["attempts"]) + 1
        retries = self.settings.webhook_retry_schedule_s
        async with self.session_factory() as session, session.begin():
            conn = await driver(session)
            await conn.execute(
                "INSERT INTO webhook_attempts (delivery_id, endpoint_id, status_code, duration_ms, response_excerpt, "
                "error) VALUES ($1, $2, $3, $4, $5, $6)", row["id"], endpoint_id, status, duration_ms, excerpt, error)
            if attempts <= len(retries):
                await conn.execute(
                    "UPDATE webhook_deliveries SET attempts = $2, last_status_code = $3, "
                    "next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1",
                    row["id"], attempts, status, float(retries[attempts - 1]))
                return
            await conn.execute(
                "UPDATE webhook_deliveries SET status = 'failed', attempts = $2, last_status_code = $3 WHERE id = $1",
                row["id"], attempts, status)
            reason = f"delivery failed {attempts} times (message {message_id(row['message_id'])})"
            await conn.execute(
                "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = now() WHERE id = $1",
                endpoint_id, reason[:200])
            await record(session, system_actor("webhooks"), action="webhook_endpoint.disabled",
                         entity_type="webhook_endpoint", entity_id=endpoint_id, before={"enabled": True},
                         after={"enabled": False}, reason=reason)
            if row["created_by"] is not None:
                await notify(session, int(row["created_by"]), "webhook_endpoint_disabled",
                             f"Webhook endpoint {endpoint_id} was disabled: {reason}.")
        log.warning("webhook.endpoint_disabled", endpoint_id=endpoint_id, attempts=attempts)


async def due_endpoints(session_factory: SessionFactory) -> list[int]:
    async with session_factory() as session:
        rows = await (await driver(session)).fetch(
            "SELECT DISTINCT d.endpoint_id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id "
            "WHERE d.status = 'pending' AND e.enabled AND d.next_attempt_at <= now()")
    return [int(r[0]) for r in rows]


