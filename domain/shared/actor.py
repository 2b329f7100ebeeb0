"""Who is acting: carried from the edge (HTTP request, job) into every service call."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ActorKind(StrEnum):
    ANONYMOUS = "anonymous"
    CLIENT = "client"
    IB = "ib"
    STAFF = "staff"
    API_TOKEN = "api_token"  # noqa: S105 - an enum label, not a secret
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    user_id: int | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    ip: str | None = None
    user_agent: str | None = None
    correlation_id: str | None = None
    # Set for API tokens: the token's id and scopes.
    token_id: int | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    # When the session's last fresh 2FA code was given (epoch seconds), for step-up checks.
    stepped_up_at: float | None = None
    session_id: int | None = None
    # Epoch seconds when the access token expires: long-lived subscriptions end then.
    expires_at: int | None = None
    # Sales staff scoped to a desk/region see only that desk's clients.
    desk: str | None = None
    mfa_enrolled: bool = False

    @property
    def is_authenticated(self) -> bool:
        return self.kind not in (ActorKind.ANONYMOUS,)

    def has(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def label(self) -> str:
        return f"{self.kind.value}:{self.user_id}" if self.user_id is not None else self.kind.value


ANONYMOUS = Actor(ActorKind.ANONYMOUS)


def system_actor(job: str, correlation_id: str | None = None) -> Actor:
    return Actor(ActorKind.SYSTEM, correlation_id=correlation_id or job)
