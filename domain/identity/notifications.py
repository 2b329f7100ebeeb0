"""In-app notifications kept per user, so what was read is the same on every device and after a reload.

`sessions.notify` stores one and announces it (the `notifications` subscription carries its id); the owner lists
them, counts the unread ones and marks one or all read. A read mark is the user's own view state, with no effect
on money, access or compliance: it is not audited (the notification itself is announced through the outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.actor import Actor
from domain.shared.db import Base, driver
from domain.shared.errors import NotFound
from domain.shared.pagination import Page, PageRequest, select_page


class NotificationRow(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


async def store(session: AsyncSession, user_id: int, kind: str, message: str,
                details: dict[str, str]) -> tuple[int, datetime]:
    """Keep a notification (one statement on the transaction's connection: a deposit's credit calls this)."""
    row = await (await driver(session)).fetchrow(
        "INSERT INTO notifications (user_id, kind, message, details) VALUES ($1, $2, $3, $4::jsonb) "
        "RETURNING id, created_at", user_id, kind, message, orjson.dumps(details).decode())
    assert row is not None
    return int(row["id"]), row["created_at"]


async def list_for(session: AsyncSession, user_id: int, page: PageRequest, *,
                   unread_only: bool = False) -> Page[NotificationRow]:
    """The user's notifications, newest first."""
    stmt = select(NotificationRow).where(NotificationRow.user_id == user_id)
    if unread_only:
        stmt = stmt.where(NotificationRow.read_at.is_(None))
    return await select_page(session, page, stmt, (NotificationRow.created_at, NotificationRow.id),
                             descending=True, convert=lambda row: row)


async def unread_count(session: AsyncSession, user_id: int) -> int:
    return int(await session.scalar(select(func.count()).select_from(NotificationRow).where(
        NotificationRow.user_id == user_id, NotificationRow.read_at.is_(None))) or 0)


async def owned_by_ids(session: AsyncSession, user_id: int, ids: Sequence[int]) -> list[NotificationRow]:
    """The user's notifications among `ids` (another user's are simply absent)."""
    return list(await session.scalars(select(NotificationRow).where(
        NotificationRow.user_id == user_id, NotificationRow.id.in_(ids))))


async def mark_read(session: AsyncSession, actor: Actor, notification_id: int) -> NotificationRow:
    """Mark one of the caller's notifications read; one already read keeps when it was first read.
    Anyone else's, or none, is NOT_FOUND (existence never leaks)."""
    row = await session.scalar(select(NotificationRow).where(
        NotificationRow.id == notification_id, NotificationRow.user_id == (actor.user_id or -1)).with_for_update())
    if row is None:
        raise NotFound("no such notification", field="id")
    if row.read_at is None:
        row.read_at = await session.scalar(select(func.now()))
        await session.flush()
    return row


async def mark_all_read(session: AsyncSession, actor: Actor) -> int:
    """Mark every unread notification of the caller read; how many were."""
    return int(await (await driver(session)).fetchval(
        "WITH marked AS (UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL "
        "RETURNING 1) SELECT count(*) FROM marked", actor.user_id or -1))
