"""Desk scoping (issue 15, item 6): support staff see their own desk's clients' payments, trading
accounts and deals, and answer "not found" for another desk's, by sequential id as by any other;
staff without a desk see none; back office (finance here) sees every desk."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text

from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.identity.staff import make_staff
from tests.tenancy.cases import Env
from tests.tenancy.cases_money import _owned_account
from tests.tenancy.cases_payments import _withdrawal

PAYMENT = "query($i: ID!) { payment(id: $i) { reference } }"
ACCOUNT = "query($i: ID!) { tradingAccount(id: $i) { login } }"
DEALS = "query($i: ID!) { deals(accountId: $i) { nodes { dealId } } }"


async def _deal(session_factory: Any, server_id: int, login: int, account_id: int) -> int:
    deal_id = int(uuid.uuid4().int % 1_000_000_000)
    async with session_factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, account_id, order_id, position_id, "
            "action, entry, symbol, price, volume, profit, commission, storage, fee, reason, contract_size, "
            "rate_profit, rate_margin, comment, batch_id) VALUES (:s, :d, now(), 0, :l, :a, 1, 1, 0, 0, 'EURUSD', "
            "1.1, 1, 5, 0, 0, 0, 0, 100000, 1, 1, '', gen_random_uuid())"),
            {"s": server_id, "d": deal_id, "l": login, "a": account_id})
    return deal_id


async def test_support_sees_only_its_own_desks_objects(http: httpx.AsyncClient, session_factory: Any,
                                                       settings: Any) -> None:
    owner = await register(GraphQLClient(http))
    home, away = f"home-{uuid.uuid4().hex[:8]}", f"away-{uuid.uuid4().hex[:8]}"
    env = Env(owner=GraphQLClient(http, owner["accessToken"]), owner_id=int(owner["viewer"]["id"]),
              owner_email=owner["email"], admin=GraphQLClient(http), session_factory=session_factory,
              settings=settings, http=http)
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE clients SET desk = :d WHERE user_id = :u"), {"d": home, "u": env.owner_id})
    payment_id, reference = await _withdrawal(env)
    server_id, login, account_id = await _owned_account(env)
    deal_id = await _deal(session_factory, server_id, login, account_id)
    probes = [(PAYMENT, payment_id, "payment", {"reference": reference}),
              (ACCOUNT, account_id, "tradingAccount", {"login": login}),
              (DEALS, account_id, "deals", {"nodes": [{"dealId": str(deal_id)}]})]

    same_desk = (await make_staff(http, session_factory, settings, ["support"], desk=home)).client
    finance = (await make_staff(http, session_factory, settings, ["finance"])).client
    for staff in (same_desk, finance):
        for query, oid, field, seen in probes[:1] if staff is finance else probes:
            body = await staff(query, {"i": str(oid)})
            assert body["data"] == {field: seen}, body

    other_desk = (await make_staff(http, session_factory, settings, ["support"], desk=away)).client
    no_desk = (await make_staff(http, session_factory, settings, ["support"])).client
    for staff in (other_desk, no_desk):
        for query, oid, _, _ in probes:
            body = await staff(query, {"i": str(oid)})
            assert body["data"] is None, body
            assert body["errors"][0]["extensions"]["code"].endswith("NOT_FOUND"), body
            assert reference not in str(body) and str(login) not in str(body)
        # Neighbouring sequential ids answer the same way: nothing to enumerate.
        for oid in (payment_id + 1, account_id + 1):
            assert (await staff(PAYMENT, {"i": str(oid)}))["data"] is None


async def _aml_records(session_factory: Any, user_id: int, officer_id: int) -> dict[str, int]:
    """An open case of the client with a note, a file, a draft report and a held decision (rows only: the
    test is about who reaches them)."""
    async with session_factory() as s, s.begin():
        scenario = await s.scalar(text("INSERT INTO aml_scenarios (name) VALUES (:n) RETURNING id"),
                                  {"n": f"desk-{uuid.uuid4().hex[:8]}"})
        version = await s.scalar(text("INSERT INTO aml_scenario_versions (scenario_id, status, document, triggers) "
                                      "VALUES (:s, 'draft', '{}', '{deposit}') RETURNING id"), {"s": scenario})
        case = await s.scalar(text("INSERT INTO aml_cases (user_id, team, sla_due_at) VALUES (:u, 'compliance', "
                                   "now() + interval '1 day') RETURNING id"), {"u": user_id})
        note = await s.scalar(text("INSERT INTO aml_case_notes (case_id, author_id, body) VALUES (:c, :a, 'n') "
                                   "RETURNING id"), {"c": case, "a": officer_id})
        decision = await s.scalar(text(
            "INSERT INTO aml_decisions (scenario_id, version_id, user_id, trigger, event, score, outcome, explain, "
            "hold_status, case_id, subject) VALUES (:s, :v, :u, 'deposit', '{}', 60, 'block', '[]', 'held', :c, "
            "'payment:0') RETURNING id"), {"s": scenario, "v": version, "u": user_id, "c": case})
        file = await s.scalar(text(
            "INSERT INTO aml_case_attachments (case_id, filename, content_type, size_bytes, sha256, storage_key, "
            "uploaded_by) VALUES (:c, 'f.pdf', 'application/pdf', 1, repeat('0', 64), :k, :a) RETURNING id"),
            {"c": case, "k": f"aml-cases/{uuid.uuid4().hex}", "a": officer_id})
        report = await s.scalar(text(
            "INSERT INTO aml_reports (case_id, user_id, report_code, reason, indicators, payment_ids, created_by) "
            "VALUES (:c, :u, 'STR', 'r', '{}', '{}', :a) RETURNING id"), {"c": case, "u": user_id, "a": officer_id})
    return {"AmlCase": case, "AmlCaseNote": note, "AmlDecision": decision, "AmlCaseAttachment": file,
            "AmlReport": report}


NODE = "query($i: ID!) { node(id: $i) { id } }"
CASES = "{ amlCases(first: 100) { nodes { databaseId } } }"
REPORTS = "{ amlReports(first: 100) { nodes { databaseId } } }"
DECISIONS = "query($u: ID) { amlDecisions(userId: $u, first: 100) { nodes { databaseId } } }"
AML_WRITES = [
    ("mutation($i: ID!) { addAmlCaseNote(caseId: $i, body: \"seen\") { errors { code } } }", "AmlCase",
     "CASE_NOT_FOUND"),
    ("mutation($i: ID!) { setAmlCaseStatus(caseId: $i, status: INVESTIGATING) { errors { code } } }", "AmlCase",
     "CASE_NOT_FOUND"),
    ("mutation($i: ID!) { releaseAmlHold(decisionId: $i, reason: \"ok\") { errors { code } } }", "AmlDecision",
     "NOT_FOUND"),
    ("mutation($i: ID!) { amlCaseAttachmentLink(attachmentId: $i) { errors { code } } }", "AmlCaseAttachment",
     "NOT_FOUND"),
    ("mutation($i: ID!) { submitAmlReport(reportId: $i) { errors { code } } }", "AmlReport", "REPORT_NOT_FOUND"),
]


async def test_desk_compliance_staff_see_and_work_only_their_desks_aml_cases(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    from domain.identity import roles as roles_service
    from domain.shared.actor import system_actor
    from schema.node import global_id
    from tests.clients.staff_world import make_client

    home, away = f"home-{uuid.uuid4().hex[:6]}", f"away-{uuid.uuid4().hex[:6]}"
    _, home_uid, _ = await make_client(session_factory, settings, first="H", last="Home", desk=home)
    _, away_uid, _ = await make_client(session_factory, settings, first="A", last="Away", desk=away)
    officer = await make_staff(http, session_factory, settings, ["compliance"])
    mine = await _aml_records(session_factory, home_uid, officer.user_id)
    theirs = await _aml_records(session_factory, away_uid, officer.user_id)
    role = f"desk-aml-{uuid.uuid4().hex[:6]}"
    async with session_factory() as s, s.begin():
        await roles_service.create_role(s, system_actor("test"), name=role, description="desk AML",
                                        permissions=["compliance.read", "compliance.review", "compliance.reports"])
    analyst = (await make_staff(http, session_factory, settings, [role], desk=home)).client
    no_desk = (await make_staff(http, session_factory, settings, [role])).client

    def listed(body: dict[str, Any], field: str) -> set[int]:
        return {int(n["databaseId"]) for n in body["data"][field]["nodes"]}

    # Back office (the compliance role) sees every desk's; the desk analyst only their desk's; no desk, none.
    for caller, expected in ((officer.client, {mine["AmlCase"], theirs["AmlCase"]}), (analyst, {mine["AmlCase"]}),
                             (no_desk, set())):
        assert listed(await caller(CASES), "amlCases") & {mine["AmlCase"], theirs["AmlCase"]} == expected
    assert listed(await analyst(REPORTS), "amlReports") & {mine["AmlReport"], theirs["AmlReport"]} == \
        {mine["AmlReport"]}
    assert listed(await analyst(DECISIONS, {"u": str(away_uid)}), "amlDecisions") == set()
    assert listed(await analyst(DECISIONS, {"u": str(home_uid)}), "amlDecisions") == {mine["AmlDecision"]}
    for kind in mine:
        own = await analyst(NODE, {"i": global_id(kind, mine[kind])})
        assert own["data"]["node"] == {"id": global_id(kind, mine[kind])}, (kind, own)
        for caller in (analyst, no_desk):
            other = await caller(NODE, {"i": global_id(kind, theirs[kind])})
            assert other["data"]["node"] is None, (kind, other)
        assert (await officer.client(NODE, {"i": global_id(kind, theirs[kind])}))["data"]["node"] is not None

    # Another desk's records answer "not found" to every write, and nothing changes.
    audits = await session_factory_count(session_factory)
    for query, kind, code in AML_WRITES:
        refused = await analyst(query, {"i": global_id(kind, theirs[kind])})
        assert next(iter(refused["data"].values()))["errors"] == [{"code": code}], (query, refused)
    assert await session_factory_count(session_factory) == audits
    noted = await analyst(AML_WRITES[0][0], {"i": global_id("AmlCase", mine["AmlCase"])})
    assert noted["data"]["addAmlCaseNote"]["errors"] == []


async def session_factory_count(session_factory: Any) -> int:
    """Audit events so far (a refused write records none)."""
    async with session_factory() as s:
        return int(await s.scalar(text("SELECT count(*) FROM audit_events")) or 0)
