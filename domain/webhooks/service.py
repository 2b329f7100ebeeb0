"""Webhook endpoints: registration (SSRF-checked URL, event types from the catalogue), enable/disable, secret
rotation (the previous secret keeps signing for `webhook_secret_overlap_s`), replay of one message, and the
delivery log. The secret is returned once, sealed with the process key for storage, never audited or logged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.events.outbox import emit
from domain.identity.secrets import decrypt, encrypt
from domain.shared.actor import Actor
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.pagination import Page, PageRequest, select_page, sql_page
from domain.shared.settings import Settings
from domain.webhooks.catalogue import EVENT_TYPES
from domain.webhooks.errors import UnknownEventType
from domain.webhooks.guard import check_url
from domain.webhooks.models import WebhookEndpoint
from domain.webhooks.signing import new_secret

PURPOSE = b"webhook-secret"
MAX_DESCRIPTION = 500
KICK_TOPIC = "webhook.kick"


def seal(settings: Settings, secret: str) -> str:
    return encrypt(settings, secret, PURPOSE)


def unseal(settings: Settings, sealed: str) -> str:
    return decrypt(settings, sealed, PURPOSE)


def signing_secrets(settings: Settings, endpoint: Any, now: datetime) -> list[str]:
    """The current secret, and the previous one while its overlap lasts."""
    found = [unseal(settings, endpoint.secret_sealed)]
    if endpoint.previous_secret_sealed and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        found.append(unseal(settings, endpoint.previous_secret_sealed))
    return found


def _event_types(types: list[str]) -> list[str]:
    if not types:
        raise ValidationFailed("choose at least one event type", field="eventTypes")
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise UnknownEventType(f"unknown event type {unknown[0]!r}", field="eventTypes")
    return sorted(set(types))


@dataclass(frozen=True)
class WithSecret:
    endpoint: WebhookEndpoint
    secret: str


async def register(session: AsyncSession, settings: Settings, actor: Actor, *, url: str, event_types: list[str],
                   description: str = "") -> WithSecret:
    types = _event_types(event_types)
    description = description.strip()
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(f"description must be at most {MAX_DESCRIPTION} characters", field="description")
    url = await check_url(settings, url)
    secret = new_secret()
    row = WebhookEndpoint(url=url, description=description, event_types=types, secret_sealed=seal(settings, secret),
                          enabled=True, created_by=actor.user_id)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    await record(session, actor, action="webhook_endpoint.registered", entity_type="webhook_endpoint",
                 entity_id=row.id, after={"url": url, "event_types": types, "description": description})
    return WithSecret(row, secret)


async def _endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    row = await session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    if row is None:
        raise NotFound("no such webhook endpoint", field="endpointId")
    return row


async def kick(session: AsyncSession, endpoint_id: int) -> None:
    """Have the worker look at the endpoint's queue once this transaction commits."""
    await emit(session, KICK_TOPIC, {"endpoint_id": endpoint_id}, job="webhooks_kick")


async def set_enabled(session: AsyncSession, actor: Actor, endpoint_id: int, enabled: bool) -> WebhookEndpoint:
    row = await _endpoint(session, endpoint_id)
    if row.enabled != enabled:
        before = row.enabled
        row.enabled, row.disabled_reason, row.updated_at = enabled, None if enabled else "disabled by staff", \
            datetime.now(UTC)
        await record(session, actor, action="webhook_endpoint.enabled" if enabled else "webhook_endpoint.disabled",
                     entity_type="webhook_endpoint", entity_id=row.id, before={"enabled": before},
                     after={"enabled": enabled})
        if enabled:
            await kick(session, row.id)
    await session.flush()
    return row


async def rotate_secret(session: AsyncSession, settings: Settings, actor: Actor, endpoint_id: int) -> WithSecret:
    row = await _endpoint(session, endpoint_id)
    now = datetime.now(UTC)
    secret = new_secret()
    row.previous_secret_sealed, row.previous_secret_until = row.secret_sealed, \
        now + timedelta(seconds=settings.webhook_secret_overlap_s)
    row.secret_sealed, row.updated_at = seal(settings, secret), now
    await session.flush()
    await record(session, actor, action="webhook_endpoint.secret_rotated", entity_type="webhook_endpoint",
                 entity_id=row.id, after={"previous_secret_until": row.previous_secret_until.isoformat()})
    return WithSecret(row, secret)


async def replay(session: AsyncSession, actor: Actor, endpoint_id: int, message_id: int) -> int:
    """Send one message to the endpoint again (after everything already queued for it); returns the delivery id.
    Only a message the endpoint was owed may be replayed to it."""
    row = await _endpoint(session, endpoint_id)
    owed = await session.scalar(text(
        "SELECT 1 FROM webhook_deliveries WHERE endpoint_id = :e AND message_id = :m LIMIT 1"),
        {"e": endpoint_id, "m": message_id})
    if owed is None:
        raise NotFound("no such message for this endpoint", field="messageId")
    delivery_id = int(await session.scalar(text(
        "INSERT INTO webhook_deliveries (endpoint_id, message_id, manual) VALUES (:e, :m, true) RETURNING id"),
        {"e": endpoint_id, "m": message_id}) or 0)
    await record(session, actor, action="webhook_message.replayed", entity_type="webhook_endpoint", entity_id=row.id,
                 after={"message_id": message_id, "delivery_id": delivery_id})
    await kick(session, row.id)
    return delivery_id


async def list_endpoints(session: AsyncSession, page: PageRequest) -> Page[WebhookEndpoint]:
    return await select_page(session, page, select(WebhookEndpoint), (WebhookEndpoint.id,), descending=True,
                             convert=lambda row: row)


async def get_endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint | None:
    return await session.get(WebhookEndpoint, endpoint_id)


@dataclass(frozen=True)
class Attempt:
    id: int
    delivery_id: int
    message_id: int
    event_type: str
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    response_excerpt: str | None
    error: str | None


def _attempt(row: Any) -> Attempt:
    return Attempt(row.id, row.delivery_id, row.message_id, row.event_type, row.attempted_at, row.status_code,
                   row.duration_ms, row.response_excerpt, row.error)


async def list_attempts(session: AsyncSession, endpoint_id: int, page: PageRequest) -> Page[Attempt]:
    """The endpoint's delivery log, newest first."""
    return await sql_page(
        session, page,
        columns="a.id, a.delivery_id, d.message_id, m.event_type, a.attempted_at, a.status_code, a.duration_ms, "
                "a.response_excerpt, a.error",
        source="webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id "
               "JOIN webhook_messages m ON m.id = d.message_id",
        where=["a.endpoint_id = :e"], params={"e": endpoint_id}, key=("a.id",), descending=True, convert=_attempt)
