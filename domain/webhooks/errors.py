from __future__ import annotations

from domain.shared.errors import DomainError


class WebhookUrlRefused(DomainError):
    """The URL is not one webhooks may be sent to: not http(s), or a non-public address (SSRF guard)."""

    code = "WEBHOOK_URL_REFUSED"


class UnknownEventType(DomainError):
    code = "UNKNOWN_EVENT_TYPE"
