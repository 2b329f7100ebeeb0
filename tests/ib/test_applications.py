"""IB applications over HTTP: a client applies, staff list, reject with a reason, approve under a
parent on a plan; every refusal has its exact code and writes nothing."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from tests.conftest import GraphQLClient
from tests.ib.conftest import World
from tests.identity.helpers import register
from tests.identity.staff import make_staff
from tests.ids import db_id

APPLY = """mutation($i: ApplyForIbInput!) { applyForIb(input: $i) {
  application { id userId status channels expectedClients website message } errors { code field } } }"""
MINE = "{ myIbApplications { nodes { id status decisionReason parentId planId } } }"
LIST = """query($s: IbApplicationStatus) { ibApplications(status: $s, first: 50) {
  nodes { id userId applicantEmail status channels } pageInfo { hasNextPage } } }"""
APPROVE = """mutation($i: ApproveIbApplicationInput!) { approveIbApplication(input: $i) {
  application { id status parentId planId } errors { code field } } }"""
REJECT = """mutation($i: RejectIbApplicationInput!) { rejectIbApplication(input: $i) {
  application { id status decisionReason } errors { code field } } }"""
GOOD = {"channels": ["WEBSITE", "TELEGRAM"], "expectedClients": 40, "website": "https://fx-signals.example",
        "message": "Trading community of 2k members"}
TABLES = ("ib_applications", "ib_partners", "ib_closure", "ib_plan_assignments", "audit_events", "outbox")


async def _counts(factory: Any) -> dict[str, int]:
    async with factory() as s:
        return {t: int(await s.scalar(text(f"SELECT count(*) FROM {t}"))) for t in TABLES}


def _payload(body: dict[str, Any]) -> dict[str, Any]:
    return next(iter(body["data"].values()))  # type: ignore[no-any-return]


async def test_apply_reject_reapply_approve(world: World, http: httpx.AsyncClient, session_factory: Any,
                                            settings: Any) -> None:
    reg = await register(GraphQLClient(http))
    uid, client = reg["viewer"]["id"], GraphQLClient(http, reg["accessToken"])
    manager = (await make_staff(http, session_factory, settings, ["ib_manager"])).client

    # bad input: exact codes, nothing written
    before = await _counts(world.factory)
    for variables, codes in [
        ({**GOOD, "channels": []}, [("VALIDATION_FAILED", "channels")]),
        ({**GOOD, "website": "ftp://x"}, [("VALIDATION_FAILED", "website")]),
        ({**GOOD, "expectedClients": -1}, [("VALIDATION_FAILED", "expectedClients")]),
        ({**GOOD, "expectedClients": -1, "channels": []},
         [("VALIDATION_FAILED", "channels"), ("VALIDATION_FAILED", "expectedClients")]),
    ]:
        body = await client(APPLY, {"i": variables})
        assert sorted((e["code"], e["field"]) for e in _payload(body)["errors"]) == codes, body
    assert await _counts(world.factory) == before

    made = _payload(await client(APPLY, {"i": GOOD}))
    assert made["errors"] == [] and made["application"]["status"] == "PENDING"
    assert made["application"]["channels"] == ["TELEGRAM", "WEBSITE"]
    app_id = made["application"]["id"]
    # one open application at a time
    before = await _counts(world.factory)
    again = _payload(await client(APPLY, {"i": GOOD}))
    assert [e["code"] for e in again["errors"]] == ["IB_ALREADY_APPLIED"]
    assert await _counts(world.factory) == before

    # staff see it with the applicant's e-mail; the client cannot decide it
    listed = (await manager(LIST, {"s": "PENDING"}))["data"]["ibApplications"]["nodes"]
    assert {"id": app_id, "userId": uid, "applicantEmail": reg["email"], "status": "PENDING",
            "channels": ["TELEGRAM", "WEBSITE"]} in listed
    body = await client(REJECT, {"i": {"applicationId": app_id, "reason": "x"}})
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    support = (await make_staff(http, session_factory, settings, ["support"])).client
    body = await support(LIST)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # reject: a reason is required; then the applicant sees the decision and may apply again
    before = await _counts(world.factory)
    body = await manager(REJECT, {"i": {"applicationId": app_id, "reason": "  "}})
    assert [(e["code"], e["field"]) for e in _payload(body)["errors"]] == [("VALIDATION_FAILED", "reason")]
    body = await manager(REJECT, {"i": {"applicationId": "999999999", "reason": "no"}})
    assert [e["code"] for e in _payload(body)["errors"]] == ["IB_APPLICATION_NOT_FOUND"]
    body = await manager(REJECT, {"i": {"applicationId": "not-a-number", "reason": "no"}})
    assert [e["code"] for e in _payload(body)["errors"]] == ["INVALID_ID"]
    assert await _counts(world.factory) == before
    rejected = _payload(await manager(REJECT, {"i": {"applicationId": app_id, "reason": "no audience yet"}}))
    assert rejected["application"] == {"id": app_id, "status": "REJECTED", "decisionReason": "no audience yet"}
    assert (await client(MINE))["data"]["myIbApplications"]["nodes"] == [
        {"id": app_id, "status": "REJECTED", "decisionReason": "no audience yet", "parentId": None, "planId": None}]
    body = await manager(REJECT, {"i": {"applicationId": app_id, "reason": "again"}})
    assert [e["code"] for e in _payload(body)["errors"]] == ["IB_NOT_PENDING"]

    second = _payload(await client(APPLY, {"i": GOOD}))["application"]["id"]
    parent = await world.ib()
    plan = (await manager("""mutation($n: String!) { createIbPlan(input: {name: $n, currency: "USD"}) { id } }""",
                          {"n": f"apply-{world.server_id}"}))["data"]["createIbPlan"]["id"]
    # approve: unknown plan or parent refused, nothing written
    before = await _counts(world.factory)
    for extra, code in [({"planId": "999999999"}, "IB_PLAN_NOT_FOUND"), ({"parentId": "999999999"}, "IB_NOT_FOUND"),
                        ({"parentId": uid}, "IB_NOT_FOUND")]:
        body = await manager(APPROVE, {"i": {"applicationId": second, **extra}})
        assert [e["code"] for e in _payload(body)["errors"]] == [code], body
    assert await _counts(world.factory) == before
    ok = _payload(await manager(APPROVE, {"i": {"applicationId": second, "parentId": str(parent), "planId": plan,
                                                "reason": "strong community"}}))
    assert ok == {"application": {"id": second, "status": "APPROVED", "parentId": str(parent), "planId": plan},
                  "errors": []}
    # the client is now an IB under the parent, on the plan, with the approval audited
    profile = (await client("{ myIbProfile { ibId } }"))["data"]["myIbProfile"]
    assert profile == {"ibId": uid}
    rows = await world.sql("SELECT e.parent_id, a.plan_id FROM ib_tree_edges e JOIN ib_plan_assignments a "
                           "ON a.ib_id = e.ib_id WHERE e.ib_id = :u AND e.valid_to IS NULL", u=int(uid))
    assert [tuple(r) for r in rows] == [(parent, int(plan))]
    audit = await world.sql("SELECT action FROM audit_events WHERE entity_type = 'ib_application' "
                            "AND entity_id = :i ORDER BY id", i=str(db_id(second)))
    assert [r[0] for r in audit] == ["ib.application_submitted", "ib.application_approved"]
    body = await client(APPLY, {"i": GOOD})
    assert [e["code"] for e in _payload(body)["errors"]] == ["IB_ALREADY_PARTNER"]
    body = await manager(APPROVE, {"i": {"applicationId": second}})
    assert [e["code"] for e in _payload(body)["errors"]] == ["IB_NOT_PENDING"]


async def test_staff_and_anonymous_cannot_apply(http: httpx.AsyncClient, session_factory: Any,
                                                settings: Any) -> None:
    staff = (await make_staff(http, session_factory, settings, ["ib_manager"])).client
    body = await staff(APPLY, {"i": GOOD})
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await GraphQLClient(http)(APPLY, {"i": GOOD})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_two_submissions_at_once_leave_one_open_application(world: World, http: httpx.AsyncClient) -> None:
    import asyncio

    reg = await register(GraphQLClient(http))
    client = GraphQLClient(http, reg["accessToken"])
    bodies = await asyncio.gather(*[client(APPLY, {"i": GOOD}) for _ in range(4)])
    codes = sorted(e["code"] for b in bodies for e in _payload(b)["errors"])
    assert codes == ["IB_ALREADY_APPLIED"] * 3, bodies
    rows = await world.sql("SELECT count(*) FROM ib_applications WHERE user_id = :u", u=int(reg["viewer"]["id"]))
    assert rows[0][0] == 1
