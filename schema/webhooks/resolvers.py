from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.shared.errors import ValidationFailed
from domain.webhooks import service
from domain.webhooks.catalogue import EVENT_TYPES
from domain.webhooks.models import WebhookEndpoint as EndpointRow
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.node import AnyId, key_of, node_type, query_key
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires
from schema.webhooks.types import (
    RegisterWebhookEndpointInput,
    ReplayWebhookMessagePayload,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEndpointPayload,
    WebhookEndpointSecretPayload,
    WebhookEventType,
)

PERMISSION = "webhooks.manage"


@node_type("WebhookEndpoint")
async def _endpoint_nodes(ctx: Context, keys: Sequence[int]) -> list[WebhookEndpoint | None]:
    """Staff holding webhooks.manage only."""
    if not ctx.actor.has(PERMISSION):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = {e.id: e for e in await session.scalars(select(EndpointRow).where(EndpointRow.id.in_(keys)))}
    return [WebhookEndpoint.from_row(e) if (e := found.get(k)) else None for k in keys]


def _message_key(value: str) -> int:
    digits = value.removeprefix("msg_")
    if not value.startswith("msg_") or not digits.isdigit() or len(digits) > 18:
        raise ValidationFailed("a message id reads msg_<number> (the webhook-id header)", field="messageId")
    return int(digits)


@strawberry.type
class WebhookQueries:
    @strawberry.field(permission_classes=[Requires(PERMISSION)], description="The event types endpoints may want.")
    def webhook_event_types(self) -> list[WebhookEventType]:
        return [WebhookEventType(name=n, description=d) for n, d in EVENT_TYPES.items()]

    @strawberry.field(permission_classes=[Requires(PERMISSION)], description="Webhook endpoints, newest first.")
    async def webhook_endpoints(
        self, info: Info[Context, Any], first: int | None = None,
        after: str | None = None, last: int | None = None, before: str | None = None
    ) -> Connection[WebhookEndpoint]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await service.list_endpoints(session, req)
        return to_connection(page, WebhookEndpoint.from_row, lambda row: (row.id,))

    @strawberry.field(permission_classes=[Requires(PERMISSION)],
                      description="An endpoint's delivery log, newest attempt first (empty for an unknown endpoint).")
    async def webhook_delivery_attempts(
        self, info: Info[Context, Any], endpoint_id: AnyId, first: int | None = None,
        after: str | None = None, last: int | None = None, before: str | None = None
    ) -> Connection[WebhookDeliveryAttempt]:
        key = query_key(endpoint_id, "WebhookEndpoint", field="endpointId")
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await service.list_attempts(session, key, req)
        return to_connection(page, WebhookDeliveryAttempt.from_attempt, lambda a: (a.id,))


@strawberry.type
class WebhookMutations:
    @declares_errors("WEBHOOK_URL_REFUSED", "UNKNOWN_EVENT_TYPE", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(PERMISSION)],
                         description="Register an endpoint; the answer carries its signing secret, shown this once.")
    async def register_webhook_endpoint(
        self, info: Info[Context, Any], input: RegisterWebhookEndpointInput
    ) -> WebhookEndpointSecretPayload:
        ctx = info.context

        async def work() -> WebhookEndpointSecretPayload:
            async def txn(session: AsyncSession) -> service.WithSecret:
                return await service.register(session, ctx.settings, ctx.actor, url=input.url,
                                              event_types=input.event_types, description=input.description)

            made = await ctx.transaction(txn)
            return WebhookEndpointSecretPayload(endpoint=WebhookEndpoint.from_row(made.endpoint), secret=made.secret)

        def failed(errors: list[UserError]) -> WebhookEndpointSecretPayload:
            return WebhookEndpointSecretPayload(errors=errors)

        return await payload_or_errors(work, failed)

    @declares_errors("NOT_FOUND", "INVALID_ID")
    @strawberry.mutation(permission_classes=[Requires(PERMISSION)],
                         description="Enable or disable an endpoint; enabling resumes its queue where it stopped.")
    async def set_webhook_endpoint_enabled(
        self, info: Info[Context, Any], endpoint_id: AnyId, enabled: bool
    ) -> WebhookEndpointPayload:
        ctx = info.context

        async def work() -> WebhookEndpointPayload:
            key = key_of(endpoint_id, "WebhookEndpoint", field="endpointId")

            async def txn(session: AsyncSession) -> EndpointRow:
                return await service.set_enabled(session, ctx.actor, key, enabled)

            return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(await ctx.transaction(txn)))

        def failed(errors: list[UserError]) -> WebhookEndpointPayload:
            return WebhookEndpointPayload(errors=errors)

        return await payload_or_errors(work, failed)

    @declares_errors("NOT_FOUND", "INVALID_ID")
    @strawberry.mutation(permission_classes=[Requires(PERMISSION)],
                         description="A new signing secret (shown this once); the previous one also signs for 24 h.")
    async def rotate_webhook_secret(self, info: Info[Context, Any], endpoint_id: AnyId) -> WebhookEndpointSecretPayload:
        ctx = info.context

        async def work() -> WebhookEndpointSecretPayload:
            key = key_of(endpoint_id, "WebhookEndpoint", field="endpointId")

            async def txn(session: AsyncSession) -> service.WithSecret:
                return await service.rotate_secret(session, ctx.settings, ctx.actor, key)

            made = await ctx.transaction(txn)
            return WebhookEndpointSecretPayload(endpoint=WebhookEndpoint.from_row(made.endpoint), secret=made.secret)

        def failed(errors: list[UserError]) -> WebhookEndpointSecretPayload:
            return WebhookEndpointSecretPayload(errors=errors)

        return await payload_or_errors(work, failed)

    @declares_errors("NOT_FOUND", "INVALID_ID", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(PERMISSION)],
                         description="Send one message (its webhook-id, msg_...) to the endpoint again, after "
                                     "whatever is queued for it.")
    async def replay_webhook_message(
        self, info: Info[Context, Any], endpoint_id: AnyId, message_id: str
    ) -> ReplayWebhookMessagePayload:
        ctx = info.context

        async def work() -> ReplayWebhookMessagePayload:
            key = key_of(endpoint_id, "WebhookEndpoint", field="endpointId")
            message = _message_key(message_id)

            async def txn(session: AsyncSession) -> int:
                return await service.replay(session, ctx.actor, key, message)

            await ctx.transaction(txn)
            return ReplayWebhookMessagePayload(queued=True)

        def failed(errors: list[UserError]) -> ReplayWebhookMessagePayload:
            return ReplayWebhookMessagePayload(errors=errors)

        return await payload_or_errors(work, failed)


QUERIES = (WebhookQueries,)
MUTATIONS = (WebhookMutations,)
SUBSCRIPTIONS = ()
