from __future__ import annotations

from datetime import datetime

import strawberry

from domain.webhooks.models import WebhookEndpoint as EndpointRow
from domain.webhooks.service import Attempt
from schema.errors import UserError
from schema.node import DATABASE_ID_DOC, Node, global_id


@strawberry.type(description="An event type webhook endpoints may subscribe to.")
class WebhookEventType:
    name: str
    description: str


@strawberry.type(description="A partner's receiver of outbound webhooks (Standard Webhooks). Its secret is shown "
                             "only when created or rotated.")
class WebhookEndpoint(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    previous_secret_valid_until: datetime | None = strawberry.field(
        description="After a rotation, the previous secret also signs until then.")
    created_at: datetime

    @classmethod
    def from_row(cls, row: EndpointRow) -> WebhookEndpoint:
        return cls(id=global_id("WebhookEndpoint", row.id), database_id=strawberry.ID(str(row.id)), url=row.url,
                   description=row.description, event_types=list(row.event_types), enabled=row.enabled,
                   disabled_reason=row.disabled_reason, previous_secret_valid_until=row.previous_secret_until,
                   created_at=row.created_at)


@strawberry.type(description="One attempt to deliver a message to an endpoint (the delivery log).")
class WebhookDeliveryAttempt:
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    message_id: str = strawberry.field(description="The message's `webhook-id` (msg_...), for replayWebhookMessage.")
    event_type: str
    attempted_at: datetime
    status_code: int | None = strawberry.field(description="The receiver's HTTP status; null when none came.")
    duration_ms: int
    response_excerpt: str | None = strawberry.field(description="The first 200 bytes of the answer at most.")
    error: str | None

    @classmethod
    def from_attempt(cls, a: Attempt) -> WebhookDeliveryAttempt:
        return cls(database_id=strawberry.ID(str(a.id)), message_id=f"msg_{a.message_id}", event_type=a.event_type,
                   attempted_at=a.attempted_at, status_code=a.status_code, duration_ms=a.duration_ms,
                   response_excerpt=a.response_excerpt, error=a.error)


@strawberry.input
class RegisterWebhookEndpointInput:
    url: str
    event_types: list[str]
    description: str = ""


@strawberry.type
class WebhookEndpointSecretPayload:
    endpoint: WebhookEndpoint | None = None
    secret: str | None = strawberry.field(default=None, description="whsec_...: shown this once, store it now.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReplayWebhookMessagePayload:
    queued: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)
