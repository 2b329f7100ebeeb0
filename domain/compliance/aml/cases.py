"""Cases: the alerts (decisions that were not `allow`) of one client in one team's inbox gather in one
open case; it is assigned, worked (notes, statuses), and closed with an outcome. A held decision is
released (the withdrawal may then be approved, a held deposit's money is the client's again) or
declined (the withdrawal is cancelled and its hold released) by the case's team."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.compliance.aml import scope
from domain.compliance.errors import CaseClosed, CaseNotFound, DecisionNotHeld
from domain.events.outbox import emit
from domain.ledger import transfers
from domain.ledger.accounts import wallet_for
from domain.ledger.holds import release_hold
from domain.payments import repo as payments
from domain.payments import withdrawals
from domain.shared.actor import Actor, ActorKind
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.pagination import Page, PageRequest, sql_page

STATUSES = ("open", "investigating", "escalated", "closed")
OUTCOMES = ("false_positive", "valuable_alert", "risk_confirmed")


@dataclass(frozen=True)
class Case:
    id: int
    user_id: int
    team: str
    status: str
    assignee_id: int | None
    outcome: str | None
    closing_note: str | None
    alert_count: int
    sla_due_at: datetime
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class Decision:
    id: int
    scenario_id: int
    version_id: int
    user_id: int
    trigger: str
    payment_id: int | None
    event: dict[str, Any]
    score: Decimal
    outcome: str
    explain: list[dict[str, Any]]
    hold_id: int | None
    hold_status: str | None
    case_id: int | None
    created_at: datetime
    subject: str | None = None  # "payment:7", "transfer:12", ... (engine.decide_event)


@dataclass(frozen=True)
class Note:
    id: int
    case_id: int
    author_id: int | None  # None: written by the system (re-screening, migration 0047)
    body: str
    created_at: datetime


_C = ("id, user_id, team, status, assignee_id, outcome, closing_note, alert_count, sla_due_at, opened_at, "
      "updated_at, closed_at")
_D = ("id, scenario_id, version_id, user_id, trigger, payment_id, event, score, outcome, explain, hold_id, "
      "hold_status, case_id, created_at, subject")


def _case(r: Any) -> Case:
    return Case(r.id, r.user_id, r.team, r.status, r.assignee_id, r.outcome, r.closing_note, r.alert_count,
                r.sla_due_at, r.opened_at, r.updated_at, r.closed_at)


def _json(v: Any) -> Any:
    return orjson.loads(v) if isinstance(v, str | bytes) else v


def _decision(r: Any) -> Decision:
    return Decision(r.id, r.scenario_id, r.version_id, r.user_id, r.trigger, r.payment_id, _json(r.event),
                    Decimal(r.score), r.outcome, _json(r.explain), r.hold_id, r.hold_status, r.case_id, r.created_at,
                    r.subject)


def _note(r: Any) -> Note:
    return Note(r.id, r.case_id, r.author_id, r.body, r.created_at)


@dataclass(frozen=True)
class CaseFilter:
    team: str | None = None
    statuses: tuple[str, ...] = ()
    assignee_id: int | None = None
    user_id: int | None = None
    overdue: bool = False
    visible_to: Actor | None = None  # desk scoping (scope.py); None: every client's


async def list_cases(session: AsyncSession, criteria: CaseFilter, page: PageRequest) -> Page[Case]:
    where, params = scope.where(criteria.visible_to)
    if criteria.team:
        where.append("team = :team")
        params["team"] = criteria.team
    if criteria.statuses:
        where.append("status = ANY(:st)")
        params["st"] = list(criteria.statuses)
    if criteria.assignee_id is not None:
        where.append("assignee_id = :a")
        params["a"] = criteria.assignee_id
    if criteria.user_id is not None:
        where.append("user_id = :u")
        params["u"] = criteria.user_id
    if criteria.overdue:
        where.append("status <> 'closed' AND sla_due_at < now()")
    return await sql_page(session, page, columns=_C, source="aml_cases", where=where, params=params,
                          key=("opened_at", "id"), descending=False, convert=_case)


async def cases_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Case]:
    rows = await session.execute(text(f"SELECT {_C} FROM aml_cases WHERE id = ANY(:i)"), {"i": ids})  # noqa: S608
    return {r.id: _case(r) for r in rows}


async def decisions_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Decision]:
    rows = await session.execute(text(f"SELECT {_D} FROM aml_decisions WHERE id = ANY(:i)"), {"i": ids})  # noqa: S608
    return {r.id: _decision(r) for r in rows}


async def notes_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Note]:
    rows = await session.execute(text("SELECT id, case_id, author_id, body, created_at FROM aml_case_notes "
                                      "WHERE id = ANY(:i)"), {"i": ids})
    return {r.id: _note(r) for r in rows}


@dataclass(frozen=True)
class DecisionFilter:
    user_id: int | None = None
    case_id: int | None = None
    payment_id: int | None = None
    alerts_only: bool = False
    visible_to: Actor | None = None  # desk scoping (scope.py); None: every client's


async def list_decisions(session: AsyncSession, criteria: DecisionFilter, page: PageRequest) -> Page[Decision]:
    """Decisions newest first: a client's timeline of alerts across cases, a case's alerts, a payment's
    decisions (with their explanations)."""
    where, params = scope.where(criteria.visible_to)
    if criteria.user_id is not None:
        where.append("user_id = :u")
        params["u"] = criteria.user_id
    if criteria.case_id is not None:
        where.append("case_id = :c")
        params["c"] = criteria.case_id
    if criteria.payment_id is not None:
        where.append("payment_id = :p")
        params["p"] = criteria.payment_id
    if criteria.alerts_only:
        where.append("outcome <> 'allow'")
    return await sql_page(session, page, columns=_D, source="aml_decisions", where=where, params=params,
                          key=("created_at", "id"), descending=True, convert=_decision)


async def list_notes(session: AsyncSession, case_id: int, page: PageRequest) -> Page[Note]:
    return await sql_page(session, page, columns="id, case_id, author_id, body, created_at", source="aml_case_notes",
                          where=["case_id = :c"], params={"c": case_id}, key=("created_at", "id"),
                          descending=False, convert=_note)


async def _open_case(session: AsyncSession, case_id: int) -> Case:
    row = (await session.execute(text(f"SELECT {_C} FROM aml_cases WHERE id = :i FOR UPDATE"),  # noqa: S608
                                 {"i": case_id})).first()
    if row is None:
        raise CaseNotFound("no such case", field="caseId")
    case = _case(row)
    if case.status == "closed":
        raise CaseClosed("this case is closed", field="caseId")
    return case


async def _update(session: AsyncSession, case_id: int, sets: str, params: dict[str, Any]) -> Case:
    row = (await session.execute(text(
        f"UPDATE aml_cases SET {sets}, updated_at = now() WHERE id = :i RETURNING {_C}"),  # noqa: S608
        {"i": case_id, **params})).one()
    return _case(row)


async def assign(session: AsyncSession, actor: Actor, case_id: int, assignee_id: int | None) -> Case:
    case = await _open_case(session, case_id)
    if assignee_id is not None:
        staff = await session.scalar(text("SELECT is_staff FROM users WHERE id = :u AND status = 'active'"),
                                     {"u": assignee_id})
        if not staff:
            raise NotFound("no such active staff member", field="assigneeId")
    updated = await _update(session, case_id, "assignee_id = :a", {"a": assignee_id})
    await audit.record(session, actor, action="aml.case_assigned", entity_type="aml_case", entity_id=case_id,
                       before={"assignee_id": case.assignee_id}, after={"assignee_id": assignee_id},
                       category="compliance")
    return updated


async def set_status(session: AsyncSession, actor: Actor, case_id: int, status: str) -> Case:
    if status not in ("open", "investigating", "escalated"):
        raise ValidationFailed("open, investigating or escalated (close a case with closeAmlCase)", field="status")
    case = await _open_case(session, case_id)
    updated = await _update(session, case_id, "status = :s", {"s": status})
    await audit.record(session, actor, action="aml.case_status", entity_type="aml_case", entity_id=case_id,
                       before={"status": case.status}, after={"status": status}, category="compliance")
    return updated


async def add_note(session: AsyncSession, actor: Actor, case_id: int, body: str, *,
                   reason: str | None = None) -> Note:
    """A staff member's note, or the system's (no author: `actor` is a system actor)."""
    body = body.strip()
    if not body or len(body) > 10_000:
        raise ValidationFailed("a note of 1 to 10000 characters", field="body")
    await _open_case(session, case_id)
    assert actor.user_id is not None or actor.kind == ActorKind.SYSTEM
    row = (await session.execute(text(
        "INSERT INTO aml_case_notes (case_id, author_id, body) VALUES (:c, :a, :b) "
        "RETURNING id, case_id, author_id, body, created_at"), {"c": case_id, "a": actor.user_id, "b": body})).one()
    await _update(session, case_id, "status = status", {})
    await audit.record(session, actor, action="aml.case_note", entity_type="aml_case", entity_id=case_id,
                       after={"note_id": row.id}, reason=reason, category="compliance")
    return _note(row)


async def close(session: AsyncSession, actor: Actor, case_id: int, outcome: str, note: str) -> Case:
    if outcome not in OUTCOMES:
        raise ValidationFailed(f"one of {', '.join(OUTCOMES)}", field="outcome")
    note = note.strip()
    if not note or len(note) > 10_000:
        raise ValidationFailed("a closing note of 1 to 10000 characters", field="note")
    case = await _open_case(session, case_id)
    held = await session.scalar(text(
        "SELECT count(*) FROM aml_decisions WHERE case_id = :c AND hold_status = 'held'"), {"c": case_id})
    if held:
        raise DecisionNotHeld("release or decline the held payments of this case first", field="caseId")
    updated = await _update(session, case_id, "status = 'closed', outcome = :o, closing_note = :n, closed_at = now()",
                            {"o": outcome, "n": note})
    await audit.record(session, actor, action="aml.case_closed", entity_type="aml_case", entity_id=case_id,
                       before={"status": case.status}, after={"status": "closed", "outcome": outcome}, reason=note,
                       category="compliance")
    return updated


async def _held(session: AsyncSession, decision_id: int) -> Decision:
    row = (await session.execute(text(f"SELECT {_D} FROM aml_decisions WHERE id = :i FOR UPDATE"),  # noqa: S608
                                 {"i": decision_id})).first()
    if row is None:
        raise NotFound("no such decision", field="decisionId")
    decision = _decision(row)
    if decision.hold_status != "held":
        raise DecisionNotHeld("this decision holds nothing", field="decisionId")
    return decision


async def _others_holding(session: AsyncSession, decision: Decision) -> bool:
    """Another scenario's decision still holds the same payment or transfer."""
    return bool(await session.scalar(text(
        "SELECT 1 FROM aml_decisions WHERE subject = :s AND id <> :i AND hold_status = 'held'"),
        {"s": decision.subject, "i": decision.id}))


