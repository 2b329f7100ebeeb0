"""Operational payment signals stored for compliance review (raised once per kind and payment): a crypto
transaction dropped after its deposit was credited or confirmed after it was cancelled, a chargeback into
a negative balance. Listed and reviewed by compliance (open -> escalated -> dismissed / confirmed, with a
note). The payment patterns that were signals here (payer name, high-risk and card countries, deposits
near the method's limit, quick withdrawals, withdrawals without trading) are transaction monitoring's
templates now (domain/compliance/aml/templates.py); their old rows stay listed and reviewable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import BigInteger, ColumnElement, DateTime, String, Text, func, select, text, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.payments.errors import SignalAlreadyReviewed, SignalNotFound
from domain.shared.db import Base
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page, PageRequest, select_page

if TYPE_CHECKING:
    from domain.shared.actor import Actor
    from domain.shared.pagination import Page


async def raise_signal(session: AsyncSession, *, user_id: int, payment_id: int | None, kind: str,
                       details: dict[str, Any] | None = None) -> None:
    await session.execute(text(
        "INSERT INTO payment_signals (user_id, payment_id, kind, details) VALUES (:u, :p, :k, CAST(:d AS jsonb)) "
        "ON CONFLICT DO NOTHING"),
        {"u": user_id, "p": payment_id, "k": kind, "d": orjson.dumps(details or {}).decode()})


# --- review --------------------------------------------------------------------------------------

STATUSES = ("open", "escalated", "dismissed", "confirmed")
# Where a review may go from each state: an escalated signal is still decided; a decided one stays.
NEXT: dict[str, frozenset[str]] = {"open": frozenset({"escalated", "dismissed", "confirmed"}),
                                   "escalated": frozenset({"dismissed", "confirmed"})}
MAX_NOTE = 2000


class PaymentSignal(Base):
    __tablename__ = "payment_signals"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    payment_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


@dataclass(frozen=True)
class SignalFilter:
    statuses: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    client_id: int | None = None


def _visible(actor: Actor) -> ColumnElement[bool]:
    """Desk scoping: a signal is seen by whoever sees its user's client (access.visible_filter);
    back office sees every signal, clientless ones included."""
    from domain.clients.access import is_back_office, visible_filter
    from domain.clients.models import Client

    if is_back_office(actor):
        return true()
    return PaymentSignal.user_id.in_(select(Client.user_id).where(visible_filter(actor)))


async def list_signals(session: AsyncSession, actor: Actor, criteria: SignalFilter,
                       page: PageRequest) -> Page[PaymentSignal]:
    from domain.clients.models import Client
    bad_status = [s for s in criteria.statuses if s not in STATUSES]
    if bad_status:
        raise ValidationFailed(f"status is one of {', '.join(STATUSES)}", field="status")
    stmt = select(PaymentSignal).where(_visible(actor))
    if criteria.statuses:
        stmt = stmt.where(PaymentSignal.status.in_(criteria.statuses))
    if criteria.kinds:
        stmt = stmt.where(PaymentSignal.kind.in_(criteria.kinds))
    if criteria.client_id is not None:
        stmt = stmt.where(PaymentSignal.user_id.in_(select(Client.user_id).where(Client.id == criteria.client_id)))
    return await select_page(session, page, stmt, (PaymentSignal.created_at, PaymentSignal.id), descending=True,
                             convert=lambda row: row)


async def signals_by_ids(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, PaymentSignal]:
    """The given signals the actor may see (desk scoping as list_signals), one statement."""
    rows = await session.scalars(select(PaymentSignal).where(PaymentSignal.id.in_(ids), _visible(actor)))
    return {r.id: r for r in rows}


async def review_signal(session: AsyncSession, actor: Actor, signal_id: int, *, decision: str,
                        note: str) -> PaymentSignal:
    """Escalate, dismiss or confirm a signal the actor may see (else not found), with a note."""
    from domain.audit.service import record
    from domain.shared.db import utcnow

    signal = await session.scalar(select(PaymentSignal).where(PaymentSignal.id == signal_id, _visible(actor))
                                  .with_for_update())
    if signal is None:
        raise SignalNotFound("signal not found", field="signalId")
    if decision not in ("escalated", "dismissed", "confirmed"):
        raise ValidationFailed("the decision is escalate, dismiss or confirm", field="decision")
    cleaned = note.strip()
    if not cleaned:
        raise ValidationFailed("say why: a review needs a note", field="note")
    if len(cleaned) > MAX_NOTE:
        raise ValidationFailed(f"a note is at most {MAX_NOTE} characters", field="note")
    if decision not in NEXT.get(signal.status, frozenset()):
        raise SignalAlreadyReviewed(f"this signal is already {signal.status}", field="signalId")
    before = signal.status
    signal.status, signal.review_note = decision, cleaned
    signal.reviewed_by, signal.reviewed_at = actor.user_id, utcnow()
    await session.flush()
    await record(session, actor, action="payment_signal.reviewed", entity_type="payment_signal",
                 entity_id=signal.id, before={"status": before}, after={"status": decision}, reason=cleaned,
                 category="general")
    return signal
