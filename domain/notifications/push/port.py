"""What a push provider is to the rest of the code: one message to one device token, one classified answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

ANSWER_EXCERPT = 300  # the provider's answer kept in the delivery log, at most


class Outcome(StrEnum):
    SENT = "sent"
    DEAD_TOKEN = "dead_token"  # noqa: S105 (a status, not a secret): the provider says the token will never work again: remove the device
    RETRY = "retry"  # 5xx, 429, a transport failure or an expired credential: try again later
    FAILED = "failed"  # refused for good (a malformed message, a wrong topic): retrying will not help


@dataclass(frozen=True)
class PushMessage:
    token: str
    title: str
    body: str
    message_id: str  # a UUID: APNs' apns-id, FCM's data "message_id"; the same on every retry
    expires_at: int  # Unix seconds: after this the provider stops trying to reach the device
    data: dict[str, str] = field(default_factory=dict)
    collapse_id: str | None = None


@dataclass(frozen=True)
class PushResult:
    outcome: Outcome
    status: int  # the HTTP status; 0 when no answer came
    answer: str = ""  # the provider's reason, an excerpt
    provider_message_id: str | None = None
    retry_after_s: float | None = None


class PushPort(Protocol):
    provider: str

    async def send(self, message: PushMessage) -> PushResult: ...

    async def aclose(self) -> None: ...


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by either provider)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
