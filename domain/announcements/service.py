"""Announcements: staff broadcast a message; every connected portal receives it live."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.announcements.models import Announcement
from domain.audit.service import record
from domain.events.outbox import emit
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page, PageRequest, select_page

TOPIC_POSTED = "announcement.posted"
MAX_TITLE = 120
MAX_BODY = 4000


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


def _validate(title: str, body: str) -> tuple[str, str]:
    title, body = title.strip(), body.strip()
    if not title or len(title) > MAX_TITLE:
        raise ValidationFailed(f"title must be 1 to {MAX_TITLE} characters", field="title")
    if not body or len(body) > MAX_BODY:
        raise ValidationFailed(f"body must be 1 to {MAX_BODY} characters", field="body")
    return title, body


async def post_announcement(
    session: AsyncSession, actor: Actor, *, title: str, body: str, severity: Severity
) -> Announcement:
    title, body = _validate(title, body)
    row = Announcement(title=title, body=body, severity=severity.value, posted_by=actor.label)
    session.add(row)
    await session.flush()
    await session.refresh(row, ["created_at"])
    await emit(
        session,
        TOPIC_POSTED,
        {"id": row.id, "title": title, "body": body, "severity": severity.value,
         "created_at": row.created_at.isoformat()},
    )
    await record(session, actor, action="announcement.posted", entity_type="announcement", entity_id=row.id,
                 after={"title": title, "body": body, "severity": severity.value})
    return row


async def list_announcements(session: AsyncSession, page: PageRequest) -> Page[Announcement]:
    """Newest first, keyset-paginated on (created_at, id)."""
    return await select_page(session, page, select(Announcement), (Announcement.created_at, Announcement.id),
                             descending=True, convert=lambda row: row)
