"""Inbound webhooks from providers (PSPs, KYC): signature verification and deduplication.

Signature scheme (the common one of Stripe-like providers): header `X-Signature: t=<unix>,v1=<hex>[,v1=<hex>]`
where each v1 = HMAC-SHA256(secret, f"{t}.{raw body}"). Several secrets are accepted during
rotation; comparison is constant-time; the timestamp must be within the tolerance. Every accepted
event is recorded once per (provider, event id): a redelivery is acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.shared.errors import DomainError, declare_codes

declare_codes("WEBHOOK_SIGNATURE_INVALID", "WEBHOOK_TIMESTAMP_OUT_OF_RANGE", "WEBHOOK_MALFORMED",
              "WEBHOOK_UNKNOWN_PROVIDER")

SIGNATURE_HEADER = "x-signature"
TOLERANCE_S = 300


class WebhookRejected(DomainError):
    code = "WEBHOOK_SIGNATURE_INVALID"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value a provider would send (used by the stand-in providers and tests)."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_signature(header: str | None, body: bytes, secrets: Sequence[str], *, now: float | None = None,
                     tolerance_s: int = TOLERANCE_S) -> int:
    """Returns the signed timestamp; raises WebhookRejected (nothing is recorded) otherwise."""
    if not header or not secrets:
        raise WebhookRejected("missing signature")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        ts = int(parts["t"][0])
    except (KeyError, ValueError, IndexError) as exc:
        raise WebhookRejected("malformed signature header", code="WEBHOOK_MALFORMED") from exc
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        raise WebhookRejected("signature timestamp outside the tolerance", code="WEBHOOK_TIMESTAMP_OUT_OF_RANGE")
    signed = f"{ts}.".encode() + body
    candidates = parts.get("v1", [])
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, c) for c in candidates):
            return ts
    raise WebhookRejected("signature does not match")


async def first_delivery(session: AsyncSession, provider: str, event_id: str, payload: Mapping[str, Any]) -> bool:
    """Records the event in the caller's transaction; False when it was already processed."""
    import orjson

    if len(event_id) > 200:  # clipped, two different events would pass for one
        raise WebhookRejected("the event id is longer than 200 characters", code="WEBHOOK_MALFORMED")
    inserted = await session.scalar(text(
        "INSERT INTO webhook_events (provider, event_id, payload) VALUES (:p, :e, CAST(:b AS jsonb)) "
        "ON CONFLICT (provider, event_id) DO NOTHING RETURNING id"
    ), {"p": provider, "e": event_id, "b": orjson.dumps(dict(payload)).decode()})
    return inserted is not None


@dataclass(frozen=True)
class WebhookRequest:
    provider: str
    body: bytes
    headers: Mapping[str, str]


# A handler verifies, dedupes and applies one delivery; it returns (HTTP status, JSON body). Headers a
# provider expects on the answer (Praxis: a signed acknowledgement) travel under RESPONSE_HEADERS.
RESPONSE_HEADERS = "__headers__"
WebhookHandler = Callable[[Any, WebhookRequest], Awaitable[tuple[int, dict[str, Any]]]]
