"""Payouts: what an IB is owed moves from its payable account to its wallet, once per cycle period.

Each IB has a cycle (daily, weekly, monthly), a minimum and a review hold. A run for a period
pays what was payable at the period's end, less what earlier payouts took and what is held.
The (IB, currency, period) row is claimed first (a unique constraint), and the ledger entry's
idempotency key is `ib.payout:<ib>:<currency>:<period>`, so a repeated or concurrent run pays once.
A held payout moves no money until staff with ib.payouts approve it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.ib.accrual import payable_accounts
from domain.ib.errors import (
    PayoutExceedsPayable,
    PayoutNotFound,
    PayoutNotHeld,
    PeriodCycleMismatch,
    PeriodInvalid,
    PeriodNotClosed,
)
from domain.ib.portal import Partner, partner
from domain.identity import four_eyes
from domain.ledger.accounts import wallet_for
from domain.ledger.posting import Leg, post
from domain.shared.actor import Actor
from domain.shared.money import round_to
from domain.shared.pagination import Page, PageRequest, sql_page


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


INSTANT = "instant"


def parse_period(key: str) -> tuple[str, Period]:
    """(cycle, period) of a period key: a day "2025-01-14", an ISO week "2025-W03", a month "2025-01",
    or an instant "2025-01-14T10:30:00Z" (an on-demand run: everything accrued before it, whatever the
    IB's cycle; stored as "20250114T103000Z"). Dues are cumulative (accrued before the end, less every
    payout), so a run up to an instant and the IB's next cyclic run never pay the same money twice."""
    key = key.strip() if isinstance(key, str) else ""
    try:
        if "T" in key:
            for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y%m%dT%H%M%SZ"):
                with contextlib.suppress(ValueError):
                    at = datetime.strptime(key, fmt).replace(tzinfo=UTC)
                    return INSTANT, Period(at.strftime("%Y%m%dT%H%M%SZ"), at, at)
        if len(key) == 10:
            start = datetime.strptime(key, "%Y-%m-%d").replace(tzinfo=UTC)
            return "daily", Period(start.date().isoformat(), start, start + timedelta(days=1))
        if len(key) == 8 and key[4:6] == "-W":
            start = datetime.fromisocalendar(int(key[:4]), int(key[6:]), 1).replace(tzinfo=UTC)
            year, week, _ = start.isocalendar()
            return "weekly", Period(f"{year}-W{week:02d}", start, start + timedelta(days=7))
        if len(key) == 7:
            start = datetime.strptime(key, "%Y-%m").replace(tzinfo=UTC)
            end = (start + timedelta(days=32)).replace(day=1)
            return "monthly", Period(f"{start.year}-{start.month:02d}", start, end)
    except ValueError:
        pass
    raise PeriodInvalid("a period is a day (2025-01-14), an ISO week (2025-W03), a month (2025-01) or an "
                        "instant (2025-01-14T10:30:00Z)", field="period")


@dataclass(frozen=True)
class Due:
    """What a run for `period` does for one IB and currency (computed, nothing written)."""

    ib_id: int
    currency: str
    period_key: str
    amount: Decimal  # due at the period's end, net of earlier payouts and holds
    minimum: Decimal
    held_before: Decimal  # payouts of this IB and currency already held for review
    outcome: str  # pay, hold, below_minimum, nothing_due, already_run
    lines: int  # commission lines accrued since the previous payout's period, up to this period's end
    lines_amount: Decimal
    existing: Payout | None


_LINES = text(
    """
    SELECT count(*) AS n, coalesce(sum(amount), 0) AS amount FROM ib_commission_lines
    WHERE ib_id = :ib AND currency = :cur AND created_at < :end AND created_at >= :since
    """
)


async def _covered_until(session: AsyncSession, ib_id: int, currency: str, before: datetime) -> datetime:
    """The end of the latest earlier payout period of this IB and currency (epoch when none)."""
    keys = (await session.execute(text(
        "SELECT period_key FROM ib_payouts WHERE ib_id = :ib AND currency = :c"), {"ib": ib_id, "c": currency})).all()
    ends = []
    for (k,) in keys:
        try:
            end = parse_period(str(k))[1].end
        except PeriodInvalid:
            continue
        if end <= before:
            ends.append(end)
    return max(ends, default=datetime(1970, 1, 1, tzinfo=UTC))


