"""Communication tracking: notes, calls, emails and messages per client (system emails are
recorded by domain.clients.emails), searchable by staff with full-text search."""

from __future__ import annotations

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.access import visible_filter
from domain.clients.models import Client, Communication
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed

KINDS = ("note", "call", "email", "message")
DIRECTIONS = ("in", "out", "internal")


async def log(session: AsyncSession, actor: Actor, client: Client, *, kind: str, body: str, subject: str = "",
              direction: str = "internal") -> Communication:
    if kind not in KINDS or direction not in DIRECTIONS:
        raise ValidationFailed("kind is note, call, email or message; direction in, out or internal", field="kind")
    if not body.strip() or len(body) > 20_000:
        raise ValidationFailed("the text is required (at most 20,000 characters)", field="body")
    row = Communication(client_id=client.id, kind=kind, direction=direction, subject=subject.strip()[:200],
                        body=body.strip(), author_user_id=actor.user_id)
    session.add(row)
    await session.flush()
    await record(session, actor, action="client.communication_logged", entity_type="client", entity_id=client.id,
                 after={"communication_id": row.id, "kind": kind}, category="general")
    return row


async def for_client(session: AsyncSession, client_id: int, limit: int = 100) -> list[Communication]:
    return list(await session.scalars(select(Communication).where(Communication.client_id == client_id)
                                      .order_by(Communication.id.desc()).limit(limit)))


async def search(session: AsyncSession, actor: Actor, query: str, limit: int = 50) -> list[Communication]:
    """Communications matching every word of the query, on clients the actor may see."""
    if not query.strip():
        return []
    tsq = func.plainto_tsquery("simple", query)
    visible = select(Client.id).where(visible_filter(actor))
    return list(await session.scalars(
        select(Communication).where(Communication.client_id.in_(visible),
                                    literal_column("client_communications.search").op("@@")(tsq))
        .order_by(Communication.id.desc()).limit(limit)))
