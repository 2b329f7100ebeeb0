"""The client status state machine: allowed transitions, each recorded in the status history and
the audit trail with actor and reason; anything else is refused with INVALID_STATUS_TRANSITION."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.errors import InvalidTransition
from domain.clients.models import Client, StatusChange
from domain.shared.actor import Actor
from domain.shared.db import utcnow
from domain.shared.pagination import Page, PageRequest, select_page


class Status(StrEnum):
    LEAD = "lead"
    REGISTERED = "registered"
    EMAIL_VERIFIED = "email_verified"
    PROFILE_COMPLETE = "profile_complete"
    DOCUMENTS_SUBMITTED = "documents_submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    MORE_INFO_REQUIRED = "more_info_required"
    ACTIVE = "active"
    DORMANT = "dormant"
    CLOSED = "closed"
    BLOCKED = "blocked"


S = Status
_ONBOARDING = {S.LEAD, S.REGISTERED, S.EMAIL_VERIFIED, S.PROFILE_COMPLETE, S.DOCUMENTS_SUBMITTED,
               S.MORE_INFO_REQUIRED}
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.LEAD: frozenset({S.REGISTERED, S.CLOSED}),
    S.REGISTERED: frozenset({S.EMAIL_VERIFIED, S.CLOSED, S.BLOCKED}),
    S.EMAIL_VERIFIED: frozenset({S.PROFILE_COMPLETE, S.CLOSED, S.BLOCKED}),
    # REJECTED / MORE_INFO_REQUIRED before review: a KYC provider's final or retry verdict.
    S.PROFILE_COMPLETE: frozenset({S.DOCUMENTS_SUBMITTED, S.REJECTED, S.CLOSED, S.BLOCKED}),
    S.DOCUMENTS_SUBMITTED: frozenset({S.UNDER_REVIEW, S.MORE_INFO_REQUIRED, S.REJECTED, S.CLOSED, S.BLOCKED}),
    S.UNDER_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.MORE_INFO_REQUIRED, S.BLOCKED}),
    S.MORE_INFO_REQUIRED: frozenset({S.UNDER_REVIEW, S.REJECTED, S.CLOSED, S.BLOCKED}),
    S.APPROVED: frozenset({S.ACTIVE, S.CLOSED, S.BLOCKED}),
    S.ACTIVE: frozenset({S.DORMANT, S.CLOSED, S.BLOCKED}),
    S.DORMANT: frozenset({S.ACTIVE, S.CLOSED, S.BLOCKED}),
    S.REJECTED: frozenset({S.CLOSED}),
    S.BLOCKED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}
# Steps a client may still edit (profile, documents, questionnaire) in these states.
EDITABLE = frozenset(_ONBOARDING - {S.LEAD, S.REGISTERED})


def can(current: str, target: Status) -> bool:
    return target in TRANSITIONS.get(Status(current), frozenset())


def require_status(client: Client, allowed: frozenset[Status] | set[Status], action: str) -> None:
    if Status(client.status) not in allowed:
        raise InvalidTransition(f"cannot {action} while the client is {client.status}", field="status")


async def transition(session: AsyncSession, actor: Actor, client: Client, target: Status, *, reason: str) -> None:
    """Move the client to `target` or raise InvalidTransition; records history and audit."""
    current = client.status
    if not can(current, target):
        raise InvalidTransition(f"a {current} client cannot become {target.value}", field="status")
    client.status = target.value
    client.updated_at = utcnow()
    session.add(StatusChange(client_id=client.id, from_status=current, to_status=target.value,
                             actor_kind=actor.kind.value, actor_user_id=actor.user_id, reason=reason[:2000]))
    await record(session, actor, action="client.status_changed", entity_type="client", entity_id=client.id,
                 before={"status": current}, after={"status": target.value}, reason=reason, category="general")


async def start(session: AsyncSession, actor: Actor, client: Client, reason: str) -> None:
    """The first history row of a new client (no transition to check)."""
    session.add(StatusChange(client_id=client.id, from_status=None, to_status=client.status,
                             actor_kind=actor.kind.value, actor_user_id=actor.user_id, reason=reason))
    await record(session, actor, action="client.created", entity_type="client", entity_id=client.id,
                 after={"status": client.status, "kind": client.kind}, reason=reason, category="general")


async def history(session: AsyncSession, client_id: int, page: PageRequest) -> Page[StatusChange]:
    """A client's status changes in the order they happened (ix_client_status_history_client)."""
    return await select_page(session, page, select(StatusChange).where(StatusChange.client_id == client_id),
                             (StatusChange.id,), descending=False, convert=lambda row: row)