async def _dues(session: AsyncSession, p: Partner, period: Period) -> list[Due]:
    accounts = (await session.execute(text(
        "SELECT id, currency FROM ledger_accounts WHERE purpose = 'ib_payable' AND owner_id = :ib ORDER BY currency"),
        {"ib": p.ib_id})).all()
    out: list[Due] = []
    for acc in accounts:
        cur = str(acc.currency)
        existing_row = (await session.execute(text(
            f"SELECT {_COLS} FROM ib_payouts WHERE ib_id = :ib AND currency = :c AND period_key = :k"),  # noqa: S608
            {"ib": p.ib_id, "c": cur, "k": period.key})).first()
        existing = _payout(existing_row) if existing_row is not None else None
        held = Decimal(await session.scalar(text(
            "SELECT coalesce(sum(amount), 0) FROM ib_payouts WHERE ib_id = :ib AND currency = :c AND status = 'held'"),
            {"ib": p.ib_id, "c": cur}) or 0)
        due = round_to(Decimal(await session.scalar(_DUE, {"end": period.end, "ib": p.ib_id, "cur": cur,
                                                            "acc": acc.id}) or 0), cur)
        since = await _covered_until(session, p.ib_id, cur, period.start)
        lines = (await session.execute(_LINES, {"ib": p.ib_id, "cur": cur, "end": period.end, "since": since})).one()
        if existing is not None:
            outcome = "already_run"
        elif due <= 0:
            outcome = "nothing_due"
        elif due < p.payout_min:
            outcome = "below_minimum"
        else:
            outcome = "hold" if p.payout_hold else "pay"
        out.append(Due(p.ib_id, cur, period.key, existing.amount if existing else max(due, Decimal(0)),
                       p.payout_min, held, outcome, int(lines.n), Decimal(lines.amount), existing))
    return out


async def pay_period(session: AsyncSession, actor: Actor, ib_id: int, period: Period) -> list[Payout]:
    """Pay (or hold) `period` for the IB in every currency it has a payable in. Never commits.

    A period that already ran for a currency returns its payout unchanged (a repeat pays nothing)."""
    return [payout for payout, _ in await _pay_period(session, actor, ib_id, period)]


async def _pay_period(session: AsyncSession, actor: Actor, ib_id: int,
                      period: Period) -> list[tuple[Payout, bool]]:
    """(payout, made now) per currency."""
    # Serialises runs for one IB (job + manual) so `due` is read and paid atomically.
    await session.execute(text("SELECT 1 FROM ib_partners WHERE user_id = :id FOR UPDATE"), {"id": ib_id})
    p: Partner = await partner(session, ib_id)
    out: list[tuple[Payout, bool]] = []
    for d in await _dues(session, p, period):
        if d.existing is not None:  # this period already ran: a repeat changes nothing
            out.append((d.existing, False))
            continue
        if d.outcome not in ("pay", "hold"):
            continue
        status = "held" if d.outcome == "hold" else "paid"
        pid = int(await session.scalar(text(
            "INSERT INTO ib_payouts (ib_id, currency, period_key, amount, status) VALUES (:ib, :c, :k, :a, 'held') "
            "RETURNING id"), {"ib": ib_id, "c": d.currency, "k": period.key, "a": d.amount}))
        if status == "paid":
            await _pay(session, actor, pid, ib_id, d.currency, period.key, d.amount)
        await record(session, actor, action="ib.payout_created", entity_type="ib_payout", entity_id=pid,
                     after={"ib_id": ib_id, "currency": d.currency, "period": period.key, "amount": str(d.amount),
                            "status": status})
        row = (await session.execute(text(f"SELECT {_COLS} FROM ib_payouts WHERE id = :id"),  # noqa: S608
                                     {"id": pid})).one()
        out.append((_payout(row), True))
    return out


async def run_for_ib(session: AsyncSession, actor: Actor, ib_id: int, *, now: datetime) -> list[Payout]:
    """Pay (or hold) the IB's last closed period in every currency it has a payable in. Never commits."""
    p: Partner = await partner(session, ib_id)
    return await pay_period(session, actor, ib_id, last_closed_period(p.payout_cycle, now))


async def request_for_ib(session: AsyncSession, actor: Actor, ib_id: int, *, now: datetime) -> PeriodRun:
    """The IB asks for its payout now: its last closed cycle period, paid (or held for review) as the 00:15 job
    would, with its minimum and hold; a period that already ran returns its payouts unchanged. Never commits."""
    p: Partner = await partner(session, ib_id)
    period = last_closed_period(p.payout_cycle, now)
    created: list[Payout] = []
    existing: list[Payout] = []
    for made, fresh in await _pay_period(session, actor, ib_id, period):
        (created if fresh else existing).append(made)
    await record(session, actor, action="ib.payout_requested", entity_type="ib_payout_period", entity_id=None,
                 after={"period": period.key, "ib_id": ib_id, "created": [x.id for x in created],
                        "paid": str(sum((x.amount for x in created if x.status == "paid"), Decimal(0)))})
    return PeriodRun(period.key, 1, created, existing)


