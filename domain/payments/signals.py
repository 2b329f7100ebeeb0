"""Suspicious-transaction signals stored for compliance review (raised once per kind and payment)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.payments.config import HIGH_RISK_COUNTRIES, NEAR_LIMIT_COUNT, NEAR_LIMIT_FRACTION, RAPID_WITHDRAWAL_S
from domain.payments.repo import Payment


async def raise_signal(session: AsyncSession, *, user_id: int, payment_id: int | None, kind: str,
                       details: dict[str, Any] | None = None) -> None:
    await session.execute(text(
        "INSERT INTO payment_signals (user_id, payment_id, kind, details) VALUES (:u, :p, :k, CAST(:d AS jsonb)) "
        "ON CONFLICT DO NOTHING"),
        {"u": user_id, "p": payment_id, "k": kind, "d": orjson.dumps(details or {}).decode()})


def _tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^a-z]+", name.lower()) if len(t) > 1}


def names_differ(payer: str, client: str) -> bool:
    """True when neither name shares a word with the other (order, case and initials ignored)."""
    a, b = _tokens(payer), _tokens(client)
    return bool(a and b) and not (a & b)


async def on_deposit_credited(session: AsyncSession, payment: Payment, *, max_amount: Decimal | None = None) -> None:
    uid, pid = payment.user_id, payment.id
    if payment.payer_name:
        client = await session.scalar(text("SELECT display_name FROM users WHERE id = :u"), {"u": uid}) or ""
        if names_differ(payment.payer_name, str(client)):
            await raise_signal(session, user_id=uid, payment_id=pid, kind="payer_name_mismatch",
                               details={"payer": payment.payer_name, "client": client})
    for country in {payment.country, payment.card_bin_country} & HIGH_RISK_COUNTRIES:
        await raise_signal(session, user_id=uid, payment_id=pid, kind="high_risk_country",
                           details={"country": country})
    if payment.card_bin_country and payment.country and payment.card_bin_country != payment.country:
        await raise_signal(session, user_id=uid, payment_id=pid, kind="card_bin_country_mismatch",
                           details={"bin_country": payment.card_bin_country, "country": payment.country})
    if max_amount is not None:
        near = await session.scalar(text(
            "SELECT count(*) FROM payments WHERE user_id = :u AND direction = 'deposit' AND method_code = :m "
            "AND currency = :c AND status = 'succeeded' AND created_at > now() - interval '1 day' "
            "AND amount >= :floor"),
            {"u": uid, "m": payment.method_code, "c": payment.currency, "floor": max_amount * NEAR_LIMIT_FRACTION})
        # Called after this deposit succeeded, so the count includes it.
        if int(near or 0) >= NEAR_LIMIT_COUNT and payment.amount >= max_amount * NEAR_LIMIT_FRACTION:
            await raise_signal(session, user_id=uid, payment_id=pid, kind="deposits_near_limit",
                               details={"count_24h": int(near or 0), "limit": str(max_amount)})


async def on_withdrawal_requested(session: AsyncSession, payment: Payment) -> None:
    uid = payment.user_id
    last = (await session.execute(text(
        "SELECT id, updated_at FROM payments WHERE user_id = :u AND direction = 'deposit' AND status = 'succeeded' "
        "ORDER BY updated_at DESC LIMIT 1"), {"u": uid})).first()
    if last is None:
        return
    if (payment.created_at - last.updated_at) < timedelta(seconds=RAPID_WITHDRAWAL_S):
        await raise_signal(session, user_id=uid, payment_id=payment.id, kind="rapid_in_out",
                           details={"deposit_payment_id": last.id})
    # Money that never went to a trading account since the deposit was not traded with.
    traded = await session.scalar(text(
        "SELECT count(*) FROM ledger_transfers WHERE user_id = :u AND direction = 'to_account' "
        "AND status = 'done' AND created_at >= :since"), {"u": uid, "since": last.updated_at})
    if not traded:
        await raise_signal(session, user_id=uid, payment_id=payment.id, kind="withdrawal_without_trading",
                           details={"deposit_payment_id": last.id})


async def signals_for(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    rows = (await session.execute(text(
        "SELECT kind, payment_id, details, created_at FROM payment_signals WHERE user_id = :u ORDER BY id"),
        {"u": user_id})).all()
    return [dict(r._mapping) for r in rows]
