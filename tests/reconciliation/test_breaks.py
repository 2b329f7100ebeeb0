"""Working breaks and importing reports: each refusal has its exact code and changes nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.ledger.wallets import deposit_to_wallet
from domain.reconciliation import breaks, runs, settlement
from domain.reconciliation.breaks import BreakView
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction, utcnow
from domain.shared.errors import DomainError
from domain.shared.pagination import PageRequest


async def a_break(session_factory: Any, staff_id: int) -> BreakView:
    """A fresh run holding one break: a settled PSP line nobody posted."""
    start = utcnow()
    provider = f"psp{uuid.uuid4().hex[:8]}"
    csv = (f"provider,reference,amount,currency,fee,settled_at,status\n"
           f"{provider},ref-1,12.34,EUR,0.10,{utcnow().isoformat()},settled\n")
    actor = Actor(ActorKind.STAFF, user_id=staff_id)
    await in_transaction(session_factory, lambda s: settlement.import_csv(s, actor, provider, csv))
    cut = utcnow()
    run = await in_transaction(session_factory, lambda s: runs.run_reconciliation(s, actor, cut, window=cut - start))
    async with session_factory() as s:
        # client money adds a break per currency out of balance in the shared database: test_client_money.py
        page = await breaks.list_breaks(s, run_id=run.id, status=None, kind=None, page=PageRequest(size=200))
    [brk] = [b for b in page.items if b.section == "psp"]  # the client money and bank sections judge the whole DB
    return brk


async def state(session_factory: Any, break_id: int) -> tuple[Any, ...]:
    async with session_factory() as s:
        row = (await s.execute(text("SELECT * FROM reconciliation_breaks WHERE id = :i"), {"i": break_id})).one()
        audits = await s.scalar(text("SELECT count(*) FROM audit_events WHERE entity_type = 'reconciliation_break' "
                                     "AND entity_id = :i"), {"i": str(break_id)})
        comments = await s.scalar(text("SELECT count(*) FROM reconciliation_break_comments WHERE break_id = :i"),
                                  {"i": break_id})
    return tuple(row), audits, comments


async def refused(session_factory: Any, fn: Any) -> str:
    with pytest.raises(DomainError) as err:
        await in_transaction(session_factory, fn)
    return err.value.code


async def test_assign_comment_and_explain_are_audited(session_factory, make_user) -> None:
    staff_id, other = await make_user(staff=True), await make_user(staff=True)
    brk = await a_break(session_factory, staff_id)
    actor = Actor(ActorKind.STAFF, user_id=staff_id)

    assigned = await in_transaction(session_factory, lambda s: breaks.assign_break(s, actor, brk.id, other))
    comment = await in_transaction(session_factory, lambda s: breaks.comment_on_break(s, actor, brk.id, " looking "))
    done = await in_transaction(session_factory, lambda s: breaks.resolve_break(
        s, actor, brk.id, explanation="PSP test transaction, never real money"))

    assert assigned.assignee_id == other and comment.text == "looking"
    assert done.status.value == "explained" and done.resolved_by == staff_id and done.resolved_at is not None
    async with session_factory() as s:
        actions = (await s.execute(text(
            "SELECT action FROM audit_events WHERE entity_type = 'reconciliation_break' AND entity_id = :i "
            "ORDER BY id"), {"i": str(brk.id)})).scalars().all()
    assert actions == ["reconciliation.break.assign", "reconciliation.break.comment", "reconciliation.break.resolve"]


async def test_resolve_with_adjustment_entry_then_closed(session_factory, make_user) -> None:
    staff_id, client_id = await make_user(staff=True), await make_user()
    brk = await a_break(session_factory, staff_id)
    actor = Actor(ActorKind.STAFF, user_id=staff_id)
    entry = await in_transaction(session_factory, lambda s: deposit_to_wallet(
        s, system_actor("test"), user_id=client_id, currency="EUR", amount=brk.amount_diff or Decimal(0),
        idempotency_key=uuid.uuid4().hex))

    done = await in_transaction(session_factory, lambda s: breaks.resolve_break(
        s, actor, brk.id, adjustment_entry_id=entry.entry_id))
    before = await state(session_factory, brk.id)

    assert done.status.value == "resolved" and done.adjustment_entry_id == entry.entry_id
    assert await refused(session_factory, lambda s: breaks.resolve_break(
        s, actor, brk.id, explanation="again")) == "BREAK_ALREADY_CLOSED"
    assert await refused(session_factory, lambda s: breaks.assign_break(
        s, actor, brk.id, staff_id)) == "BREAK_ALREADY_CLOSED"
    assert await state(session_factory, brk.id) == before


async def test_bad_workflow_input_is_refused_and_changes_nothing(session_factory, make_user) -> None:
    staff_id, client_id = await make_user(staff=True), await make_user()
    brk = await a_break(session_factory, staff_id)
    actor = Actor(ActorKind.STAFF, user_id=staff_id)
    before = await state(session_factory, brk.id)

    codes = [
        await refused(session_factory, lambda s: breaks.assign_break(s, actor, brk.id, client_id)),
        await refused(session_factory, lambda s: breaks.assign_break(s, actor, brk.id + 10_000, staff_id)),
        await refused(session_factory, lambda s: breaks.resolve_break(s, actor, brk.id)),
        await refused(session_factory, lambda s: breaks.resolve_break(
            s, actor, brk.id, adjustment_entry_id=1, explanation="both")),
        await refused(session_factory, lambda s: breaks.resolve_break(s, actor, brk.id, adjustment_entry_id=-5)),
        await refused(session_factory, lambda s: breaks.resolve_break(s, actor, brk.id, explanation="   ")),
        await refused(session_factory, lambda s: breaks.comment_on_break(s, actor, brk.id, "")),
    ]

    assert codes == ["ASSIGNEE_NOT_FOUND", "RECONCILIATION_BREAK_NOT_FOUND", "INVALID_RESOLUTION",
                     "INVALID_RESOLUTION", "ADJUSTMENT_ENTRY_NOT_FOUND", "INVALID_RESOLUTION", "INVALID_RESOLUTION"]
    assert await state(session_factory, brk.id) == before


async def test_same_report_twice_is_stored_once_and_bad_reports_store_nothing(session_factory) -> None:
    provider, actor = f"psp{uuid.uuid4().hex[:8]}", system_actor("test")
    good = (f"provider,reference,amount,currency,fee,settled_at,status\n"
            f"{provider},r1,10.00,USD,0,2024-05-01T10:00:00Z,settled\n")

    first = await in_transaction(session_factory, lambda s: settlement.import_csv(s, actor, provider, good))
    second = await in_transaction(session_factory, lambda s: settlement.import_csv(s, actor, provider, good))
    bad = {
        "missing column": good.replace(",status", ""),
        "cent too many": good.replace("10.00", "10.001"),
        "other provider": good.replace(f"{provider},r1", "other,r1"),
        "naive time": good.replace("10:00:00Z", "10:00:00"),
        "unknown status": good.replace("settled", "maybe"),
    }
    codes = {name: await refused(session_factory, lambda s, c=csv: settlement.import_csv(s, actor, provider, c))
             for name, csv in bad.items()}

    assert (first.replayed, second.replayed, second.id) == (False, True, first.id)
    assert set(codes.values()) == {"INVALID_SETTLEMENT_REPORT"}
    async with session_factory() as s:
        lines = await s.scalar(text("SELECT count(*) FROM reconciliation_settlement_lines WHERE provider = :p"),
                               {"p": provider})
    assert lines == 1


async def test_cutoff_in_the_future_is_refused(session_factory) -> None:
    code = await refused(session_factory, lambda s: runs.run_reconciliation(
        s, system_actor("test"), utcnow() + timedelta(hours=1)))
    assert code == "INVALID_CUTOFF"
