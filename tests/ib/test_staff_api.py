"""Staff IB mutations over HTTP: permissions declared, typed errors that change nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from domain.shared.db import utcnow
from schema.node import global_id
from tests.ib.conftest import World, counts
from tests.identity.staff import make_staff

ADD_VERSION = """mutation($i: AddIbPlanVersionInput!) { addIbPlanVersion(input: $i) { ok id errors { code field } } }"""
CREATE = """mutation($n: String!) { createIbPlan(input: {name: $n, currency: "USD"}) { ok id errors { code } } }"""
MOVE = """mutation($i: MoveIbInput!) { moveIb(input: $i) { ok errors { code field } } }"""
REASSIGN = """mutation($i: ReassignIbClientInput!) { reassignIbClient(input: $i) { ok errors { code field } } }"""


def _clause(*rates: str, cap: str = "10") -> dict[str, Any]:
    return {"kind": "PER_LOT", "levelRates": list(rates), "maxTotal": cap}


async def test_plan_and_network_mutations_refuse_bad_input_and_write_nothing(
    world: World, http: httpx.AsyncClient, session_factory: Any, settings: Any,
) -> None:
    manager = (await make_staff(http, session_factory, settings, ["ib_manager"])).client
    made = await manager(CREATE, {"n": f"api-{world.server_id}"})
    plan_id = made["data"]["createIbPlan"]["id"]
    start = (utcnow() + timedelta(days=1)).isoformat()
    ok = await manager(ADD_VERSION, {"i": {"planId": plan_id, "distribution": "OVERRIDE", "validFrom": start,
                                           "validTo": (utcnow() + timedelta(days=30)).isoformat(),
                                           "clauses": [_clause("7", "10")]}})
    assert ok["data"]["addIbPlanVersion"]["ok"] is True
    a = await world.ib()
    b = await world.ib(a)
    client = await world.client_of(a)
    before = await counts(world.factory)
    refusals = [
        (ADD_VERSION, {"i": {"planId": plan_id, "distribution": "OVERRIDE", "validFrom": start,
                             "clauses": [_clause("7", "12")]}}, "IB_PLAN_EXCEEDS_CAP"),
        (ADD_VERSION, {"i": {"planId": plan_id, "distribution": "OVERRIDE",
                             "validFrom": (utcnow() + timedelta(days=5)).isoformat(),
                             "clauses": [_clause("7", "10")]}}, "IB_PLAN_VERSION_OVERLAP"),
        (ADD_VERSION, {"i": {"planId": plan_id, "distribution": "PERCENT", "validFrom": start,
                             "clauses": [_clause("1e3")]}}, "INVALID_AMOUNT"),
        (MOVE, {"i": {"ibId": str(a), "newParentId": str(b), "effectiveFrom": start, "reason": "x"}},
         "IB_TREE_CYCLE"),
        (REASSIGN, {"i": {"clientId": str(client), "ibId": str(b), "reason": "dispute",
                          "effectiveFrom": (utcnow() - timedelta(days=3)).isoformat()}}, "IB_RETROACTIVE_NOT_ALLOWED"),
        (REASSIGN, {"i": {"clientId": str(client), "ibId": "999999999", "reason": "dispute",
                          "effectiveFrom": start}}, "IB_NOT_FOUND"),
    ]
    for query, variables, code in refusals:
        body = await manager(query, variables)
        payload = next(iter(body["data"].values()))
        assert payload["ok"] is False and [e["code"] for e in payload["errors"]] == [code], body
        if code == "IB_TREE_CYCLE":  # beside the move's own field
            assert [e["field"] for e in payload["errors"]] == ["newParentId"], body
    assert await counts(world.factory) == before
    # a move dated ahead of now is fine and audited
    moved = await manager(MOVE, {"i": {"ibId": str(b), "newParentId": None, "effectiveFrom": start,
                                       "reason": "went independent"}})
    assert moved["data"]["moveIb"] == {"ok": True, "errors": []}


async def test_staff_without_the_permission_are_forbidden(world: World, http: httpx.AsyncClient,
                                                          session_factory: Any, settings: Any) -> None:
    ib = await world.ib()
    support = (await make_staff(http, session_factory, settings, ["support"])).client
    before = await counts(world.factory)
    for query, variables in [
        (CREATE, {"n": "nope"}),
        ("mutation($i: ID!) { updateIbSettings(input: {ibId: $i, visibleDepth: 9}) { ok } }", {"i": str(ib)}),
        ("mutation { approveIbPayout(input: {payoutId: \"1\"}) { errors { code } } }", {}),
        ("query($i: ID!) { ibPerformance(ibId: $i) { clients } }", {"i": str(ib)}),
    ]:
        body = await support(query, variables)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    assert await counts(world.factory) == before
    # the IB manager may change settings but not approve payouts (finance holds ib.payouts)
    manager = (await make_staff(http, session_factory, settings, ["ib_manager"])).client
    body = await manager("mutation($i: ID!) { updateIbSettings(input: {ibId: $i, visibleDepth: 2, "
                         "showClientPii: true}) { ok errors { code } } }", {"i": str(ib)})
    assert body["data"]["updateIbSettings"] == {"ok": True, "errors": []}
    rows = await world.sql("SELECT visible_depth, show_client_pii FROM ib_partners WHERE user_id = :i", i=ib)
    assert tuple(rows[0]) == (2, True)
    body = await manager("mutation { approveIbPayout(input: {payoutId: \"1\"}) { errors { code } } }")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    finance = (await make_staff(http, session_factory, settings, ["finance"])).client
    body = await finance("mutation { approveIbPayout(input: {payoutId: \"999999999\"}) { errors { code } } }")
    assert body["data"]["approveIbPayout"]["errors"] == [{"code": "IB_PAYOUT_NOT_FOUND"}]


PLANS = """query($n: Int, $a: String) { ibPlans(first: $n, after: $a) {
  nodes { id databaseId name currency isDefault latestVersion latestValidFrom currentIbs }
  pageInfo { hasNextPage endCursor } } }"""
ASSIGN = """mutation($i: AssignIbPlanInput!) { assignIbPlan(input: $i) { ok errors { code field } } }"""


async def _all_plans(staff: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = None
    while True:
        body = await staff(PLANS, {"n": 100, "a": after})
        assert "errors" not in body, body
        page = body["data"]["ibPlans"]
        found += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


async def test_staff_list_the_plans_with_their_latest_version_and_current_ibs(
    world: World, http: httpx.AsyncClient, session_factory: Any, settings: Any,
) -> None:
    manager = (await make_staff(http, session_factory, settings, ["ib_manager"])).client
    name = f"listed-{world.server_id}"
    made = (await manager(CREATE, {"n": name}))["data"]["createIbPlan"]
    plan_id = made["id"]
    listed = {p["databaseId"]: p for p in await _all_plans(manager)}
    plan = listed[str(plan_id)]
    assert plan["name"] == name and plan["currency"] == "USD" and plan["isDefault"] is False
    assert plan["latestVersion"] is None and plan["latestValidFrom"] is None and plan["currentIbs"] == 0
    start = utcnow() + timedelta(minutes=5)
    ok = await manager(ADD_VERSION, {"i": {"planId": plan["id"], "distribution": "OVERRIDE",
                                           "validFrom": start.isoformat(), "clauses": [_clause("7", "10")]}})
    assert ok["data"]["addIbPlanVersion"]["ok"] is True, ok
    ib = await world.ib()
    # The plan's global id (as listed) is what assignIbPlan takes; another type's global id is not a plan.
    assigned = await manager(ASSIGN, {"i": {"ibId": str(ib), "planId": plan["id"], "effectiveFrom": start.isoformat()}})
    assert assigned["data"]["assignIbPlan"] == {"ok": True, "errors": []}, assigned
    before = await counts(world.factory)
    wrong = await manager(ASSIGN, {"i": {"ibId": str(ib), "planId": "VHJhZGluZ1NlcnZlcjox",  # TradingServer:1
                                         "effectiveFrom": start.isoformat()}})
    assert wrong["data"]["assignIbPlan"]["errors"] == [{"code": "IB_PLAN_NOT_FOUND", "field": "planId"}]
    assert await counts(world.factory) == before
    plan = {p["databaseId"]: p for p in await _all_plans(manager)}[str(plan_id)]
    assert plan["latestVersion"] == 1 and plan["currentIbs"] == 1
    assert plan["latestValidFrom"] is not None
    # Paged oldest first by id.
    first_two = (await manager(PLANS, {"n": 2}))["data"]["ibPlans"]["nodes"]
    assert [int(p["databaseId"]) for p in first_two] == sorted(int(p["databaseId"]) for p in first_two)
    # Staff without ib.read, and clients, are refused.
    support = (await make_staff(http, session_factory, settings, ["support"])).client
    body = await support(PLANS, {"n": 5})
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


PARTNERS = """query($q: String, $s: String, $n: Int, $a: String) { ibPartners(search: $q, status: $s, first: $n, after: $a) {
  nodes { ibId name email status parentIbId planId planName payoutHold } pageInfo { hasNextPage endCursor } } }"""
PAYOUTS = """query($s: IbPayoutStatus, $i: ID, $n: Int, $a: String) { ibPayouts(status: $s, ibId: $i, first: $n, after: $a) {
  nodes { id ibId periodKey amount status } pageInfo { hasNextPage endCursor } } }"""


async def test_staff_list_the_partners_by_search_and_every_payout_by_status(
    world: World, http: httpx.AsyncClient, session_factory: Any, settings: Any,
) -> None:
    manager = (await make_staff(http, session_factory, settings, ["ib_manager"])).client
    top = await world.ib()
    sub = await world.ib(top)
    tag = f"partner{world.server_id}x{top}"
    await world.sql("UPDATE users SET display_name = :n WHERE id = :u", n=f"Pat {tag}", u=sub)
    email = (await world.sql("SELECT email FROM users WHERE id = :u", u=sub))[0][0]
    found = (await manager(PARTNERS, {"q": tag.upper(), "n": 10}))["data"]["ibPartners"]
    assert found["nodes"] == [{"ibId": str(sub), "name": f"Pat {tag}", "email": email, "status": "approved",
                               "parentIbId": str(top), "planId": None, "planName": None, "payoutHold": False}]
    by_email = (await manager(PARTNERS, {"q": email, "n": 10}))["data"]["ibPartners"]["nodes"]
    by_id = (await manager(PARTNERS, {"q": str(top), "n": 10}))["data"]["ibPartners"]["nodes"]
    assert [p["ibId"] for p in by_email] == [str(sub)] and str(top) in [p["ibId"] for p in by_id]
    # Every IB, oldest first, paged; `%` is a character like any other, not a wildcard.
    first = (await manager(PARTNERS, {"n": 1}))["data"]["ibPartners"]
    second = (await manager(PARTNERS, {"n": 1, "a": first["pageInfo"]["endCursor"]}))["data"]["ibPartners"]
    assert int(first["nodes"][0]["ibId"]) < int(second["nodes"][0]["ibId"])
    assert (await manager(PARTNERS, {"q": "%", "n": 5}))["data"]["ibPartners"]["nodes"] == []
    # The plans list is keyed by id alone too: its cursors page on (they were read as (time, id) before).
    await manager(CREATE, {"n": f"paged-{tag}"})
    await manager(CREATE, {"n": f"paged2-{tag}"})
    plans_1 = (await manager(PLANS, {"n": 1}))["data"]["ibPlans"]
    plans_2 = (await manager(PLANS, {"n": 1, "a": plans_1["pageInfo"]["endCursor"]}))["data"]["ibPlans"]
    assert int(plans_1["nodes"][0]["databaseId"]) < int(plans_2["nodes"][0]["databaseId"])
    bad = await manager(PARTNERS, {"s": "sleeping", "n": 5})
    assert bad["data"] is None and bad["errors"][0]["extensions"]["code"] == "VALIDATION_FAILED"

    # Payouts: one held, one paid; by status and by IB, newest first.
    await world.sql("INSERT INTO ib_payouts (ib_id, currency, period_key, amount, status) "
                    "VALUES (:ib, 'USD', '2024-02', 11.5, 'held'), (:ib, 'USD', '2024-03', 22.25, 'paid')", ib=sub)
    mine = (await manager(PAYOUTS, {"i": str(sub), "n": 10}))["data"]["ibPayouts"]["nodes"]
    assert [(p["periodKey"], p["amount"], p["status"]) for p in mine] == [
        ("2024-03", "22.25", "paid"), ("2024-02", "11.50", "held")]  # one statement: same time, newer id first
    held = (await manager(PAYOUTS, {"s": "HELD", "i": str(sub), "n": 10}))["data"]["ibPayouts"]["nodes"]
    assert [(p["periodKey"], p["status"]) for p in held] == [("2024-02", "held")]
    every_held = (await manager(PAYOUTS, {"s": "HELD", "n": 100}))["data"]["ibPayouts"]["nodes"]
    assert {p["status"] for p in every_held} == {"held"} and held[0]["id"] in {p["id"] for p in every_held}
    assert (await manager(PAYOUTS, {"i": str(top), "n": 10}))["data"]["ibPayouts"]["nodes"] == []
    # Staff without ib.read are refused both lists.
    support = (await make_staff(http, session_factory, settings, ["support"])).client
    for query in (PARTNERS, PAYOUTS):
        body = await support(query, {"n": 5})
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


VERSIONS = """query($n: Int, $a: String) { ibPlans(first: $n, after: $a) { nodes { databaseId versions {
  databaseId version distribution validFrom validTo createdBy createdByName clauses { clauseNo kind levelRates
  payoutRates baseRate maxTotal symbols excludedSymbols accountGroups side lotModifier markupPips minHoldSeconds
  params } } } pageInfo { hasNextPage endCursor } } }"""


async def test_staff_read_each_plan_version_with_its_clauses_as_entered_and_the_derived_rates(
    world: World, http: httpx.AsyncClient, session_factory: Any, settings: Any,
) -> None:
    login = await make_staff(http, session_factory, settings, ["ib_manager"])
    manager = login.client
    plan_id = (await manager(CREATE, {"n": f"versions-{world.server_id}"}))["data"]["createIbPlan"]["id"]
    start = utcnow() + timedelta(minutes=5)
    first = await manager(ADD_VERSION, {"i": {"planId": plan_id, "distribution": "PERCENT",
                                              "validFrom": start.isoformat(), "clauses": [
        {"kind": "PER_LOT", "levelRates": ["0.8", "0.2"], "baseRate": "10", "maxTotal": "10",
         "symbols": ["EUR%", "XAUUSD"], "accountGroups": ["real\\\\%"], "side": "CLOSE", "minHoldSeconds": 60},
        {"kind": "CPA", "levelRates": ["1"], "baseRate": "200", "maxTotal": "200",
         "params": {"min_deposit": "100", "deposit_days": 30, "min_lots": "1", "lots_days": 60}}]}})
    assert first["data"]["addIbPlanVersion"]["ok"] is True, first
    second_from = start + timedelta(days=7)
    second = await manager(ADD_VERSION, {"i": {"planId": plan_id, "distribution": "OVERRIDE",
                                               "validFrom": second_from.isoformat(), "clauses": [
        {"kind": "SPREAD_SHARE", "levelRates": ["0.3", "0.5"], "maxTotal": "1", "markupPips": "0.4",
         "excludedSymbols": ["BTC%"]}]}})
    assert second["data"]["addIbPlanVersion"]["ok"] is True, second
    # A refused version adds nothing to the list; its error names the clause at fault (a spread share without
    # its markup, a rate that is no decimal), so a form with several clauses shows it beside the right one.
    for clauses, error in (
            ([_clause("7"), {"kind": "SPREAD_SHARE", "levelRates": ["0.3"]}],
             {"code": "IB_PLAN_INVALID", "field": "clauses[1].markupPips"}),
            ([{"kind": "PER_LOT", "levelRates": ["seven"]}], {"code": "INVALID_AMOUNT", "field": "clauses[0].levelRates"}),
            ([_clause("7", "12")], {"code": "IB_PLAN_EXCEEDS_CAP", "field": "clauses[0].levelRates"}),
            # CPA settings the accruals could not read (they cast them in SQL) are refused up front.
            ([{"kind": "CPA", "levelRates": ["1"], "baseRate": "200", "maxTotal": "200",
               "params": {"min_deposit": "a lot", "deposit_days": 30, "min_lots": "1", "lots_days": 60}}],
             {"code": "IB_PLAN_INVALID", "field": "clauses[0].params.min_deposit"}),
            ([{"kind": "CPA", "levelRates": ["1"], "baseRate": "200", "maxTotal": "200",
               "params": {"min_deposit": "100", "deposit_days": "30", "min_lots": "1", "lots_days": 0}}],
             {"code": "IB_PLAN_INVALID", "field": "clauses[0].params.lots_days"})):
        refused = await manager(ADD_VERSION, {"i": {"planId": plan_id, "distribution": "OVERRIDE", "clauses": clauses,
                                                    "validFrom": (start + timedelta(days=9)).isoformat()}})
        assert refused["data"]["addIbPlanVersion"]["errors"] == [error], clauses

    plans: dict[str, Any] = {}
    after = None
    while True:
        page = (await manager(VERSIONS, {"n": 50, "a": after}))["data"]["ibPlans"]
        plans |= {p["databaseId"]: p for p in page["nodes"]}
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    versions = plans[str(plan_id)]["versions"]
    assert [v["version"] for v in versions] == [2, 1]  # newest first
    v2, v1 = versions
    assert v2["databaseId"] == second["data"]["addIbPlanVersion"]["id"] and v2["distribution"] == "OVERRIDE"
    assert v2["validTo"] is None and v1["validTo"] == v2["validFrom"]  # the successor closed the first
    assert v1["createdBy"] == login.user_id and v2["clauses"] == [{
        "clauseNo": 1, "kind": "SPREAD_SHARE", "levelRates": ["0.3", "0.5"], "payoutRates": ["0.3", "0.2"],
        "baseRate": "1", "maxTotal": "1", "symbols": None, "excludedSymbols": ["BTC%"], "accountGroups": None,
        "side": "BOTH", "lotModifier": "1", "markupPips": "0.4", "minHoldSeconds": 0, "params": {}}]
    per_lot, cpa_clause = v1["clauses"]
    assert per_lot["payoutRates"] == ["8", "2"] and per_lot["baseRate"] == "10"  # $10/lot x 80% / 20%
    assert per_lot["symbols"] == ["EUR%", "XAUUSD"] and per_lot["accountGroups"] == ["real\\\\%"]
    assert per_lot["side"] == "CLOSE" and per_lot["minHoldSeconds"] == 60
    assert cpa_clause["kind"] == "CPA" and cpa_clause["payoutRates"] == ["200"]
    assert cpa_clause["params"] == {"min_deposit": "100", "deposit_days": 30, "min_lots": "1", "lots_days": 60}
    # A plan without a version lists none.
    empty = (await manager(CREATE, {"n": f"versionless-{world.server_id}"}))["data"]["createIbPlan"]["id"]
    node = await manager("""query($i: ID!) { node(id: $i) { ... on IbPlan { versions { version } } } }""",
                         {"i": global_id("IbPlan", int(empty))})
    assert node["data"]["node"] == {"versions": []}
