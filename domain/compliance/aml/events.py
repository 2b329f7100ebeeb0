"""The monitoring triggers of events that are not payments, called at each context's emission point
(in its transaction): a transfer out of a wallet, an exchange, a profile change, a sign-in from a new
country; trade batches (jobs/aml.py, from the outbox) and the schedule (the cron there).

Only a transfer into a trading account can be held: its wallet hold stays, the platform is not
called, and a case releases (the transfer goes on, through the `aml_resume_transfer` job) or declines
it (the hold released, the transfer failed). Money between the client's own wallets and exchanges
stays in the client's wallets, so they raise alerts without holding."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.compliance.aml import engine
from domain.shared.actor import Actor
from domain.shared.db import driver

TRANSFER_SUBJECT = "transfer:{}"


async def on_transfer_to_account(session: AsyncSession, actor: Actor, *, transfer_id: int, user_id: int,
                                 amount: Decimal, currency: str, hold_id: int | None) -> str:
    """Decide a wallet -> trading account transfer; returns "go", "held" or "declined". On block the
    decisions keep the transfer's wallet hold (`held`); on decline the caller fails the transfer."""
    verdict = await engine.decide_event(
        session, actor, trigger="transfer", user_id=user_id, subject=TRANSFER_SUBJECT.format(transfer_id),
        event={"amount": amount, "currency": currency, "direction": "withdrawal", "transfer_kind": "wallet_to_account"})
    if verdict.outcome == "decline":
        await engine.attach_hold(session, verdict.decision_ids, hold_id, "declined")
        return "declined"
    if verdict.outcome == "block":
        await engine.attach_hold(session, verdict.decision_ids, hold_id, "held")
        return "held"
    return "go"


async def on_transfer(session: AsyncSession, actor: Actor, *, user_id: int, subject: str, kind: str,
                      amount: Decimal, currency: str) -> None:
    """A transfer that keeps the money with the client (trading account -> wallet, wallet -> wallet)."""
    await engine.decide_event(session, actor, trigger="transfer", user_id=user_id, subject=subject,
                              event={"amount": amount, "currency": currency, "transfer_kind": kind})


async def on_exchange(session: AsyncSession, actor: Actor, *, user_id: int, subject: str, amount: Decimal,
                      currency: str, to_currency: str) -> None:
    await engine.decide_event(session, actor, trigger="exchange", user_id=user_id, subject=subject,
                              event={"amount": amount, "currency": currency, "to_currency": to_currency})


async def on_profile_change(session: AsyncSession, actor: Actor, *, user_id: int, client_id: int) -> None:
    await engine.decide_event(session, actor, trigger="profile_change", user_id=user_id,
                              subject=f"client:{client_id}", event={})


async def on_sign_in(session: AsyncSession, actor: Actor, *, user_id: int, session_id: int, country: str | None,
                     ip: str | None, device: str) -> None:
    """A sign-in whose session records a country the client never signed in from (and who has signed
    in from somewhere before: the first sign-in is no change)."""
    if not country:
        return
    conn = await driver(session)
    seen = await conn.fetch(
        "SELECT DISTINCT country FROM auth_sessions WHERE user_id = $1 AND country IS NOT NULL AND id <> $2",
        user_id, session_id)
    known = {r["country"] for r in seen}
    if not known or country in known:
        return
    await engine.decide_event(session, actor, trigger="login_country", user_id=user_id,
                              subject=f"session:{session_id}",
                              event={"country": country, "ip": ip, "device": device,
                                     "known_countries": ",".join(sorted(known))})


async def deal_batch_clients(session: AsyncSession, server_id: int, batch_id: str) -> list[dict[str, Any]]:
    """The clients whose deals one ingested batch brought, with their count and volume in it."""
    rows = await session.execute(text(
        "SELECT ta.user_id, count(*) AS n, sum(d.volume) AS volume FROM trading_deals d "
        "JOIN trading_accounts ta ON ta.server_id = d.server_id AND ta.login = d.login "
        "WHERE d.server_id = :s AND d.batch_id = CAST(:b AS uuid) AND ta.user_id IS NOT NULL "
        "GROUP BY ta.user_id ORDER BY ta.user_id"), {"s": server_id, "b": batch_id})
    return [{"user_id": r.user_id, "n": r.n, "volume": r.volume} for r in rows]


async def on_deal_batch(session: AsyncSession, actor: Actor, *, server_id: int, batch_id: str) -> int:
    """Every live trade-batch scenario per client of the batch (once: a delivered-again event finds
    its decisions). Returns the clients evaluated."""
    if not await engine.live_versions(session, "trade_batch"):
        return 0
    done = 0
    for c in await deal_batch_clients(session, server_id, batch_id):
        subject = f"deal_batch:{batch_id}:{c['user_id']}"
        if await session.scalar(text("SELECT 1 FROM aml_decisions WHERE subject = :s LIMIT 1"), {"s": subject}):
            continue
        await engine.decide_event(session, actor, trigger="trade_batch", user_id=int(c["user_id"]), subject=subject,
                                  event={"batch_deals": Decimal(c["n"]), "batch_volume": Decimal(c["volume"] or 0),
                                         "server_id": server_id})
        done += 1
    return done
