"""Disputes over HTTP: an IB disputes its own line (never another's) and a period; staff accept with an
adjustment or reject with a reason; the case keeps the explanation of when it was opened; audited."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx

from domain.ib.plans import ClauseKind, ClauseSpec, Distribution
from domain.shared.db import utcnow
from tests.ib.conftest import World, counts
from tests.ib.test_engine import make_plan
from tests.ib.test_portal import signed_in_ib
from tests.identity.staff import make_staff
from tests.ids import db_id

D = Decimal
OPEN = """mutation($i: OpenMyIbDisputeInput!) { openMyIbDispute(input: $i) {
    dispute { id ibId lineId status reason explanation } errors { code field } } }"""
RESOLVE = """mutation($i: ResolveIbDisputeInput!) { resolveIbDispute(input: $i) {
    dispute { id status resolution adjustmentLineId } errors { code field } } }"""


async def test_line_and_period_disputes_are_resolved_by_staff(world: World, http: httpx.AsyncClient,
                                                               session_factory: Any, settings: Any) -> None:
    ib, gql = await signed_in_ib(world, http)
    other = await world.ib()
    login = await world.account(await world.client_of(ib))
    login_other = await world.account(await world.client_of(other))
    await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (D(4),), max_total=D(4))],
                    ibs=(ib, other))
    await world.trade([world.deal(login, volume="2"), world.deal(login_other, volume="1")])
    line = (await world.sql("SELECT id FROM ib_commission_lines WHERE ib_id = :i", i=ib))[0][0]
    other_line = (await world.sql("SELECT id FROM ib_commission_lines WHERE ib_id = :i", i=other))[0][0]
    # another IB's line is not found, and nothing is written
    before = await counts(world.factory)
    body = await gql(OPEN, {"i": {"lineId": str(other_line), "reason": "mine?"}})
    assert body["data"]["openMyIbDispute"]["errors"][0]["code"] == "IB_NOT_FOUND"
    assert await counts(world.factory) == before
    # its own line: 2 lots x 4 = 8.00, the explanation kept with the case
    body = await gql(OPEN, {"i": {"lineId": str(line), "reason": "I expected $5 per lot"}})
    case = body["data"]["openMyIbDispute"]["dispute"]
    assert case["status"] == "open" and case["lineId"] == str(line)
    explained = case["explanation"]["line"]
    assert D(explained["line"]["amount"]) == D("8.00") and explained["line"]["formula"].startswith("volume")
    assert D(explained["deal"]["volume"]) == D(2)
    mine = (await gql("{ myIbDisputes { nodes { id status } } }"))["data"]["myIbDisputes"]["nodes"]
    assert mine == [{"id": case["id"], "status": "open"}]
    # staff: list, accept with an adjustment of 2 lots x $1 = 2.00
    manager = (await make_staff(http, session_factory, settings, ["ib_manager"])).client
    listed = (await manager("query($i: ID) { ibDisputes(status: \"open\", ibId: $i) { nodes { id } } }",
                            {"i": str(ib)}))["data"]["ibDisputes"]["nodes"]
    assert [x["id"] for x in listed] == [case["id"]]
    bad = await manager(RESOLVE, {"i": {"disputeId": case["id"], "accept": True, "reason": "ok"}})
    assert bad["data"]["resolveIbDispute"]["errors"][0] == {"code": "VALIDATION_FAILED", "field": "adjustment"}
    done = await manager(RESOLVE, {"i": {"disputeId": case["id"], "accept": True, "adjustment": "2.00",
                                         "reason": "plan said $5"}})
    resolved = done["data"]["resolveIbDispute"]["dispute"]
    assert resolved["status"] == "accepted" and resolved["adjustmentLineId"]
    assert await world.total(ib) == D("10.00")
    adj = await world.sql("SELECT kind, source, amount, inputs FROM ib_commission_lines WHERE id = :i",
                          i=int(resolved["adjustmentLineId"]))
    assert adj[0][:3] == ("adjustment", "manual", D("2.00")) and adj[0][3]["dispute_id"] == db_id(case["id"])
    payable = await world.sql("SELECT sum(b.balance) FROM ledger_accounts a JOIN ledger_balances b "
                              "ON b.account_id = a.id WHERE a.purpose = 'ib_payable' AND a.owner_id = :a", a=ib)
    assert payable[0][0] == D("10.00")
    again = await manager(RESOLVE, {"i": {"disputeId": case["id"], "accept": False, "reason": "no"}})
    assert again["data"]["resolveIbDispute"]["errors"][0]["code"] == "IB_DISPUTE_NOT_OPEN"
    # a period dispute, rejected with a reason: no line
    t0 = world.day
    body = await gql(OPEN, {"i": {"since": t0.isoformat(), "until": (t0 + timedelta(days=1)).isoformat(),
                                  "reason": "missing deals"}})
    period_case = body["data"]["openMyIbDispute"]["dispute"]
    assert D(period_case["explanation"]["period"]["totals"]["USD"]) == D("8.00")
    rejected = await manager(RESOLVE, {"i": {"disputeId": period_case["id"], "accept": False,
                                             "reason": "all deals are there"}})
    assert rejected["data"]["resolveIbDispute"]["dispute"]["status"] == "rejected"
    assert await world.total(ib) == D("10.00")
    audit = await world.sql("SELECT action FROM audit_events WHERE entity_type = 'ib_dispute' "
                            "AND entity_id = ANY(:i) ORDER BY id", i=[str(db_id(case["id"])), str(db_id(period_case["id"]))])
    assert [r[0] for r in audit] == ["ib.dispute_opened", "ib.dispute_accepted", "ib.dispute_opened",
                                     "ib.dispute_rejected"]
    # the IB cannot resolve; staff clawback of a client without CPA is not found
    denied = await gql(RESOLVE, {"i": {"disputeId": case["id"], "accept": False, "reason": "x"}})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    claw = await manager("mutation($c: ID!) { clawbackIbCpa(input: {clientId: $c, reason: \"fraud\"}) { ok "
                         "errors { code } } }", {"c": str(await world.client_of(ib))})
    assert claw["data"]["clawbackIbCpa"]["errors"][0]["code"] == "IB_CPA_NOT_FOUND"


async def test_cpa_clause_with_params_through_the_api(http: httpx.AsyncClient, session_factory: Any,
                                                      settings: Any) -> None:
    manager = (await make_staff(http, session_factory, settings, ["ib_manager"])).client
    made = await manager("mutation($n: String!) { createIbPlan(input: {name: $n, currency: \"USD\"}) { id } }",
                         {"n": f"cpa-{uuid.uuid4().hex[:8]}"})
    plan = made["data"]["createIbPlan"]["id"]
    add = """mutation($i: AddIbPlanVersionInput!) { addIbPlanVersion(input: $i) { ok errors { code field } } }"""
    clause: dict[str, Any] = {"kind": "CPA", "levelRates": ["1"], "baseRate": "200", "maxTotal": "200"}
    start = (utcnow() + timedelta(days=1)).isoformat()
    missing = await manager(add, {"i": {"planId": plan, "distribution": "PERCENT", "validFrom": start,
                                        "clauses": [clause]}})
    assert missing["data"]["addIbPlanVersion"]["errors"][0] == {"code": "IB_PLAN_INVALID", "field": "clauses[0].params"}
    clause["params"] = {"min_deposit": "100", "deposit_days": 7, "min_lots": "2", "lots_days": 30}
    ok = await manager(add, {"i": {"planId": plan, "distribution": "PERCENT", "validFrom": start,
                                   "clauses": [clause]}})
    assert ok["data"]["addIbPlanVersion"]["ok"] is True
