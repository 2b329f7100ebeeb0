"""Chargebacks and refunds against an original deposit: debit the wallet (into negative when the
money is gone, flagged for collections), credit the provider's clearing, keep a per-client history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.ledger.accounts import Purpose, house_account, wallet_for
from domain.ledger.posting import Leg, post
from domain.payments import repo, signals
from domain.payments.errors import DisputeExceedsPayment, PaymentNotFound
from domain.payments.repo import Payment
from domain.payments.status import Status, can_move
from domain.shared.actor import Actor
from domain.shared.errors import InvalidAmount, ValidationFailed
from domain.shared.money import quantize_exact
from domain.shared.pagination import Page, PageRequest, sql_page

KINDS = {"chargeback": Status.CHARGED_BACK, "refund": Status.REFUNDED}


@dataclass(frozen=True)
class Dispute:
    id: int
    payment_id: int
    kind: str
    case_id: str
    amount: Decimal
    currency: str
    reason: str
    negative_balance: bool
    created_at: datetime


async def record(session: AsyncSession, actor: Actor, payment: Payment, *, kind: str, amount: Decimal,
                 case_id: str, reason: str = "") -> Dispute:
    """Idempotent per (payment, kind, case id): a repeated notice returns the first record."""
    if kind not in KINDS:
        raise ValidationFailed("kind is chargeback or refund", field="kind")
    case_id = case_id.strip()
    if not case_id or len(case_id) > 200:
        raise ValidationFailed("a case id of 1 to 200 characters is required", field="caseId")
    existing = await _find(session, payment.id, kind, case_id)
    if existing is not None:
        return existing
    if payment.direction != "deposit" or payment.status not in (Status.SUCCEEDED, Status.REFUNDED):
        raise PaymentNotFound("only a succeeded deposit can be disputed or refunded", field="paymentId")
    amount = quantize_exact(amount, payment.currency, field="amount")
    if amount <= 0:
        raise InvalidAmount("amount must be positive", field="amount")
    disputed = Decimal(await session.scalar(text(
        "SELECT coalesce(sum(amount), 0) FROM payment_disputes WHERE payment_id = :p"), {"p": payment.id}) or 0)
    if disputed + amount > payment.amount:
        raise DisputeExceedsPayment(
            f"{(payment.amount - disputed).normalize():f} {payment.currency} is left to dispute", field="amount")
    wallet = await wallet_for(session, payment.user_id, payment.currency)
    clearing = (await house_account(session, Purpose.BANK, payment.currency) if payment.method_kind == "wire"
                else await house_account(session, Purpose.PSP_CLEARING, payment.currency, provider=payment.provider))
    entry = await post(session, actor, [Leg(wallet, amount, allow_negative=True), Leg(clearing, -amount)],
                       ref_kind=kind, ref_id=payment.reference,
                       idempotency_key=f"payment:{payment.id}:{kind}:{case_id}",
                       description=f"{kind} of {payment.reference}", details={"case_id": case_id})
    negative = entry.balances[wallet.id].balance < 0
    row = (await session.execute(text(
        "INSERT INTO payment_disputes (payment_id, user_id, kind, case_id, amount, currency, reason, entry_id, "
        "negative_balance) VALUES (:p, :u, :k, :c, :a, :cur, :r, :e, :n) RETURNING id, created_at"),
        {"p": payment.id, "u": payment.user_id, "k": kind, "c": case_id, "a": amount, "cur": payment.currency,
         "r": reason[:1000], "e": entry.id, "n": negative})).one()
    await audit.record(session, actor, action=f"payment.{kind}", entity_type="payment", entity_id=payment.id,
                       after={"case_id": case_id, "amount": str(amount), "entry_id": entry.id,
                              "negative_balance": negative}, reason=reason or None, category="payments")
    if can_move(payment.status, KINDS[kind]):
        await repo.move(session, actor, payment, KINDS[kind])
    if negative:
        await signals.raise_signal(session, user_id=payment.user_id, payment_id=payment.id, kind="negative_balance",
                                   details={"balance": str(entry.balances[wallet.id].balance), "kind": kind})
    return Dispute(int(row.id), payment.id, kind, case_id, amount, payment.currency, reason, negative,
                   row.created_at)


async def _find(session: AsyncSession, payment_id: int, kind: str, case_id: str) -> Dispute | None:
    r = (await session.execute(text(
        "SELECT id, payment_id, kind, case_id, amount, currency, reason, negative_balance, created_at "
        "FROM payment_disputes WHERE payment_id = :p AND kind = :k AND case_id = :c"),
        {"p": payment_id, "k": kind, "c": case_id})).first()
    return Dispute(*r) if r is not None else None


async def history(session: AsyncSession, user_id: int, page: PageRequest) -> Page[Dispute]:
    """The user's chargebacks and refunds, newest first."""
    return await sql_page(
        session, page, columns="id, payment_id, kind, case_id, amount, currency, reason, negative_balance, created_at",
        source="payment_disputes", where=["user_id = :u"], params={"u": user_id}, key=("created_at", "id"),
        descending=True, convert=lambda r: Dispute(*r))


async def by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, tuple[Dispute, int]]:
    """Disputes by id with their client's user id (for visibility), one statement."""
    rows = (await session.execute(text(
        "SELECT id, payment_id, kind, case_id, amount, currency, reason, negative_balance, created_at, user_id "
        "FROM payment_disputes WHERE id = ANY(:ids)"), {"ids": list(ids)})).all()
    return {r.id: (Dispute(*r[:9]), r.user_id) for r in rows}
