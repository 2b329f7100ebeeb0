"""Assigning a client to a desk (the desk staff scoped to it see the client: access.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.errors import DeskInvalid
from domain.clients.models import Client
from domain.shared.actor import Actor
from domain.shared.db import utcnow

MAX_DESK = 64


def clean_desk(desk: str | None) -> str | None:
    """A desk name is 1-64 printable characters (surrounding spaces dropped); None clears it."""
    if desk is None:
        return None
    cleaned = desk.strip()
    if not cleaned or len(cleaned) > MAX_DESK or not cleaned.isprintable():
        raise DeskInvalid(f"a desk is 1 to {MAX_DESK} printable characters (or null for no desk)", field="desk")
    return cleaned


async def assign_desk(session: AsyncSession, actor: Actor, client: Client, desk: str | None, *,
                      reason: str = "") -> Client:
    new = clean_desk(desk)
    before = client.desk
    if new == before:
        return client
    client.desk, client.updated_at = new, utcnow()
    await session.flush()
    await record(session, actor, action="client.desk_assigned", entity_type="client", entity_id=client.id,
                 before={"desk": before}, after={"desk": new}, reason=reason.strip()[:2000] or None,
                 category="general")
    return client
