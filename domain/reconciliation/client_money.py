"""Client money resources and the sign-off of a run's client-money result.

Resources are what the firm holds for clients: the balance of each segregated bank account and each
PSP's client-money balance, per currency, at a day's close, as the bank/PSP statement shows it.
Staff record them (recording the same day, kind, account and currency again replaces the figure,
audited with before/after); the run's `client_money` section (sections.CLIENT_MONEY) sums them.

Where a bank statement was imported (domain/reconciliation/camt.py), its closing booked balance is the bank
account's figure for that day: it replaces a hand-entered one, and typing one over it is refused.

The sign-off is the named person's attestation of one run's client-money lines (kept as they were
signed, with the count of client-money breaks still open); it happens once per run, and the breaks
themselves are worked through the existing break workflow (assign, comment, resolve).

Four eyes (segregation of duties, as an FCA CASS firm's reconciliation procedure expects: the person who
performs the client money reconciliation is not the one who reviews and signs it off): the signer must not be a
preparer of that close, i.e. anyone who recorded one of its resources (by hand, or by importing the statement
whose closing balance it is) or resolved/explained one of the run's client-money or bank breaks. One
independent sign-off, not two: the preparer's work is the first pair of eyes. The preparers are kept with the
sign-off and in its audit event; a refused attempt (CLIENT_MONEY_FOUR_EYES) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.reconciliation.errors import (
    AlreadySignedOff,
    FourEyesRequired,
    InvalidResolution,
    InvalidResourceBalance,
    ResourceFromStatement,
    RunNotSignable,
)
from domain.reconciliation.runs import close_date, get_run
from domain.shared.actor import Actor
from domain.shared.db import utcnow
from domain.shared.errors import InvalidAmount
from domain.shared.money import currency as currency_info
from domain.shared.money import quantize_exact
from domain.shared.pagination import Page, PageRequest, sql_page

MAX_ACCOUNT = 80
MAX_NOTE = 4000


class ResourceKind(StrEnum):
    BANK = "bank"
    PSP = "psp"


@dataclass(frozen=True)
class ResourceView:
    id: int
    as_of: date
    kind: ResourceKind
    account: str
    currency: str
    balance: Decimal
    recorded_by: int | None
    recorded_at: datetime


@dataclass(frozen=True)
class SignOffView:
    run_id: int
    signed_by: int
    signed_at: datetime
    note: str | None
    lines: list[dict[str, Any]]
    open_breaks: int
    preparers: list[int]


_COLUMNS = "id, as_of, kind, account, currency, balance, recorded_by, recorded_at"


def _view(r: Any) -> ResourceView:
    return ResourceView(int(r.id), r.as_of, ResourceKind(r.kind), r.account, r.currency, Decimal(r.balance),
                        r.recorded_by, r.recorded_at)


async def record_resource(
    session: AsyncSession, actor: Actor, *, as_of: date, kind: ResourceKind, account: str, currency: str,
    balance: Decimal,
) -> ResourceView:
    """Record (or replace) one segregated balance; every check runs before anything is written."""
    code = currency_info(currency).code  # UNKNOWN_CURRENCY
    amount = quantize_exact(balance, code, field="balance")  # AMOUNT_PRECISION
    if amount < 0:
        raise InvalidAmount("a client money balance cannot be negative", field="balance")
    if as_of > utcnow().date():
        raise InvalidResourceBalance("the balance date cannot be in the future", field="asOf")
    account = account.strip()
    if not account or len(account) > MAX_ACCOUNT:
        raise InvalidResourceBalance(f"account must be 1 to {MAX_ACCOUNT} characters", field="account")
    before = (await session.execute(text(
        "SELECT balance, statement_id FROM client_money_resources WHERE as_of = :d AND kind = :k AND account = :a "
        "AND currency = :c FOR UPDATE"), {"d": as_of, "k": kind.value, "a": account, "c": code})).first()
    if before is not None and before.statement_id is not None:
        raise ResourceFromStatement("this balance comes from an imported bank statement's closing balance",
                                    field="balance")
    row = (await session.execute(text(
        "INSERT INTO client_money_resources (as_of, kind, account, currency, balance, recorded_by) "  # noqa: S608
        "VALUES (:d, :k, :a, :c, :b, :by) ON CONFLICT (as_of, kind, account, currency) DO UPDATE SET "
        f"balance = excluded.balance, recorded_by = excluded.recorded_by, recorded_at = now() RETURNING {_COLUMNS}"),
        {"d": as_of, "k": kind.value, "a": account, "c": code, "b": amount, "by": actor.user_id})).one()
    await audit.record(session, actor, action="reconciliation.client_money.resource",
                       entity_type="client_money_resource", entity_id=int(row.id),
                       before={"balance": str(before.balance)} if before is not None else None,
                       after={"as_of": as_of.isoformat(), "kind": kind.value, "account": account, "currency": code,
                              "balance": str(amount)})
    return _view(row)


async def list_resources(
    session: AsyncSession, *, as_of: date | None, currency: str | None, page: PageRequest,
) -> Page[ResourceView]:
    conds: list[str] = []
    params: dict[str, Any] = {}
    if as_of is not None:
        conds.append("as_of = :d")
        params["d"] = as_of
    if currency is not None:
        conds.append("currency = :c")
        params["c"] = currency.strip().upper()  # a filter: an unknown code simply matches nothing
    return await sql_page(session, page, columns=_COLUMNS, source="client_money_resources", where=conds,
                          params=params, key=("recorded_at", "id"), descending=True, convert=_view)


def _signoff(r: Any) -> SignOffView:
    return SignOffView(int(r.run_id), int(r.signed_by), r.signed_at, r.note, list(r.lines), int(r.open_breaks),
                       [int(p) for p in r.preparers])


_SIGNOFF_COLUMNS = "run_id, signed_by, signed_at, note, lines, open_breaks, preparers"


async def signoffs_of(session: AsyncSession, run_ids: list[int]) -> dict[int, SignOffView]:
    rows = (await session.execute(text(
        f"SELECT {_SIGNOFF_COLUMNS} FROM client_money_signoffs WHERE run_id = ANY(:ids)"),  # noqa: S608
        {"ids": run_ids})).all()
    return {int(r.run_id): _signoff(r) for r in rows}


async def sign_off(session: AsyncSession, actor: Actor, run_id: int, note: str | None) -> SignOffView:
    """The named staff member attests the run's client-money lines as they stand now."""
    if actor.user_id is None:
        raise RunNotSignable("a client money result is signed off by a named person", field="runId")
    if note is not None:
        note = note.strip()
        if not note or len(note) > MAX_NOTE:
            raise InvalidResolution(f"note must be 1 to {MAX_NOTE} characters", field="note")
    await session.execute(text("SELECT 1 FROM reconciliation_runs WHERE id = :id FOR UPDATE"), {"id": run_id})
    run = await get_run(session, run_id)  # RECONCILIATION_RUN_NOT_FOUND
    lines = run.summary.get("clientMoney")
    if run.status != "done" or lines is None:
        raise RunNotSignable("the run has no client money result (not finished, or run before the section existed)",
                             field="runId")
    if (await signoffs_of(session, [run_id])).get(run_id) is not None:
        raise AlreadySignedOff("this run's client money result is already signed off", field="runId")
    day = close_date(run.cutoff)
    preparers = await preparers_of(session, run_id, day)
    if actor.user_id in preparers:
        raise FourEyesRequired("you prepared this close (recorded a resource, imported its statement or resolved one "
                               "of its breaks): another person signs it off", field="runId")
    open_breaks = int(await session.scalar(text(
        "SELECT count(*) FROM reconciliation_breaks WHERE run_id = :r AND section IN ('client_money', 'bank') "
        "AND status = 'open'"), {"r": run_id}) or 0)
    row = (await session.execute(text(
        "INSERT INTO client_money_signoffs (run_id, signed_by, note, lines, open_breaks, preparers) "  # noqa: S608
        f"VALUES (:r, :by, :n, CAST(:l AS jsonb), :o, :p) RETURNING {_SIGNOFF_COLUMNS}"),
        {"r": run_id, "by": actor.user_id, "n": note, "l": orjson.dumps(lines).decode(), "o": open_breaks,
         "p": preparers})).one()
    await audit.record(session, actor, action="reconciliation.client_money.sign_off", entity_type="reconciliation_run",
                       entity_id=run_id, after={"close_date": day.isoformat(), "note": note,
                                                "open_breaks": open_breaks, "lines": lines, "preparers": preparers})
    return _signoff(row)


async def preparers_of(session: AsyncSession, run_id: int, day: date) -> list[int]:
    """Who prepared a close: recorded (or imported the statement of) one of its resources, or resolved one of the
    run's client-money or bank breaks."""
    rows = await session.scalars(text(
        "SELECT recorded_by FROM client_money_resources WHERE as_of = :d AND recorded_by IS NOT NULL "
        "UNION SELECT s.imported_by FROM client_money_resources r JOIN bank_statements s ON s.id = r.statement_id "
        "WHERE r.as_of = :d AND s.imported_by IS NOT NULL "
        "UNION SELECT resolved_by FROM reconciliation_breaks WHERE run_id = :r AND section IN ('client_money', 'bank') "
        "AND resolved_by IS NOT NULL ORDER BY 1"), {"d": day, "r": run_id})
    return [int(u) for u in rows.all()]
