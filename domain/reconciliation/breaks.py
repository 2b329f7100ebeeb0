"""Working breaks: list, assign, comment, resolve (with the adjustment entry that fixed it) or mark
explained. Every change locks the break row, is audited with before/after, and a closed break
(resolved, explained) cannot be changed again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.reconciliation.errors import (
    AdjustmentEntryNotFound,
    AssigneeNotFound,
    BreakClosed,
    BreakNotFound,
    InvalidResolution,
)
from domain.shared.actor import Actor
from domain.shared.pagination import Page, PageRequest, sql_page

MAX_TEXT = 4000


class BreakStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    EXPLAINED = "explained"
    CLEARED = "cleared"  # no longer found by a re-run of its cutoff


class BreakKind(StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_ON_PLATFORM = "missing_on_platform"
    MISSING_AT_PSP = "missing_at_psp"
    AMOUNT_MISMATCH = "amount_mismatch"
    ACCOUNT_MISMATCH = "account_mismatch"
    DUPLICATE = "duplicate"
    TIMING = "timing"
    BALANCE_DRIFT = "balance_drift"
    BALANCE_MISMATCH = "balance_mismatch"
    SHORTFALL = "shortfall"  # client money: resource below requirement
    EXCESS = "excess"  # client money: resource above requirement
    MISSING_IN_BANK = "missing_in_bank"  # bank: a ledger bank posting no statement entry shows
    OPENING_BALANCE_MISMATCH = "opening_balance_mismatch"  # bank: opening != the previous statement's closing


CLOSED = (BreakStatus.RESOLVED.value, BreakStatus.EXPLAINED.value)


@dataclass(frozen=True)
class BreakView:
    id: int
    run_id: int
    section: str
    kind: BreakKind
    key: str
    currency: str | None
    amount_diff: Decimal | None
    evidence: dict[str, Any]
    suggested_cause: str
    status: BreakStatus
    assignee_id: int | None
    adjustment_entry_id: int | None
    explanation: str | None
    resolved_by: int | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CommentView:
    id: int
    break_id: int
    author_id: int | None
    text: str
    created_at: datetime


_COLUMNS = ("id, run_id, section, kind, key, currency, amount_diff, evidence, suggested_cause, status, assignee_id, "
            "adjustment_entry_id, explanation, resolved_by, resolved_at, created_at, updated_at")


def _view(r: Any) -> BreakView:
    return BreakView(
        int(r.id), int(r.run_id), r.section, BreakKind(r.kind), r.key, r.currency,
        Decimal(r.amount_diff) if r.amount_diff is not None else None, dict(r.evidence), r.suggested_cause,
        BreakStatus(r.status), r.assignee_id, r.adjustment_entry_id, r.explanation, r.resolved_by, r.resolved_at,
        r.created_at, r.updated_at,
    )


async def get_break(session: AsyncSession, break_id: int, *, lock: bool = False) -> BreakView:
    lock_sql = " FOR UPDATE" if lock else ""
    sql = f"SELECT {_COLUMNS} FROM reconciliation_breaks WHERE id = :id{lock_sql}"  # noqa: S608 - constants
    row = (await session.execute(text(sql), {"id": break_id})).first()
    if row is None:
        raise BreakNotFound("no such reconciliation break", field="id")
    return _view(row)


async def breaks_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, BreakView]:
    rows = (await session.execute(text(
        f"SELECT {_COLUMNS} FROM reconciliation_breaks WHERE id = ANY(:ids)"), {"ids": ids})).all()  # noqa: S608
    return {v.id: v for v in map(_view, rows)}


async def list_breaks(
    session: AsyncSession, *, run_id: int | None, status: BreakStatus | None, kind: BreakKind | None,
    page: PageRequest, section: str | None = None,
) -> Page[BreakView]:
    conds: list[str] = []
    params: dict[str, Any] = {}
    if run_id is not None:
        conds.append("run_id = :run")
        params["run"] = run_id
    if status is not None:
        conds.append("status = :status")
        params["status"] = status.value
    if kind is not None:
        conds.append("kind = :kind")
        params["kind"] = kind.value
    if section is not None:
        conds.append("section = :section")
        params["section"] = section
    return await sql_page(session, page, columns=_COLUMNS, source="reconciliation_breaks", where=conds,
                          params=params, key=("created_at", "id"), descending=True, convert=_view)


async def comments_of(session: AsyncSession, break_ids: list[int]) -> dict[int, list[CommentView]]:
    rows = (await session.execute(text(
        "SELECT id, break_id, author_id, text, created_at FROM reconciliation_break_comments "
        "WHERE break_id = ANY(:ids) ORDER BY id"), {"ids": break_ids})).all()
    out: dict[int, list[CommentView]] = {i: [] for i in break_ids}
    for r in rows:
        out[int(r.break_id)].append(CommentView(int(r.id), int(r.break_id), r.author_id, r.text, r.created_at))
    return out


async def comments_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, CommentView]:
    rows = (await session.execute(text(
        "SELECT id, break_id, author_id, text, created_at FROM reconciliation_break_comments WHERE id = ANY(:ids)"),
        {"ids": ids})).all()
    return {int(r.id): CommentView(int(r.id), int(r.break_id), r.author_id, r.text, r.created_at) for r in rows}


async def _open_for_change(session: AsyncSession, break_id: int) -> BreakView:
    brk = await get_break(session, break_id, lock=True)
    if brk.status.value in CLOSED:
        raise BreakClosed(f"the break is already {brk.status.value}", field="id")
    return brk


def _text(value: str, field: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_TEXT:
        raise InvalidResolution(f"{field} must be 1 to {MAX_TEXT} characters", field=field)
    return value


async def assign_break(session: AsyncSession, actor: Actor, break_id: int, user_id: int) -> BreakView:
    brk = await _open_for_change(session, break_id)
    staff = await session.scalar(text("SELECT is_staff FROM users WHERE id = :id"), {"id": user_id})
    if not staff:
        raise AssigneeNotFound("no such staff user", field="userId")
    row = (await session.execute(text(
        f"UPDATE reconciliation_breaks SET assignee_id = :u, updated_at = now() WHERE id = :id "  # noqa: S608
        f"RETURNING {_COLUMNS}"), {"u": user_id, "id": break_id})).one()
    await audit.record(session, actor, action="reconciliation.break.assign", entity_type="reconciliation_break",
                       entity_id=break_id, before={"assignee_id": brk.assignee_id}, after={"assignee_id": user_id})
    return _view(row)


async def comment_on_break(session: AsyncSession, actor: Actor, break_id: int, body: str) -> CommentView:
    await get_break(session, break_id, lock=True)  # comments stay possible on closed breaks
    body = _text(body, "text")
    row = (await session.execute(text(
        "INSERT INTO reconciliation_break_comments (break_id, author_id, text) VALUES (:b, :a, :t) "
        "RETURNING id, break_id, author_id, text, created_at"), {"b": break_id, "a": actor.user_id, "t": body})).one()
    await audit.record(session, actor, action="reconciliation.break.comment", entity_type="reconciliation_break",
                       entity_id=break_id, after={"comment_id": int(row.id), "text": body})
    return CommentView(int(row.id), int(row.break_id), row.author_id, row.text, row.created_at)


async def resolve_break(
    session: AsyncSession, actor: Actor, break_id: int, *, adjustment_entry_id: int | None = None,
    explanation: str | None = None,
) -> BreakView:
    """Close a break: `resolved` with the ledger entry that corrected it, or `explained` with a text."""
    if (adjustment_entry_id is None) == (explanation is None):
        raise InvalidResolution("give exactly one of adjustmentEntryId and explanation", field="resolution")
    brk = await _open_for_change(session, break_id)
    if adjustment_entry_id is not None:
        found = await session.scalar(text("SELECT 1 FROM ledger_entries WHERE id = :id"), {"id": adjustment_entry_id})
        if found is None:
            raise AdjustmentEntryNotFound("no such ledger entry", field="resolution.adjustmentEntryId")
        status, note = BreakStatus.RESOLVED, None
    else:
        status, note = BreakStatus.EXPLAINED, _text(explanation or "", "resolution.explanation")
    row = (await session.execute(text(
        "UPDATE reconciliation_breaks SET status = :s, adjustment_entry_id = :e, explanation = :x, "  # noqa: S608
        f"resolved_by = :by, resolved_at = now(), updated_at = now() WHERE id = :id RETURNING {_COLUMNS}"),
        {"s": status.value, "e": adjustment_entry_id, "x": note, "by": actor.user_id, "id": break_id})).one()
    await audit.record(session, actor, action="reconciliation.break.resolve", entity_type="reconciliation_break",
                       entity_id=break_id, before={"status": brk.status.value},
                       after={"status": status.value, "adjustment_entry_id": adjustment_entry_id, "explanation": note})
    return _view(row)