def _transfer_id(decision: Decision) -> int | None:
    if decision.trigger == "transfer" and decision.subject and decision.subject.startswith("transfer:"):
        return int(decision.subject.split(":", 1)[1])
    return None


async def release(session: AsyncSession, actor: Actor, decision_id: int, reason: str) -> Decision:
    """Let the held payment go on: a withdrawal may be approved again; a held deposit's money is
    available again once no decision holds it."""
    reason = reason.strip()
    if not reason or len(reason) > 1000:
        raise ValidationFailed("a reason of 1 to 1000 characters", field="reason")
    decision = await _held(session, decision_id)
    others = await _others_holding(session, decision)
    if decision.trigger == "deposit" and decision.hold_id is not None and not others:
        payment = await payments.get(session, int(decision.payment_id or 0))
        assert payment is not None
        await release_hold(session, await wallet_for(session, payment.user_id, payment.currency), decision.hold_id)
    transfer_id = _transfer_id(decision)
    if transfer_id is not None and not others:  # the transfer goes on: the job calls the platform
        await transfers.release_held(session, actor, transfer_id)
        await emit(session, "compliance.transfer_released", {"transfer_id": transfer_id}, job="aml_resume_transfer")
    await session.execute(text("UPDATE aml_decisions SET hold_status = 'released' WHERE id = :i"), {"i": decision_id})
    await audit.record(session, actor, action="aml.hold_released", entity_type="aml_decision", entity_id=decision_id,
                       before={"hold_status": "held"}, after={"hold_status": "released"}, reason=reason,
                       category="compliance")
    return (await decisions_by_ids(session, [decision_id]))[decision_id]


