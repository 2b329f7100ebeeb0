"""Cases worked through the API (assign, status, notes, close with an outcome, the inbox and SLA),
templates that start scenarios, lists and drafts; every bad input is a typed error that changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from domain.compliance.aml.engine import open_or_join_case
from schema.node import global_id
from tests.clients.staff_world import audit_of, make_client, scalar
from tests.identity.staff import make_staff

TEMPLATES = "{ amlTemplates { key title document } }"
CREATE = """mutation($n: String!, $d: JSON!) { createAmlScenario(name: $n, document: $d) {
  scenario { id } errors { field code } } }"""
SAVE = """mutation($s: ID!, $d: JSON!) { saveAmlDraft(scenarioId: $s, document: $d) {
  version { status document } errors { field code } } }"""
LIST = """mutation($n: String!, $e: [String!]!) { setAmlList(name: $n, entries: $e) { amlList { name entries }
  errors { field code } } }"""
ASSIGN = """mutation($c: ID!, $a: ID) { assignAmlCase(caseId: $c, assigneeId: $a) { case { assigneeId }
  errors { field code } } }"""
STATUS = """mutation($c: ID!, $s: AmlCaseStatus!) { setAmlCaseStatus(caseId: $c, status: $s) { case { status }
  errors { field code } } }"""
NOTE = """mutation($c: ID!, $b: String!) { addAmlCaseNote(caseId: $c, body: $b) { note { body caseId }
  errors { field code } } }"""
CLOSE = """mutation($c: ID!, $o: AmlCaseOutcome!, $n: String!) { closeAmlCase(caseId: $c, outcome: $o, note: $n) {
  case { status outcome closedAt } errors { field code } } }"""
INBOX = """query($t: String, $s: [AmlCaseStatus!], $f: Int, $a: String) { amlCases(team: $t, status: $s, first: $f,
  after: $a) { nodes { id team status slaBreached clientId notes(first: 5) { nodes { body } } } pageInfo { hasNextPage endCursor } } }"""


async def _case(session_factory: Any, team: str, *, outcome: str = "review") -> int:
    async with session_factory() as s, s.begin():
        uid = await s.scalar(text("INSERT INTO users (email, email_normalized, is_client) VALUES (:e, :e, true) "
                                  "RETURNING id"), {"e": f"{uuid.uuid4().hex[:12]}@example.com"})
        return await open_or_join_case(s, user_id=int(uid), team=team, outcome=outcome)


async def test_templates_start_scenarios_and_bad_drafts_and_lists_change_nothing(
        http: Any, session_factory: Any, settings: Any) -> None:
    officer = (await make_staff(http, session_factory, settings, ["compliance"])).client
    templates = (await officer(TEMPLATES))["data"]["amlTemplates"]
    from domain.compliance.aml.templates import TEMPLATES as ALL

    assert [t["key"] for t in templates] == [t.key for t in ALL] and len(templates) == 13
    made = (await officer(CREATE, {"n": f"tpl-{uuid.uuid4().hex[:8]}", "d": templates[0]["document"]}))
    sid = made["data"]["createAmlScenario"]["scenario"]["id"]
    bad = {"triggers": ["deposit"], "thresholds": {"review": 10}, "rules": [{"name": "r", "score": "x", "when": {}}]}
    refused = (await officer(SAVE, {"s": sid, "d": bad}))["data"]["saveAmlDraft"]
    assert refused == {"version": None, "errors": [{"field": "rules[0].score", "code": "INVALID_RULE_DOCUMENT"},
                                                   {"field": "rules[0].when", "code": "INVALID_RULE_DOCUMENT"}]}
    draft = await scalar(session_factory, "SELECT document FROM aml_scenario_versions WHERE status = 'draft' AND "
                                          "scenario_id = (SELECT id FROM aml_scenarios ORDER BY id DESC LIMIT 1)")
    assert draft == templates[0]["document"]
    other = (await officer(SAVE, {"s": global_id("AmlCase", 1), "d": bad}))["data"]["saveAmlDraft"]
    assert other["errors"] == [{"field": "scenarioId", "code": "INVALID_ID"}]

    name = f"pep_{uuid.uuid4().hex[:6]}"
    stored = (await officer(LIST, {"n": name, "e": ["IR ", "ir", "KP"]}))["data"]["setAmlList"]
    assert stored == {"amlList": {"name": name, "entries": ["IR", "KP", "ir"]}, "errors": []}
    for bad_name in ("Bad Name", "high_risk_countries"):
        assert (await officer(LIST, {"n": bad_name, "e": ["x"]}))["data"]["setAmlList"]["errors"] == [
            {"field": "name", "code": "VALIDATION_FAILED"}]
    assert await scalar(session_factory, "SELECT count(*) FROM aml_lists WHERE name IN ('Bad Name', "
                                         "'high_risk_countries')") == 0


async def test_a_case_is_assigned_worked_and_closed_and_bad_steps_change_nothing(
        http: Any, session_factory: Any, settings: Any) -> None:
    team = f"team-{uuid.uuid4().hex[:6]}"
    first, second = await _case(session_factory, team), await _case(session_factory, team, outcome="block")
    officer = await make_staff(http, session_factory, settings, ["compliance"])
    call = officer.client
    cid = global_id("AmlCase", first)
    inbox = (await call(INBOX, {"t": team, "f": 1}))["data"]["amlCases"]
    assert [n["id"] for n in inbox["nodes"]] == [cid] and inbox["pageInfo"]["hasNextPage"] is True
    rest = (await call(INBOX, {"t": team, "f": 1, "a": inbox["pageInfo"]["endCursor"]}))["data"]["amlCases"]
    assert [n["id"] for n in rest["nodes"]] == [global_id("AmlCase", second)]

    me = global_id("StaffUser", officer.user_id)
    assert (await call(ASSIGN, {"c": cid, "a": me}))["data"]["assignAmlCase"] == {"case": {"assigneeId": me},
                                                                                   "errors": []}
    assert (await call(STATUS, {"c": cid, "s": "INVESTIGATING"}))["data"]["setAmlCaseStatus"]["case"] == {
        "status": "INVESTIGATING"}
    note = (await call(NOTE, {"c": cid, "b": " asked for source of funds "}))["data"]["addAmlCaseNote"]
    assert note == {"note": {"body": "asked for source of funds", "caseId": cid}, "errors": []}
    audit_before = len(await audit_of(session_factory, "aml_case", first))
    for query, variables, error in (
            (NOTE, {"c": cid, "b": "  "}, {"field": "body", "code": "VALIDATION_FAILED"}),
            (STATUS, {"c": cid, "s": "CLOSED"}, {"field": "status", "code": "VALIDATION_FAILED"}),
            (ASSIGN, {"c": cid, "a": global_id("StaffUser", 10**12)}, {"field": "assigneeId", "code": "NOT_FOUND"}),
            (CLOSE, {"c": cid, "o": "RISK_CONFIRMED", "n": ""}, {"field": "note", "code": "VALIDATION_FAILED"}),
            (CLOSE, {"c": global_id("AmlCase", 10**12), "o": "RISK_CONFIRMED", "n": "x"},
             {"field": "caseId", "code": "CASE_NOT_FOUND"}),
            (NOTE, {"c": "nope", "b": "x"}, {"field": "caseId", "code": "INVALID_ID"})):
        body = next(iter((await call(query, variables))["data"].values()))
        assert body["errors"] == [error], (query, variables)
    assert len(await audit_of(session_factory, "aml_case", first)) == audit_before
    assert await scalar(session_factory, "SELECT status FROM aml_cases WHERE id = :i", i=first) == "investigating"

    closed = (await call(CLOSE, {"c": cid, "o": "RISK_CONFIRMED", "n": "reported"}))["data"]["closeAmlCase"]
    assert closed["errors"] == [] and closed["case"]["status"] == "CLOSED" and closed["case"]["outcome"] == \
        "RISK_CONFIRMED"
    again = (await call(NOTE, {"c": cid, "b": "late"}))["data"]["addAmlCaseNote"]
    assert again == {"note": None, "errors": [{"field": "caseId", "code": "CASE_CLOSED"}]}
    open_only = (await call(INBOX, {"t": team, "s": ["OPEN", "INVESTIGATING"]}))["data"]["amlCases"]["nodes"]
    assert [n["id"] for n in open_only] == [global_id("AmlCase", second)]
    # A new alert for the closed case's client opens a new case; the open one is joined.
    async with session_factory() as s, s.begin():
        uid = await s.scalar(text("SELECT user_id FROM aml_cases WHERE id = :i"), {"i": first})
        reopened = await open_or_join_case(s, user_id=uid, team=team, outcome="review")
        joined = await open_or_join_case(s, user_id=uid, team=team, outcome="block")
    assert reopened != first and joined == reopened
    assert await scalar(session_factory, "SELECT alert_count FROM aml_cases WHERE id = :i", i=reopened) == 2

    support = (await make_staff(http, session_factory, settings, ["support"])).client
    forbidden = await support(NOTE, {"c": cid, "b": "x"})
    assert forbidden["data"] is None and forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_case_names_its_clients_record_for_the_client_360_view(
        http: Any, session_factory: Any, settings: Any) -> None:
    team = f"team-{uuid.uuid4().hex[:6]}"
    client_id, user_id, _ = await make_client(session_factory, settings, first="Case", last="Client")
    async with session_factory() as s, s.begin():
        with_client = await open_or_join_case(s, user_id=user_id, team=team, outcome="review")
    without = await _case(session_factory, team)
    call = (await make_staff(http, session_factory, settings, ["compliance"])).client
    nodes = (await call(INBOX, {"t": team}))["data"]["amlCases"]["nodes"]
    assert [(n["id"], n["clientId"]) for n in nodes] == [
        (global_id("AmlCase", with_client), global_id("Client360", client_id)), (global_id("AmlCase", without), None)]


ASSIGNABLE = "{ amlAssignableStaff { id displayName } }"


async def test_compliance_picks_an_assignee_among_case_workers_without_reading_the_staff_list(
        http: Any, session_factory: Any, settings: Any) -> None:
    officer = await make_staff(http, session_factory, settings, ["compliance"])
    colleague = await make_staff(http, session_factory, settings, ["compliance"])
    support = await make_staff(http, session_factory, settings, ["support"])
    gone = await make_staff(http, session_factory, settings, ["compliance"], enrol=False)
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE users SET display_name = :n WHERE id = :i"),
                        {"n": "Zoe Colleague", "i": colleague.user_id})
        await s.execute(text("UPDATE users SET status = 'disabled' WHERE id = :i"), {"i": gone.user_id})
    listed = (await officer.client(ASSIGNABLE))["data"]["amlAssignableStaff"]
    ids = [p["id"] for p in listed]
    assert global_id("StaffUser", officer.user_id) in ids and global_id("StaffUser", colleague.user_id) in ids
    assert global_id("StaffUser", support.user_id) not in ids  # no compliance.review: cannot work a case
    assert global_id("StaffUser", gone.user_id) not in ids  # disabled
    assert {"id": global_id("StaffUser", colleague.user_id), "displayName": "Zoe Colleague"} in listed
    assert set(listed[0]) == {"id", "displayName"}
    # The compliance role cannot read the staff list, yet the picked id is what assignAmlCase takes.
    refused = await officer.client("{ staffUsers(first: 5) { nodes { id } } }")
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    case = global_id("AmlCase", await _case(session_factory, f"team-{uuid.uuid4().hex[:6]}"))
    given = (await officer.client(ASSIGN, {"c": case, "a": global_id("StaffUser", colleague.user_id)}))
    assert given["data"]["assignAmlCase"] == {"case": {"assigneeId": global_id("StaffUser", colleague.user_id)},
                                              "errors": []}
    # Without compliance.read nobody learns who works compliance cases.
    denied = await support.client(ASSIGNABLE)
    assert denied["data"] is None and denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
