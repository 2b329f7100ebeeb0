"""Desk scoping of transaction monitoring's client records (cases, their decisions, notes, files and
reports): the one rule of `domain.clients.access`. Back office (the built-in compliance role among them)
sees every client's; other staff holding the compliance permissions (a custom role, say a desk's own
analyst) only their desk's clients', and none without a desk. Anything else answers "not found", by
sequential id as by any other."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients.access import is_back_office
from domain.compliance.errors import CaseNotFound
from domain.shared.actor import Actor, ActorKind
from domain.shared.errors import DomainError


def _everyone(actor: Actor) -> bool:
    return actor.kind is ActorKind.SYSTEM or is_back_office(actor)


def where(actor: Actor | None, column: str = "user_id") -> tuple[list[str], dict[str, Any]]:
    """The list filter for `actor` on a client's user id column (nothing when `actor` is None)."""
    if actor is None or _everyone(actor):
        return [], {}
    if actor.kind is ActorKind.STAFF and actor.desk:
        clause = f"{column} IN (SELECT user_id FROM clients WHERE desk = :scope_desk)"  # noqa: S608 - a column name
        return [clause], {"scope_desk": actor.desk}
    return ["false"], {}


async def visible_users(session: AsyncSession, actor: Actor, user_ids: Iterable[int]) -> set[int]:
    ids = set(user_ids)
    if _everyone(actor):
        return ids
    if actor.kind is not ActorKind.STAFF or not actor.desk or not ids:
        return set()
    rows = await session.execute(text("SELECT user_id FROM clients WHERE user_id = ANY(:u) AND desk = :d"),
                                 {"u": list(ids), "d": actor.desk})
    return {int(r[0]) for r in rows}


async def case_users(session: AsyncSession, case_ids: Iterable[int]) -> dict[int, int]:
    rows = await session.execute(text("SELECT id, user_id FROM aml_cases WHERE id = ANY(:i)"), {"i": list(case_ids)})
    return {int(r.id): int(r.user_id) for r in rows}


async def _require(session: AsyncSession, actor: Actor, sql: str, key: int, missing: DomainError) -> None:
    if _everyone(actor):
        return
    user_id = await session.scalar(text(sql), {"i": key})
    if user_id is None or not await visible_users(session, actor, [int(user_id)]):
        raise missing


async def require_case(session: AsyncSession, actor: Actor, case_id: int) -> None:
    await _require(session, actor, "SELECT user_id FROM aml_cases WHERE id = :i", case_id,
                   CaseNotFound("no such case", field="caseId"))


async def require_decision(session: AsyncSession, actor: Actor, decision_id: int, missing: DomainError) -> None:
    await _require(session, actor, "SELECT user_id FROM aml_decisions WHERE id = :i", decision_id, missing)


async def require_report(session: AsyncSession, actor: Actor, report_id: int, missing: DomainError) -> None:
    await _require(session, actor, "SELECT user_id FROM aml_reports WHERE id = :i", report_id, missing)


async def require_attachment(session: AsyncSession, actor: Actor, attachment_id: int, missing: DomainError) -> None:
    await _require(session, actor, "SELECT c.user_id FROM aml_case_attachments a JOIN aml_cases c "
                                   "ON c.id = a.case_id WHERE a.id = :i", attachment_id, missing)