async def decline(session: AsyncSession, actor: Actor, decision_id: int, reason: str) -> Decision:
    """Refuse the held withdrawal: it is cancelled and its hold released (the money is the client's
    available balance again); every decision holding it is marked declined."""
    reason = reason.strip()
    if not reason or len(reason) > 1000:
        raise ValidationFailed("a reason of 1 to 1000 characters", field="reason")
    decision = await _held(session, decision_id)
    transfer_id = _transfer_id(decision)
    if transfer_id is not None:
        await transfers.decline_held(session, actor, transfer_id, f"transaction monitoring: {reason}")
    elif decision.trigger == "withdrawal" and decision.payment_id is not None:
        await withdrawals.reject(session, actor, decision.payment_id, f"transaction monitoring: {reason}")
    else:
        raise DecisionNotHeld("only a held withdrawal or transfer can be declined; release a deposit or refund it",
                              field="decisionId")
    await session.execute(text(
        "UPDATE aml_decisions SET hold_status = 'declined' WHERE subject = :s AND hold_status = 'held'"),
        {"s": decision.subject})
    await audit.record(session, actor, action="aml.hold_declined", entity_type="aml_decision", entity_id=decision_id,
                       before={"hold_status": "held"}, after={"hold_status": "declined"}, reason=reason,
                       category="compliance")
    return (await decisions_by_ids(session, [decision_id]))[decision_id]
