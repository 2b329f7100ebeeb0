"""Retention through the API: schedules and legal holds (permission-checked, audited, typed errors
that change nothing), and a client's erasure request decided by two staff members, the decision
visible to the client."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from tests.clients.flow import registered
from tests.identity.staff import make_staff
from tests.ids import db_id

SET = """mutation($j: String!, $k: String!, $y: Int!, $b: String!) {
  setRetentionSchedule(jurisdiction: $j, recordKind: $k, years: $y, basis: $b) {
    schedule { jurisdiction recordKind years basis } errors { code field } } }"""
SCHEDULES = "query($j: String) { retentionSchedules(jurisdiction: $j) { jurisdiction recordKind years basis } }"
PLACE = """mutation($c: ID!, $r: String!) { placeLegalHold(clientId: $c, reason: $r) {
  hold { reason active } errors { code field } } }"""
RELEASE = """mutation($c: ID!, $r: String!) { releaseLegalHold(clientId: $c, reason: $r) {
  hold { active releaseReason } errors { code field } } }"""
HOLDS = "query($c: ID!) { legalHolds(clientId: $c) { reason active } }"
REQUEST = """mutation($r: String!) { requestMyErasure(reason: $r) {
  request { databaseId status } errors { code field } } }"""
MINE = """{ myErasureRequest { status awaitingSecondApproval decisionReason
  outcome { kind outcome until note } } }"""
DECIDE = """mutation($i: ID!, $a: Boolean!, $r: String!) { decideErasureRequest(requestId: $i, approve: $a, reason: $r) {
  request { status awaitingSecondApproval outcome { kind outcome } } errors { code field } } }"""
QUEUE = "{ erasureRequests(first: 100) { edges { node { databaseId status } } } }"


async def _count(session_factory: Any, sql: str, **params: Any) -> int:
    async with session_factory() as s:
        return int(await s.scalar(text(sql), params) or 0)


async def _audits(session_factory: Any, action_prefix: str) -> int:
    return await _count(session_factory, "SELECT count(*) FROM audit_events WHERE action LIKE :a", a=action_prefix + "%")


async def test_schedules_are_set_by_permission_audited_and_bad_input_changes_nothing(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    officer = await make_staff(http, session_factory, settings, ["compliance"])
    sales = await make_staff(http, session_factory, settings, ["sales"])
    forbidden = await sales.client(SET, {"j": "CY", "k": "communications", "y": 7, "b": "created"})
    assert forbidden["data"] is None and forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    before = (await _count(session_factory, "SELECT count(*) FROM retention_schedules"),
              await _audits(session_factory, "retention_schedule."))
    for variables, code, field in (
            ({"j": "CY", "k": "emails", "y": 7, "b": "created"}, "INVALID_RETENTION_SCHEDULE", "recordKind"),
            ({"j": "CY", "k": "communications", "y": 101, "b": "created"}, "INVALID_RETENTION_SCHEDULE", "years"),
            ({"j": "CY", "k": "communications", "y": -1, "b": "created"}, "INVALID_RETENTION_SCHEDULE", "years"),
            ({"j": "CY", "k": "communications", "y": 7, "b": "whenever"}, "INVALID_RETENTION_SCHEDULE", "basis"),
            ({"j": "CY", "k": "audit", "y": 7, "b": "relationship_end"}, "INVALID_RETENTION_SCHEDULE", "basis"),
            ({"j": "CY", "k": "aml_records", "y": 7, "b": "created"}, "INVALID_RETENTION_SCHEDULE", "basis"),
            ({"j": "XX", "k": "communications", "y": 7, "b": "created"}, "INVALID_COUNTRY", "jurisdiction")):
        refused = await officer.client(SET, variables)
        assert refused["data"]["setRetentionSchedule"] == {"schedule": None, "errors": [{"code": code, "field": field}]}
    assert (await _count(session_factory, "SELECT count(*) FROM retention_schedules"),
            await _audits(session_factory, "retention_schedule.")) == before

    done = await officer.client(SET, {"j": "cy", "k": "communications", "y": 7, "b": "created"})
    assert done["data"]["setRetentionSchedule"] == {"errors": [], "schedule": {
        "jurisdiction": "CY", "recordKind": "communications", "years": 7, "basis": "created"}}
    listed = await officer.client(SCHEDULES, {"j": "CY"})
    assert {"jurisdiction": "CY", "recordKind": "communications", "years": 7, "basis": "created"} in \
        listed["data"]["retentionSchedules"]
    defaults = await officer.client(SCHEDULES, {"j": "*"})
    assert {(s["recordKind"], s["years"], s["basis"]) for s in defaults["data"]["retentionSchedules"]} >= {
        ("kyc_documents", 5, "relationship_end"), ("identity_data", 5, "relationship_end"), ("audit", 7, "created"),
        ("aml_records", 5, "relationship_end")}
    assert await _count(session_factory, "SELECT count(*) FROM audit_events WHERE action = 'retention_schedule.set' "
                                         "AND entity_id = 'CY:communications' AND actor_user_id = :u",
                        u=officer.user_id) == 1


async def test_legal_holds_are_placed_and_released_with_reasons(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    officer = await make_staff(http, session_factory, settings, ["compliance"])
    _, _, client_id = await registered(http)
    before = (await _count(session_factory, "SELECT count(*) FROM legal_holds"),
              await _audits(session_factory, "client.legal_hold"))
    for query, variables, code, field in (
            (PLACE, {"c": client_id, "r": "  "}, "VALIDATION_FAILED", "reason"),
            (PLACE, {"c": client_id, "r": "x" * 2001}, "VALIDATION_FAILED", "reason"),
            (PLACE, {"c": "999999999999", "r": "court order"}, "NOT_FOUND", "clientId"),
            (RELEASE, {"c": client_id, "r": "nothing held"}, "NO_LEGAL_HOLD", "clientId")):
        refused = await officer.client(query, variables)
        payload = next(iter(refused["data"].values()))
        assert payload == {"hold": None, "errors": [{"code": code, "field": field}]}, payload
    assert (await _count(session_factory, "SELECT count(*) FROM legal_holds"),
            await _audits(session_factory, "client.legal_hold")) == before

    placed = await officer.client(PLACE, {"c": client_id, "r": "regulator's request 42"})
    assert placed["data"]["placeLegalHold"] == {"hold": {"reason": "regulator's request 42", "active": True},
                                                "errors": []}
    twice = await officer.client(PLACE, {"c": client_id, "r": "again"})
    assert twice["data"]["placeLegalHold"]["errors"] == [{"code": "LEGAL_HOLD_ACTIVE", "field": "clientId"}]
    released = await officer.client(RELEASE, {"c": client_id, "r": "request withdrawn"})
    assert released["data"]["releaseLegalHold"] == {"hold": {"active": False, "releaseReason": "request withdrawn"},
                                                    "errors": []}
    listed = await officer.client(HOLDS, {"c": client_id})
    assert listed["data"]["legalHolds"] == [{"reason": "regulator's request 42", "active": False}]
    assert await _count(session_factory, "SELECT count(*) FROM audit_events WHERE entity_type = 'client' "
                                         "AND entity_id = :c AND action LIKE 'client.legal_hold%'",
                        c=str(db_id(client_id))) == 2


async def test_an_erasure_request_is_decided_by_two_staff_members_and_the_client_sees_the_decision(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    first = await make_staff(http, session_factory, settings, ["compliance"])
    second = await make_staff(http, session_factory, settings, ["compliance"])
    support = await make_staff(http, session_factory, settings, ["support"])
    client, _, client_id = await registered(http)
    cid = db_id(client_id)
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE clients SET attribution = '{\"utm_source\": \"newsletter\"}' WHERE id = :c"),
                        {"c": cid})

    assert (await client(MINE))["data"]["myErasureRequest"] is None
    before = (await _count(session_factory, "SELECT count(*) FROM erasure_requests"),
              await _audits(session_factory, "erasure_request."))
    too_long = await client(REQUEST, {"r": "x" * 2001})
    assert too_long["data"]["requestMyErasure"] == {"request": None,
                                                    "errors": [{"code": "VALIDATION_FAILED", "field": "reason"}]}
    assert (await _count(session_factory, "SELECT count(*) FROM erasure_requests"),
            await _audits(session_factory, "erasure_request.")) == before

    asked = await client(REQUEST, {"r": "I closed my account elsewhere"})
    assert asked["data"]["requestMyErasure"]["errors"] == []
    request_id = asked["data"]["requestMyErasure"]["request"]["databaseId"]
    again = await client(REQUEST, {"r": ""})
    assert again["data"]["requestMyErasure"]["errors"] == [{"code": "ERASURE_ALREADY_REQUESTED", "field": "clientId"}]
    queue = await first.client(QUEUE)
    assert {"databaseId": request_id, "status": "pending"} in [e["node"] for e in queue["data"]["erasureRequests"]["edges"]]

    denied = await support.client(DECIDE, {"i": request_id, "a": True, "r": "ok"})
    assert denied["data"] is None and denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for variables, code, field in (({"i": request_id, "a": True, "r": " "}, "VALIDATION_FAILED", "reason"),
                                   ({"i": "999999999", "a": True, "r": "ok"}, "NOT_FOUND", "requestId"),
                                   ({"i": "not-an-id", "a": True, "r": "ok"}, "INVALID_ID", "requestId")):
        refused = await first.client(DECIDE, variables)
        assert refused["data"]["decideErasureRequest"] == {"request": None, "errors": [{"code": code, "field": field}]}
    assert await _audits(session_factory, "erasure_request.") == before[1] + 1  # only the request itself

    one = await first.client(DECIDE, {"i": request_id, "a": True, "r": "no duty beyond the schedules"})
    assert one["data"]["decideErasureRequest"] == {"errors": [], "request": {
        "status": "pending", "awaitingSecondApproval": True, "outcome": []}}
    self_again = await first.client(DECIDE, {"i": request_id, "a": True, "r": "still fine"})
    assert self_again["data"]["decideErasureRequest"]["errors"] == [{"code": "SELF_APPROVAL_FORBIDDEN",
                                                                      "field": "requestId"}]
    two = await second.client(DECIDE, {"i": request_id, "a": True, "r": "agreed"})
    decided = two["data"]["decideErasureRequest"]
    assert decided["errors"] == [] and decided["request"]["status"] == "approved"
    outcome = {o["kind"]: o["outcome"] for o in decided["request"]["outcome"]}
    # The relationship lasts: KYC and identity data are kept until 5 years after it ends, the e-mails sent
    # (the verification e-mail) 5 years from each; the marketing data no duty keeps is erased now.
    assert outcome == {"communications": "scheduled", "kyc_documents": "scheduled", "identity_data": "scheduled",
                       "aml_records": "scheduled", "audit": "retained", "marketing": "erased"}
    assert await _count(session_factory, "SELECT count(*) FROM clients WHERE id = :c AND attribution = '{}'::jsonb",
                        c=cid) == 1
    late = await first.client(DECIDE, {"i": request_id, "a": False, "r": "too late"})
    assert late["data"]["decideErasureRequest"]["errors"] == [{"code": "ERASURE_ALREADY_DECIDED", "field": "requestId"}]

    seen = (await client(MINE))["data"]["myErasureRequest"]
    assert seen["status"] == "approved" and seen["decisionReason"] == "agreed" and not seen["awaitingSecondApproval"]
    assert {o["kind"]: (o["outcome"], o["until"]) for o in seen["outcome"]}["kyc_documents"] == ("scheduled", None)
    assert await _count(session_factory, "SELECT count(*) FROM audit_events WHERE entity_type = 'erasure_request' "
                                         "AND entity_id = :i", i=request_id) == 3  # created, first approval, approved

    # A rejection takes one staff member and a reason; the client can ask again afterwards.
    asked = await client(REQUEST, {"r": "once more"})
    rejected = await second.client(DECIDE, {"i": asked["data"]["requestMyErasure"]["request"]["databaseId"],
                                            "a": False, "r": "open dispute with the client"})
    assert rejected["data"]["decideErasureRequest"]["request"]["status"] == "rejected"
    assert (await client(MINE))["data"]["myErasureRequest"]["decisionReason"] == "open dispute with the client"
