"""Dealing-desk reads and decisions: the toxic-flow review queue, segment assignments per client,
client-level overrides, and the rules and detector thresholds in force.

Everything here is staff-only (risk.read / risk.manage_segments, checked at the edge); a client is
named by `clients.id` and stands for all of its trading accounts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.risk import segmentation
from domain.risk.detectors import DEFAULTS
from domain.risk.errors import RiskClientNotFound, RiskFlagNotFound, RiskFlagReviewInvalid
from domain.shared.actor import Actor
from domain.shared.pagination import CursorKey, Page, PageRequest, sql_page

FLAG_STATUSES = ("open", "confirmed", "dismissed")
DECISIONS = ("confirmed", "dismissed")
MAX_PAGE = 200


@dataclass(frozen=True)
class Flag:
    id: int
    account_id: int
    server_id: int
    login: int
    user_id: int | None
    detector: str
    status: str
    score: Decimal
    evidence: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    review_note: str | None


def _flag(r: Any) -> Flag:
    return Flag(int(r.id), int(r.account_id), int(r.server_id), int(r.login), r.user_id, r.detector, r.status,
                r.score, dict(r.evidence), r.created_at, r.updated_at, r.review_note)  # fmt: skip


async def list_flags(
    session: AsyncSession, *, status: str | None = "open", detector: str | None = None,
    page: PageRequest = PageRequest(),
) -> Page[Flag]:  # fmt: skip
    """The review queue, newest first (keyset on created_at, id)."""
    where: list[str] = ["true"]
    params: dict[str, Any] = {}
    if status is not None:
        if status not in FLAG_STATUSES:
            raise RiskFlagReviewInvalid(f"status must be one of {', '.join(FLAG_STATUSES)}", field="status")
        where.append("status = :st")
        params["st"] = status
    if detector is not None:
        where.append("detector = :d")
        params["d"] = detector
    return await sql_page(session, page, columns="*", source="risk_flags", where=where, params=params,
                          key=("created_at", "id"), descending=True, convert=_flag)


async def flags_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Flag]:
    rows = (await session.execute(text("SELECT * FROM risk_flags WHERE id = ANY(:ids)"), {"ids": ids})).all()
    return {f.id: f for f in map(_flag, rows)}


def flag_key(f: Flag) -> CursorKey:
    return f.created_at, f.id


async def review_flag(session: AsyncSession, actor: Actor, flag_id: int, decision: str, note: str) -> Flag:
    """Confirm or dismiss an open flag (a dismissed flag is not raised again for that account)."""
    if decision not in DECISIONS:
        raise RiskFlagReviewInvalid(f"decision must be one of {', '.join(DECISIONS)}", field="decision")
    note = note.strip()
    if decision == "dismissed" and not note:
        raise RiskFlagReviewInvalid("dismissing a flag needs a note", field="note")
    if len(note) > 2000:
        raise RiskFlagReviewInvalid("the note is at most 2000 characters", field="note")
    before = (await session.execute(text("SELECT * FROM risk_flags WHERE id = :i FOR UPDATE"), {"i": flag_id})).first()
    if before is None:
        raise RiskFlagNotFound("not found", field="id")
    if before.status != "open":
        raise RiskFlagReviewInvalid(f"the flag was already {before.status}", field="id")
    row = (await session.execute(text(
        "UPDATE risk_flags SET status = :st, review_note = :n, updated_at = now() WHERE id = :i RETURNING *"
    ), {"st": decision, "n": note or None, "i": flag_id})).one()  # fmt: skip
    await record(session, actor, action="risk.flag_reviewed", entity_type="risk_flag", entity_id=flag_id,
                 before={"status": before.status}, after={"status": decision, "note": note},
                 reason=note or None)  # fmt: skip
    return _flag(row)


async def client_user(session: AsyncSession, client_id: int) -> int:
    """The user behind a client record (RiskClientNotFound otherwise)."""
    user_id = await session.scalar(text("SELECT user_id FROM clients WHERE id = :c"), {"c": client_id})
    if user_id is None:
        raise RiskClientNotFound("not found", field="clientId")
    return int(user_id)


async def client_accounts(session: AsyncSession, client_id: int) -> list[int]:
    user_id = await client_user(session, client_id)
    return list(await session.scalars(text(
        "SELECT id FROM trading_accounts WHERE user_id = :u ORDER BY id"), {"u": user_id}))


@dataclass(frozen=True)
class AssignmentRow:
    id: int
    account_id: int
    server_id: int
    login: int
    client_id: int | None
    book: str
    a_book_pct: Decimal
    source: str
    rule_id: int | None
    reason: str
    evidence: dict[str, Any]
    effective_at: datetime
    target_group: str | None
    sync_status: str
    sync_error: str | None


async def list_assignments(
    session: AsyncSession, *, client_id: int | None = None, current_only: bool = True,
    page: PageRequest = PageRequest(),
) -> Page[AssignmentRow]:  # fmt: skip
    """Assignments newest first; `current_only` keeps the one in force per account."""
    where: list[str] = ["true"]
    params: dict[str, Any] = {}
    if client_id is not None:
        where.append("a.user_id = :u")
        params["u"] = await client_user(session, client_id)
    if current_only:
        where.append("s.id = (SELECT x.id FROM risk_assignments x WHERE x.account_id = s.account_id "
                     "ORDER BY x.effective_at DESC, x.id DESC LIMIT 1)")
    return await sql_page(
        session, page, columns="s.*, a.server_id, a.login, c.id AS client_id",
        source="risk_assignments s JOIN trading_accounts a ON a.id = s.account_id "
               "LEFT JOIN clients c ON c.user_id = a.user_id",
        where=where, params=params, key=("s.effective_at", "s.id"), descending=True, convert=_assignment)


def _assignment(r: Any) -> AssignmentRow:
    return AssignmentRow(int(r.id), int(r.account_id), int(r.server_id), int(r.login), r.client_id, r.book,
                         r.a_book_pct, r.source, r.rule_id, r.reason, dict(r.evidence), r.effective_at,
                         r.target_group, r.sync_status, r.sync_error)


def assignment_key(a: AssignmentRow) -> CursorKey:
    return a.effective_at, a.id


async def override_client(
    session: AsyncSession, actor: Actor, client_id: int, book: str, a_book_pct: Decimal, reason: str
) -> list[int]:
    """Override the segment of every trading account of a client; returns the new assignment ids."""
    accounts = await client_accounts(session, client_id)
    if not accounts:
        raise RiskClientNotFound("the client has no trading account", field="clientId")
    return [(await segmentation.override(session, actor, a, book, a_book_pct, reason)).id for a in accounts]


async def assignments_by_id(session: AsyncSession, ids: list[int]) -> list[AssignmentRow]:
    rows = (await session.execute(text(
        "SELECT s.*, a.server_id, a.login, c.id AS client_id FROM risk_assignments s "
        "JOIN trading_accounts a ON a.id = s.account_id LEFT JOIN clients c ON c.user_id = a.user_id "
        "WHERE s.id = ANY(:ids) ORDER BY s.id"), {"ids": ids})).all()  # fmt: skip
    return [AssignmentRow(int(r.id), int(r.account_id), int(r.server_id), int(r.login), r.client_id, r.book,
                          r.a_book_pct, r.source, r.rule_id, r.reason, dict(r.evidence), r.effective_at,
                          r.target_group, r.sync_status, r.sync_error) for r in rows]  # fmt: skip


@dataclass(frozen=True)
class ThresholdSet:
    detector: str
    group: str  # '*' = any
    symbol: str  # '*' = any
    params: dict[str, float]
    is_default: bool


async def list_thresholds(session: AsyncSession) -> list[ThresholdSet]:
    """The code's defaults per detector, then every stored override (most specific wins at run time)."""
    out = [ThresholdSet(d, "*", "*", dict(p), True) for d, p in sorted(DEFAULTS.items())]
    rows = await session.execute(text(
        "SELECT detector, grp, symbol, params FROM risk_thresholds ORDER BY detector, grp, symbol"))
    out += [ThresholdSet(r.detector, r.grp, r.symbol, {k: float(v) for k, v in dict(r.params).items()}, False)
            for r in rows]  # fmt: skip
    return out


def as_json(value: Any) -> Any:
    """Evidence as plain JSON (Decimals and dates as strings)."""
    return json.loads(json.dumps(value, default=str))
