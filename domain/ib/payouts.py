"""Payouts: what an IB is owed moves from its payable account to its wallet, once per cycle period.

Each IB has a cycle (daily, weekly, monthly), a minimum and a review hold. A run for a period
pays what was payable at the period's end, less what earlier payouts took and what is held.
The (IB, currency, period) row is claimed first (a unique constraint), and the ledger entry's
idempotency key is `ib.payout:<ib>:<currency>:<period>`, so a repeated or concurrent run pays once.
A held payout moves no money until staff with ib.payouts approve it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.ib.accrual import payable_accounts
from domain.ib.errors import PayoutExceedsPayable, PayoutNotFound, PayoutNotHeld
from domain.ib.portal import Partner, partner
from domain.identity import four_eyes
from domain.ledger.accounts import wallet_for
from domain.ledger.posting import Leg, post
from domain.shared.actor import Actor
from domain.shared.money import round_to


@dataclass(frozen=True)
class Period:
    key: str  # "2025-01-14", "2025-W03" or "2025-01"
    start: datetime
    end: datetime


def last_closed_period(cycle: str, now: datetime) -> Period:
    """The most recent period of `cycle` that has ended at `now` (UTC)."""
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    if cycle == "daily":
        start = today - timedelta(days=1)
        return Period(start.date().isoformat(), start, today)
    if cycle == "weekly":
        end = today - timedelta(days=today.weekday())  # this week's Monday
        start = end - timedelta(days=7)
        year, week, _ = start.isocalendar()
        return Period(f"{year}-W{week:02d}", start, end)
    end = today.replace(day=1)
    start = (end - timedelta(days=1)).replace(day=1)
    return Period(f"{start.year}-{start.month:02d}", start, end)


@dataclass(frozen=True)
class Payout:
    id: int
    ib_id: int
    currency: str
    period_key: str
    amount: Decimal
    status: str
    entry_id: int | None
    created_at: datetime
    paid_at: datetime | None


_COLS = "id, ib_id, currency, period_key, amount, status, entry_id, created_at, paid_at"


def _payout(r: object) -> Payout:
    m = r._mapping  # type: ignore[attr-defined]
    return Payout(int(m["id"]), int(m["ib_id"]), m["currency"], m["period_key"], Decimal(m["amount"]), m["status"],
                  m["entry_id"], m["created_at"], m["paid_at"])


# Owed at the period's end (credits are negative on the liability), less every payout already
# posted (also those after the end) and what is held for review.
_DUE = text(
    """
    SELECT coalesce(-sum(p.amount) FILTER (WHERE e.created_at < :end OR e.ref_kind = 'ib_payout'), 0)
           - (SELECT coalesce(sum(amount), 0) FROM ib_payouts WHERE ib_id = :ib AND currency = :cur
              AND status = 'held') AS due
    FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id
    WHERE p.account_id = :acc
    """
)


async def _pay(session: AsyncSession, actor: Actor, payout_id: int, ib_id: int, currency: str, period_key: str,
               amount: Decimal) -> int:
    payable = (await payable_accounts(session, currency, [ib_id]))[ib_id]
    wallet = await wallet_for(session, ib_id, currency)
    entry = await post(session, actor, [Leg(payable, amount), Leg(wallet, -amount)], ref_kind="ib_payout",
                       ref_id=str(payout_id), idempotency_key=f"ib.payout:{ib_id}:{currency}:{period_key}",
                       description=f"IB payout {period_key}", details={"payout_id": payout_id})
    await session.execute(text("UPDATE ib_payouts SET status = 'paid', entry_id = :e, paid_at = now() WHERE id = :id"),
                          {"e": entry.id, "id": payout_id})
    return entry.id


async def run_for_ib(session: AsyncSession, actor: Actor, ib_id: int, *, now: datetime) -> list[Payout]:
    """Pay (or hold) the IB's last closed period in every currency it has a payable in. Never commits."""
    p: Partner = await partner(session, ib_id)
    period = last_closed_period(p.payout_cycle, now)
    # Serialises runs for one IB (job + manual) so `due` is read and paid atomically.
    await session.execute(text("SELECT 1 FROM ib_partners WHERE user_id = :id FOR UPDATE"), {"id": ib_id})
    accounts = (await session.execute(text(
        "SELECT id, currency FROM ledger_accounts WHERE purpose = 'ib_payable' AND owner_id = :ib ORDER BY currency"),
        {"ib": ib_id})).all()
    out: list[Payout] = []
    for acc in accounts:
        cur = str(acc.currency)
        existing = (await session.execute(text(
            f"SELECT {_COLS} FROM ib_payouts WHERE ib_id = :ib AND currency = :c AND period_key = :k"),  # noqa: S608
            {"ib": ib_id, "c": cur, "k": period.key})).first()
        if existing is not None:  # this period already ran: a repeat changes nothing
            out.append(_payout(existing))
            continue
        due = round_to(Decimal(await session.scalar(_DUE, {"end": period.end, "ib": ib_id, "cur": cur,
                                                            "acc": acc.id}) or 0), cur)
        if due <= 0 or due < p.payout_min:
            continue
        status = "held" if p.payout_hold else "paid"
        pid = int(await session.scalar(text(
            "INSERT INTO ib_payouts (ib_id, currency, period_key, amount, status) VALUES (:ib, :c, :k, :a, 'held') "
            "RETURNING id"), {"ib": ib_id, "c": cur, "k": period.key, "a": due}))
        if status == "paid":
            await _pay(session, actor, pid, ib_id, cur, period.key, due)
        await record(session, actor, action="ib.payout_created", entity_type="ib_payout", entity_id=pid,
                     after={"ib_id": ib_id, "currency": cur, "period": period.key, "amount": str(due),
                            "status": status})
        row = (await session.execute(text(f"SELECT {_COLS} FROM ib_payouts WHERE id = :id"),  # noqa: S608
                                     {"id": pid})).one()
        out.append(_payout(row))
    return out


