"""Communication tracking: notes, calls, emails and messages per client (system emails are
recorded by domain.clients.emails), searchable by staff with full-text search."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.access import visible_filter
from domain.clients.models import Client, Communication
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page, PageRequest, select_page

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


async def for_client(session: AsyncSession, client_id: int, page: PageRequest) -> Page[Communication]:
    """One client's communications, newest first."""
    return await select_page(session, page, select(Communication).where(Communication.client_id == client_id),
                             (Communication.created_at, Communication.id), descending=True, convert=lambda row: row)


@dataclass(frozen=True)
class SearchFilter:
    """Every given criterion must hold: all words of `text` (subject or body), one client, any of
    `kinds`, created in [since, until)."""

    text: str = ""
    client_id: int | None = None
    kinds: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValidationFailed("give the time with a UTC offset", field=field)
    return value


async def search(session: AsyncSession, actor: Actor, criteria: SearchFilter,
                 page: PageRequest) -> Page[Communication]:
    """Communications (notes, calls, emails incl. system emails, messages) on clients the actor may
    see, newest first, one keyset page."""
    if len(criteria.text) > 200:
        raise ValidationFailed("the search text is at most 200 characters", field="query")
    unknown = [k for k in criteria.kinds if k not in KINDS]
    if unknown:
        raise ValidationFailed(f"kinds are among {', '.join(KINDS)}", field="kinds")
    since, until = _aware(criteria.since, "since"), _aware(criteria.until, "until")
    if since is not None and until is not None and since >= until:
        raise ValidationFailed("the end of the period comes after its start", field="until")
    visible = select(Client.id).where(visible_filter(actor))
    stmt = select(Communication).where(Communication.client_id.in_(visible))
    if criteria.text.strip():
        tsq = func.plainto_tsquery("simple", criteria.text)
        stmt = stmt.where(literal_column("client_communications.search").op("@@")(tsq))
    if criteria.client_id is not None:
        stmt = stmt.where(Communication.client_id == criteria.client_id)
    if criteria.kinds:
        stmt = stmt.where(Communication.kind.in_(criteria.kinds))
    if since is not None:
        stmt = stmt.where(Communication.created_at >= since)
    if until is not None:
        stmt = stmt.where(Communication.created_at < until)
    return await select_page(session, page, stmt, (Communication.created_at, Communication.id), descending=True,
                             convert=lambda row: row)
