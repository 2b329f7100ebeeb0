"""Transactional outbox.

`emit()` writes an event in the caller's transaction, so it exists if and only if the change it
announces committed. The worker's relay publishes committed rows to Redis pub/sub (subscriptions)
and enqueues arq jobs, then marks them published. Delivery is at least once: consumers dedupe by
event id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, DateTime, Integer, String, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base, driver


class OutboxEvent(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    topic: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # When set, the relay also enqueues this arq job with the event as its argument.
    job: Mapped[str | None] = mapped_column(String(120), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))


@dataclass(frozen=True)
class PendingEvent:
    id: int
    topic: str
    payload: dict[str, Any]
    job: str | None
    created_at: datetime


async def emit(session: AsyncSession, topic: str, payload: dict[str, Any], *, job: str | None = None) -> int:
    """Record an event in the current transaction; returns its id (one statement, no ORM flush)."""
    return int(await (await driver(session)).fetchval(
        "INSERT INTO outbox (topic, payload, job) VALUES ($1, $2::jsonb, $3) RETURNING id",
        topic, orjson.dumps(payload).decode(), job))


async def claim_batch(session: AsyncSession, limit: int) -> list[PendingEvent]:
    """Lock the oldest unpublished events; concurrent relays skip each other's rows."""
    rows = (
        await session.execute(
            select(OutboxEvent)
            .where(OutboxEvent.published_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).scalars()
    return [PendingEvent(r.id, r.topic, r.payload, r.job, r.created_at) for r in rows]


async def mark_published(session: AsyncSession, ids: list[int]) -> None:
    if ids:
        await session.execute(
            update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(published_at=func.now())
        )


async def oldest_pending_age_seconds(session: AsyncSession) -> float:
    age = await session.scalar(
        select(func.extract("epoch", func.now() - func.min(OutboxEvent.created_at))).where(
            OutboxEvent.published_at.is_(None)
        )
    )
    return float(age or 0.0)


async def purge_published(session: AsyncSession, older_than_days: int) -> int:
    result = await session.execute(
        text(
            "DELETE FROM outbox WHERE published_at IS NOT NULL "
            "AND published_at < now() - make_interval(days => :days)"
        ),
        {"days": older_than_days},
    )
    return int(getattr(result, "rowcount", 0) or 0)
