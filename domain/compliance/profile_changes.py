"""A client's audited profile changes with their content, for a compliance officer.

A profile change's audit event carries the personal values only sealed under the client's own key
(domain/retention/identity.py), so the audit trail alone shows that something changed, not what.
This opens them for staff who may see the client (desk scoping of domain.clients.access, the rule of
domain/compliance/aml/scope.py): who changed the profile, when, and each changed field before and
after. The opening is itself audited (which events were read, by whom). Once the client's key was
destroyed (crypto-shredding) nothing can be opened: CLIENT_DATA_ERASED, and nothing is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.models import AuditEvent
from domain.audit.service import record
from domain.clients.access import client_for
from domain.identity.models import User
from domain.retention import keys
from domain.retention.errors import ClientKeyDestroyed
from domain.retention.identity import open_audit_value
from domain.shared.actor import Actor
from domain.shared.db import driver
from domain.shared.errors import ValidationFailed
from domain.shared.settings import Settings

ACTION = "client.profile_updated"
MAX_CHANGES = 200


@dataclass(frozen=True)
class FieldChange:
    field: str  # dotted path into the identity data: first_name, profile.address.city, ...
    before: Any
    after: Any


@dataclass(frozen=True)
class ProfileChange:
    event_id: int
    occurred_at: datetime
    actor_kind: str
    actor_user_id: int | None
    actor_name: str | None  # the user's display name (staff or the client themselves)
    fields: list[FieldChange]


def _leaves(value: Any, path: str, out: dict[str, Any]) -> dict[str, Any]:
    """Nested objects flattened to dotted paths; lists and scalars are leaves (a list changes as a whole)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _leaves(v, f"{path}.{k}" if path else str(k), out)
    elif path:
        out[path] = value
    return out


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    old, new = _leaves(before, "", {}), _leaves(after, "", {})
    return [FieldChange(field=p, before=old.get(p), after=new.get(p))
            for p in sorted(old.keys() | new.keys()) if old.get(p) != new.get(p)]


async def _erased(session: AsyncSession, client_id: int) -> bool:
    row = await (await driver(session)).fetchrow("SELECT wrapped FROM client_keys WHERE client_id = $1", client_id)
    return row is not None and row["wrapped"] is None


async def unseal_profile_changes(session: AsyncSession, settings: Settings, actor: Actor, client_id: int, *,
                                 first: int = 50) -> tuple[list[ProfileChange], bool]:
    """The client's profile changes newest first (at most `first`) and whether older ones remain.

    CLIENT_NOT_FOUND for a client the actor may not see; CLIENT_DATA_ERASED once the key is destroyed."""
    if not 1 <= first <= MAX_CHANGES:
        raise ValidationFailed(f"first must be 1 to {MAX_CHANGES}", field="first")
    client = await client_for(session, actor, client_id)
    if await _erased(session, client.id):
        raise ClientKeyDestroyed("this client's personal data was erased: their profile changes cannot be read",
                                 field="clientId")
    events = list((await session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "client", AuditEvent.entity_id == str(client.id),
                                 AuditEvent.action == ACTION)
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(first + 1))).all())
    more = len(events) > first
    events = events[:first]
    data_key = await keys.existing_key(session, settings, client.id) if events else None

    def opened(side: dict[str, Any] | None) -> dict[str, Any]:
        sealed = (side or {}).get("sealed")
        return open_audit_value(data_key, client.id, sealed) if data_key is not None and sealed else {}

    who = {e.actor_user_id for e in events if e.actor_user_id is not None}
    names = dict((await session.execute(select(User.id, User.display_name).where(User.id.in_(who)))).all()) \
        if who else {}
    changes = [ProfileChange(event_id=e.id, occurred_at=e.occurred_at, actor_kind=e.actor_kind,
                             actor_user_id=e.actor_user_id,
                             actor_name=names.get(e.actor_user_id) if e.actor_user_id is not None else None,
                             fields=changed_fields(opened(e.before), opened(e.after)))
               for e in events]
    await record(session, actor, action="client.profile_changes_unsealed", entity_type="client", entity_id=client.id,
                 after={"audit_event_ids": [c.event_id for c in changes]}, category="compliance")
    return changes, more