async def approve(session: AsyncSession, actor: Actor, payout_id: int, *, reason: str = "") -> Payout:
    """Staff release a held payout: the money moves now, if the payable still covers it."""
    row = (await session.execute(text(
        f"SELECT {_COLS} FROM ib_payouts WHERE id = :id FOR UPDATE"), {"id": payout_id})).first()  # noqa: S608
    if row is None:
        raise PayoutNotFound("no such payout", field="payoutId")
    held = _payout(row)
    if held.status != "held":
        raise PayoutNotHeld("this payout is not held for review", field="payoutId")
    # The release is the payout's second pair of eyes: never the IB paid, nor staff related to them.
    if actor.user_id == held.ib_id:
        raise four_eyes.SelfApproval("you cannot release your own payout", field="payoutId")
    if actor.user_id is not None:
        await four_eyes.require_independent(session, actor.user_id, [held.ib_id], field="payoutId")
    payable = (await payable_accounts(session, held.currency, [held.ib_id]))[held.ib_id]
    balance = -Decimal(await session.scalar(text(
        "SELECT coalesce(sum(amount), 0) FROM ledger_postings WHERE account_id = :a"), {"a": payable.id}) or 0)
    if balance < held.amount:  # a clawback since the hold reduced what is owed
        raise PayoutExceedsPayable("the IB's payable no longer covers this payout", field="payoutId")
    entry_id = await _pay(session, actor, held.id, held.ib_id, held.currency, held.period_key, held.amount)
    await record(session, actor, action="ib.payout_approved", entity_type="ib_payout", entity_id=held.id,
                 before={"status": "held"}, after={"status": "paid", "entry_id": entry_id}, reason=reason or None)
    row = (await session.execute(text(f"SELECT {_COLS} FROM ib_payouts WHERE id = :id"),  # noqa: S608
                                 {"id": held.id})).one()
    return _payout(row)


async def list_for(session: AsyncSession, ib_id: int, *, limit: int = 100) -> list[Payout]:
    rows = (await session.execute(text(
        f"SELECT {_COLS} FROM ib_payouts WHERE ib_id = :ib ORDER BY created_at DESC, id DESC LIMIT :n"),  # noqa: S608
        {"ib": ib_id, "n": limit})).all()
    return [_payout(r) for r in rows]


async def due_ibs(session: AsyncSession) -> list[int]:
    """Approved IBs with a payable account: the payout job visits each once per run."""
    rows = (await session.execute(text(
        "SELECT DISTINCT p.user_id FROM ib_partners p JOIN ledger_accounts a ON a.owner_id = p.user_id "
        "AND a.purpose = 'ib_payable' WHERE p.status = 'approved' ORDER BY 1"))).all()
    return [int(r[0]) for r in rows]
