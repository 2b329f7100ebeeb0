"""Four-eyes staff balance adjustments: above the threshold a pending request that a different staff
member with ledger.adjust approves (then it posts, once) or rejects; at or below it posts at once."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.ledger import wallets
from domain.ledger.accounts import wallet_for
from domain.shared.db import in_transaction
from schema.node import key_of
from schema.root import build_schema
from tests.graphql_exec import run_as
from tests.ledger.conftest import check_invariants, client, key, snapshot, staff, wallet_balance

ADJUST = """mutation($i: AdjustBalanceInput!) { adjustBalance(input: $i) {
  entryId pending adjustmentId wallet { balance } errors { code field } } }"""
APPROVE = """mutation($i: ID!) { approveBalanceAdjustment(id: $i) {
  adjustment { id status entryId decidedBy } wallet { balance } errors { code field } } }"""
REJECT = """mutation($i: ID!, $r: String!) { rejectBalanceAdjustment(id: $i, reason: $r) {
  adjustment { id status decisionReason } errors { code field } } }"""
PENDING = "{ pendingBalanceAdjustments(first: 100) { nodes { id amount currency reason requestedBy } } }"
THRESHOLD = wallets.ADJUST_FOUR_EYES_DEFAULT


@pytest.fixture(scope="module")
def schema(settings: Any) -> Any:
    return build_schema(settings)


async def new_wallet(factory: Any, uid: int, currency: str = "USD") -> int:
    return (await in_transaction(factory, lambda s: wallet_for(s, uid, currency))).id


async def adjust(schema: Any, runtime: Any, sid: int, wid: int, amount: str, **extra: Any) -> dict[str, Any]:
    variables = {"walletId": str(wid), "amount": amount, "reason": "goodwill credit", "idempotencyKey": key(),
                 **extra}
    result = await run_as(schema, runtime, staff(sid), ADJUST, i=variables)
    assert result.errors is None, result.errors
    return dict(result.data["adjustBalance"])


async def audit_actions(factory: Any, entity_type: str, entity_id: int) -> list[tuple[str, str]]:
    async with factory() as s:
        rows = (await s.execute(text(
            "SELECT action, category FROM audit_events WHERE entity_type = :t AND entity_id = :i ORDER BY id"),
            {"t": entity_type, "i": str(entity_id)})).all()
    return [(r.action, r.category) for r in rows]


async def test_at_or_below_threshold_posts_directly(schema, runtime, session_factory, make_user):
    uid, sid = await make_user(), await make_user(staff=True)
    wid = await new_wallet(session_factory, uid)

    at = await adjust(schema, runtime, sid, wid, f"{THRESHOLD}.00")
    # The threshold is cumulative over the window: a second one-person adjustment would pass it.
    negative = await adjust(schema, runtime, sid, wid, f"-{THRESHOLD}.00")

    assert at["pending"] is False and at["entryId"] and at["adjustmentId"] is None
    assert at["wallet"] == {"balance": f"{THRESHOLD}.00"}
    assert negative["pending"] is True and negative["entryId"] is None
    assert negative["wallet"] == {"balance": f"{THRESHOLD}.00"}


async def test_above_threshold_is_pending_then_approved_by_another_staff_member(schema, runtime, session_factory,
                                                                                 make_user):
    uid, requester, approver = await make_user(), await make_user(staff=True), await make_user(staff=True)
    wid = await new_wallet(session_factory, uid)

    requested = await adjust(schema, runtime, requester, wid, "2500.00")

    assert requested["pending"] is True and requested["entryId"] is None and requested["errors"] == []
    assert requested["wallet"] == {"balance": "0.00"}
    rid = requested["adjustmentId"]
    queue = await run_as(schema, runtime, staff(approver), PENDING)
    assert {"id": rid, "amount": "2500.00", "currency": "USD", "reason": "goodwill credit",
            "requestedBy": str(requester)} in queue.data["pendingBalanceAdjustments"]["nodes"]

    approved = (await run_as(schema, runtime, staff(approver), APPROVE, i=rid)).data["approveBalanceAdjustment"]
    again = (await run_as(schema, runtime, staff(approver), APPROVE, i=rid)).data["approveBalanceAdjustment"]

    assert approved["errors"] == [] and approved["adjustment"]["status"] == "APPROVED"
    assert approved["adjustment"]["decidedBy"] == str(approver) and approved["adjustment"]["entryId"]
    assert approved["wallet"] == {"balance": "2500.00"}
    assert again == {"adjustment": None, "wallet": None,
                     "errors": [{"code": "BALANCE_ADJUSTMENT_NOT_PENDING", "field": "id"}]}
    assert await wallet_balance(session_factory, wid) == (Decimal("2500.00"), Decimal(0))
    after = await run_as(schema, runtime, staff(approver), PENDING)
    assert rid not in [n["id"] for n in after.data["pendingBalanceAdjustments"]["nodes"]]
    assert await audit_actions(session_factory, "balance_adjustment_request", key_of(rid, "BalanceAdjustment")) == [
        ("wallet.adjust_requested", "balance_adjustment"), ("wallet.adjust_approved", "balance_adjustment")]
    entry = int(approved["adjustment"]["entryId"])
    assert await audit_actions(session_factory, "ledger_entry", entry) == [("wallet.adjust", "balance_adjustment")]
    await check_invariants(session_factory)


async def test_requester_cannot_approve_and_nothing_changes(schema, runtime, session_factory, make_user):
    uid, requester = await make_user(), await make_user(staff=True)
    wid = await new_wallet(session_factory, uid)
    rid = (await adjust(schema, runtime, requester, wid, "-1500.00", allowNegative=True))["adjustmentId"]
    before = await snapshot(session_factory)

    refused = (await run_as(schema, runtime, staff(requester), APPROVE, i=rid)).data["approveBalanceAdjustment"]

    assert refused["errors"] == [{"code": "SELF_APPROVAL_FORBIDDEN", "field": "id"}]
    assert await snapshot(session_factory) == before
    async with session_factory() as s:
        status = await s.scalar(text("SELECT status FROM balance_adjustment_requests WHERE id = :i"), {"i": key_of(rid, "BalanceAdjustment")})
    assert status == "pending"


async def test_rejected_adjustment_never_posts(schema, runtime, session_factory, make_user):
    uid, requester, checker = await make_user(), await make_user(staff=True), await make_user(staff=True)
    wid = await new_wallet(session_factory, uid)
    rid = (await adjust(schema, runtime, requester, wid, "5000.00"))["adjustmentId"]

    no_reason = (await run_as(schema, runtime, staff(checker), REJECT, i=rid, r="  ")).data["rejectBalanceAdjustment"]
    rejected = (await run_as(schema, runtime, staff(checker), REJECT, i=rid, r="no ticket")).data[
        "rejectBalanceAdjustment"]
    late = (await run_as(schema, runtime, staff(checker), APPROVE, i=rid)).data["approveBalanceAdjustment"]

    assert no_reason["errors"] == [{"code": "VALIDATION_FAILED", "field": "reason"}]
    assert rejected["errors"] == [] and rejected["adjustment"] == {"id": rid, "status": "REJECTED",
                                                                   "decisionReason": "no ticket"}
    assert late["errors"][0]["code"] == "BALANCE_ADJUSTMENT_NOT_PENDING"
    assert await wallet_balance(session_factory, wid) == (Decimal(0), Decimal(0))
    assert await audit_actions(session_factory, "balance_adjustment_request", key_of(rid, "BalanceAdjustment")) == [
        ("wallet.adjust_requested", "balance_adjustment"), ("wallet.adjust_rejected", "balance_adjustment")]


async def test_permission_is_required_for_every_adjustment_field(schema, runtime, session_factory, make_user):
    uid, requester = await make_user(), await make_user(staff=True)
    wid = await new_wallet(session_factory, uid)
    rid = (await adjust(schema, runtime, requester, wid, "3000.00"))["adjustmentId"]
    before = await snapshot(session_factory)

    for query, variables in ((APPROVE, {"i": rid}), (REJECT, {"i": rid, "r": "x"}), (PENDING, {})):
        denied = await run_as(schema, runtime, client(uid), query, **variables)
        assert denied.errors[0].extensions["code"] == "FORBIDDEN"
    unknown = (await run_as(schema, runtime, staff(uid), APPROVE, i="999999999")).data["approveBalanceAdjustment"]
    junk = (await run_as(schema, runtime, staff(uid), APPROVE, i="abc")).data["approveBalanceAdjustment"]

    assert unknown["errors"] == [{"code": "BALANCE_ADJUSTMENT_NOT_FOUND", "field": "id"}]
    assert junk["errors"] == [{"code": "INVALID_ID", "field": "id"}]
    assert await snapshot(session_factory) == before


async def test_request_is_idempotent_per_requester_and_key(session_factory, make_user):
    uid, sid = await make_user(), await make_user(staff=True)
    wid = await new_wallet(session_factory, uid)
    k = key()

    def ask(amount: str) -> Any:
        return in_transaction(session_factory, lambda s: wallets.request_adjustment(
            s, staff(sid), wallet_id=wid, amount=Decimal(amount), reason="bonus", idempotency_key=k))

    first, second = await asyncio.gather(ask("1200"), ask("1200"))

    assert first.pending and second.pending and first.request == second.request
    from domain.ledger.errors import IdempotencyKeyReused

    with pytest.raises(IdempotencyKeyReused):
        await ask("1300")
    async with session_factory() as s:
        assert await s.scalar(text("SELECT count(*) FROM balance_adjustment_requests WHERE requested_by = :u"),
                              {"u": sid}) == 1


async def test_concurrent_approvals_post_once(session_factory, make_user):
    uid, requester = await make_user(), await make_user(staff=True)
    checkers = [await make_user(staff=True) for _ in range(4)]
    wid = await new_wallet(session_factory, uid)
    made = await in_transaction(session_factory, lambda s: wallets.request_adjustment(
        s, staff(requester), wallet_id=wid, amount=Decimal("7777.77"), reason="migration", idempotency_key=key()))
    assert made.request is not None
    rid = made.request.id

    async def approve(sid: int) -> str:
        try:
            await in_transaction(session_factory, lambda s: wallets.approve_adjustment(s, staff(sid), rid))
            return "approved"
        except wallets.AdjustmentNotPending:
            return "not pending"

    outcomes = await asyncio.gather(*(approve(c) for c in checkers))

    assert sorted(outcomes) == ["approved"] + ["not pending"] * 3
    assert await wallet_balance(session_factory, wid) == (Decimal("7777.77"), Decimal(0))
    await check_invariants(session_factory)


async def test_threshold_is_configurable_per_currency(session_factory, make_user, monkeypatch):
    monkeypatch.setenv("FOREXCRM_LEDGER_ADJUST_FOUR_EYES_EUR", "50")
    uid, sid = await make_user(), await make_user(staff=True)
    wid = await new_wallet(session_factory, uid, "EUR")

    small = await in_transaction(session_factory, lambda s: wallets.request_adjustment(
        s, staff(sid), wallet_id=wid, amount=Decimal("50"), reason="fix", idempotency_key=key()))
    large = await in_transaction(session_factory, lambda s: wallets.request_adjustment(
        s, staff(sid), wallet_id=wid, amount=Decimal("50.01"), reason="fix", idempotency_key=key()))

    assert small.movement is not None and not small.pending
    assert large.pending and large.movement is None