async def _period_ibs(session: AsyncSession, cycle: str, period: Period, ib_id: int | None,
                      now: datetime) -> list[Partner]:
    if period.end > now:
        raise PeriodNotClosed("this period has not ended yet", field="period")
    if ib_id is not None:
        p = await partner(session, ib_id)
        if cycle != INSTANT and p.payout_cycle != cycle:
            raise PeriodCycleMismatch(f"this IB is paid {p.payout_cycle}, not {cycle}", field="period")
        return [p]
    return [p for p in [await partner(session, i) for i in await due_ibs(session)]
            if cycle == INSTANT or p.payout_cycle == cycle]


async def preview_period(session: AsyncSession, period_key: str, *, now: datetime,
                         ib_id: int | None = None) -> list[Due]:
    """What a run for the period would do per IB (on that cycle) and currency; writes nothing."""
    cycle, period = parse_period(period_key)
    out: list[Due] = []
    for p in await _period_ibs(session, cycle, period, ib_id, now):
        out.extend(await _dues(session, p, period))
    return out


@dataclass(frozen=True)
class PeriodRun:
    period_key: str
    ibs: int
    created: list[Payout]  # made by this run (paid, or held for review)
    existing: list[Payout]  # made by an earlier run of the period: unchanged


async def run_period(session: AsyncSession, actor: Actor, period_key: str, *, now: datetime,
                     ib_id: int | None = None) -> PeriodRun:
    """Staff run of a closed period for every IB on its cycle (or one IB). Never commits.

    IBs are locked in id order, as the job visits them, so a manual run and the job never deadlock;
    whichever comes second finds the (IB, currency, period) rows and pays nothing again."""
    cycle, period = parse_period(period_key)
    ibs = await _period_ibs(session, cycle, period, ib_id, now)
    created: list[Payout] = []
    existing: list[Payout] = []
    for p in ibs:
        for made, fresh in await _pay_period(session, actor, p.ib_id, period):
            (created if fresh else existing).append(made)
    await record(session, actor, action="ib.payout_run", entity_type="ib_payout_period", entity_id=None,
                 after={"period": period.key, "ib_id": ib_id, "ibs": len(ibs), "created": [x.id for x in created],
                        "paid": str(sum((x.amount for x in created if x.status == "paid"), Decimal(0)))})
    return PeriodRun(period.key, len(ibs), created, existing)


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


async def list_for(session: AsyncSession, ib_id: int, page: PageRequest) -> Page[Payout]:
    """The IB's payouts, newest first."""
    return await sql_page(session, page, columns=_COLS, source="ib_payouts", where=["ib_id = :ib"],
                          params={"ib": ib_id}, key=("created_at", "id"), descending=True, convert=_payout)


PAYOUT_STATUSES = ("held", "paid")


async def list_all(session: AsyncSession, page: PageRequest, *, status: str | None = None,
                   ib_id: int | None = None) -> Page[Payout]:
    """Every IB's payouts newest first (staff), optionally one status (held for review, or paid) or one IB's."""
    where: list[str] = []
    params: dict[str, object] = {}
    if status is not None:
        where.append("status = :status")
        params["status"] = status
    if ib_id is not None:
        where.append("ib_id = :ib")
        params["ib"] = ib_id
    return await sql_page(session, page, columns=_COLS, source="ib_payouts", where=where, params=params,
                          key=("created_at", "id"), descending=True, convert=_payout)


async def due_ibs(session: AsyncSession) -> list[int]:
    """Approved IBs with a payable account: the payout job visits each once per run."""
    rows = (await session.execute(text(
        "SELECT DISTINCT p.user_id FROM ib_partners p JOIN ledger_accounts a ON a.owner_id = p.user_id "
        "AND a.purpose = 'ib_payable' WHERE p.status = 'approved' ORDER BY 1"))).all()
    return [int(r[0]) for r in rows]


async def by_ids(session: AsyncSession, ids: list[int]) -> list[Payout]:
    rows = (await session.execute(text(
        f"SELECT {_COLS} FROM ib_payouts WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id"),  # noqa: S608
        {"ids": ids})).all()
    return [_payout(r) for r in rows]
