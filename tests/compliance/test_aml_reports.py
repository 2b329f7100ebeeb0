"""Suspicious transaction reports (goAML) from a case closed with "risk confirmed", worked over the API: the
document validates against the FIU's real XSD (5.0.2, patched at load time), four eyes before export, the
FIU's answer recorded; every refused step is a typed error that changes neither the report nor the audit."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import orjson
from lxml import etree
from sqlalchemy import text

from domain.clients import config
from domain.compliance.aml.goaml.schema import XSD_PATH, schema
from domain.fx.port import FxSettings
from domain.shared.actor import system_actor
from schema.node import global_id
from tests.clients.flow import PROFILE as PROFILE_MUTATION
from tests.clients.flow import VERIFY, profile_input, registered, verification_token
from tests.clients.staff_world import audit_of, scalar
from tests.identity.staff import make_staff
from tests.ids import db_id

ENTITY = """mutation($e: AmlReportingEntityInput!) { setAmlReportingEntity(entity: $e) {
  entity { rentityId localCurrency } errors { field code } } }"""
CREATE = """mutation($c: ID!, $k: AmlReportCode!, $r: String!, $i: [String!]!, $a: String!, $p: [ID!]) {
  createAmlReport(caseId: $c, reportCode: $k, reason: $r, indicators: $i, action: $a, paymentIds: $p) {
  report { id status reason indicators paymentIds entityReference } errors { field code message } } }"""
UPDATE = """mutation($r: ID!, $n: String, $i: [String!], $p: [ID!]) { updateAmlReport(reportId: $r, reason: $n,
  indicators: $i, paymentIds: $p) { report { reason indicators paymentIds } errors { field code message } } }"""
SUBMIT = """mutation($r: ID!) { submitAmlReport(reportId: $r) { report { status submittedById }
  errors { field code message } } }"""
APPROVE = """mutation($r: ID!) { approveAmlReport(reportId: $r) { report { status approvedById }
  errors { field code } } }"""
RETURN = """mutation($r: ID!, $n: String!) { returnAmlReport(reportId: $r, reason: $n) { report { status }
  errors { field code } } }"""
EXPORT = """mutation($r: ID!) { exportAmlReport(reportId: $r) { xml filename report { status exportedAt }
  errors { field code } } }"""
FIU = """mutation($r: ID!, $s: AmlReportFiuStatus!, $d: Date!, $f: String) { recordAmlReportFiuStatus(reportId: $r,
  status: $s, on: $d, reference: $f) { report { fiuStatus fiuStatusOn fiuRefNumber } errors { field code } } }"""
CASE_REPORTS = """query($c: ID!) { node(id: $c) { ... on AmlCase { reports(first: 5) { nodes { id status } } } } }"""
LIST = """query($c: ID) { amlReports(caseId: $c, first: 5) { nodes { id reportCode status } } }"""

MLRO = {"rentityId": 4711, "name": "Acme FX Ltd", "localCurrency": "EUR", "country": "CY",
        "address": "1 Makarios Avenue", "city": "Limassol", "contactFirstName": "Anna",
        "contactLastName": "Georgiou", "contactEmail": "mlro@acme-fx.example", "contactOccupation": "MLRO"}
PROFILE = {"phone": "+35799123456", "nationality": "RU", "occupation": "Engineer",
           "address": {"line": "12 Oak Street", "city": "Limassol", "postal_code": "3035", "country": "CY"},
           "tax_residencies": [{"country": "CY", "tin": "12345678X"}], "employment_status": "employed",
           "source_of_funds": "salary"}


async def _world(session_factory: Any, *, outcome: str | None = "risk_confirmed", first_name: str = "Ivan",
                 user_id: int | None = None) -> tuple[int, list[int]]:
    """A client with a full profile (or the client of `user_id`, as onboarded), a USD card deposit and a EUR wire
    withdrawal, each alerted in one case (and an allowed third payment that is no alert); the case closed with
    `outcome` (open when None)."""
    tag = uuid.uuid4().hex[:10]
    async with session_factory() as s, s.begin():
        uid = user_id
        if uid is None:
            uid = await s.scalar(text("INSERT INTO users (email, email_normalized, is_client) VALUES (:e, :e, true) "
                                      "RETURNING id"), {"e": f"ivan.{tag}@example.com"})
            await s.execute(text(
                "INSERT INTO clients (user_id, status, first_name, last_name, date_of_birth, country, profile) "
                "VALUES (:u, 'active', :f, 'Petrov', '1980-05-17', 'CY', :p)"),
                {"u": uid, "f": first_name, "p": orjson.dumps(PROFILE).decode()})
        await s.execute(text(
            "INSERT INTO fx_rates (source, base, quote, rate, rate_time) VALUES (:s, 'EUR', 'USD', 1.0870, now())"),
            {"s": FxSettings().source})
        payments: list[int] = []
        for direction, kind, code, currency, amount, payer in (
                ("deposit", "card", "visa", "USD", "15000.00", "Maria Ivanova"),
                ("withdrawal", "wire", "wire_eur", "EUR", "9900.00", None),
                ("deposit", "card", "visa", "USD", "50.00", None)):
            payments.append(int(await s.scalar(text(
                "INSERT INTO payments (reference, user_id, direction, method_code, method_kind, provider, currency, "
                "amount, country, status, payer_name, correlation_id) VALUES (:ref, :u, :d, :code, :k, 'psp', :c, "
                ":a, 'RU', 'succeeded', :payer, :corr) RETURNING id"),
                {"ref": f"P{tag}{len(payments)}", "u": uid, "d": direction, "code": code, "k": kind, "c": currency,
                 "a": amount, "payer": payer, "corr": uuid.uuid4()})))
        scenario = await s.scalar(text("INSERT INTO aml_scenarios (name) VALUES (:n) RETURNING id"), {"n": f"s-{tag}"})
        version = await s.scalar(text(
            "INSERT INTO aml_scenario_versions (scenario_id, version, status, document, triggers, committed_at) "
            "VALUES (:s, 1, 'committed', '{}', '{deposit}', now()) RETURNING id"), {"s": scenario})
        case_id = int(await s.scalar(text(
            "INSERT INTO aml_cases (user_id, team, sla_due_at, alert_count) VALUES (:u, 'compliance', "
            "now() + interval '1 day', 2) RETURNING id"), {"u": uid}))
        for payment, decided in zip(payments, ("block", "review", "allow"), strict=True):
            await s.execute(text(
                "INSERT INTO aml_decisions (scenario_id, version_id, user_id, trigger, payment_id, event, score, "
                "outcome, explain, case_id) VALUES (:s, :v, :u, 'deposit', :p, '{}', 60, :o, '[]', :c)"),
                {"s": scenario, "v": version, "u": uid, "p": payment, "o": decided, "c": case_id})
        if outcome is not None:
            await s.execute(text("UPDATE aml_cases SET status = 'closed', outcome = :o, closing_note = 'x', "
                                 "closed_at = now() WHERE id = :c"), {"o": outcome, "c": case_id})
    return case_id, payments


async def _report_row(session_factory: Any, report_id: int) -> dict[str, Any]:
    async with session_factory() as s:
        row = (await s.execute(text("SELECT * FROM aml_reports WHERE id = :i"), {"i": report_id})).one()
        return dict(row._mapping)


def _body(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer.get("errors") is None, answer
    return dict(next(iter(answer["data"].values())))


async def test_a_confirmed_case_is_reported_validated_approved_by_a_second_officer_and_exported(
        http: Any, session_factory: Any, settings: Any) -> None:
    first = await make_staff(http, session_factory, settings, ["compliance"])
    second = await make_staff(http, session_factory, settings, ["compliance"])
    assert _body(await first.client(ENTITY, {"e": MLRO}))["errors"] == []
    case_id, (deposit, withdrawal, _) = await _world(session_factory)
    cid = global_id("AmlCase", case_id)

    made = _body(await first.client(CREATE, {"c": cid, "k": "STR", "r": " Rapid in and out with a third-party "
                                             "card, no trading. ", "i": ["unusu", "FRQDW"], "a": "Account frozen",
                                             "p": None}))
    assert made["errors"] == []
    report = made["report"]
    rid, key = report["id"], int(report["entityReference"].rsplit("-", 1)[1])
    assert report["status"] == "DRAFT" and report["indicators"] == ["FRQDW", "UNUSU"]
    assert report["paymentIds"] == [global_id("Payment", deposit), global_id("Payment", withdrawal)]
    assert report["reason"] == "Rapid in and out with a third-party card, no trading."

    edited = _body(await first.client(UPDATE, {"r": rid, "i": ["STRUC", "UNUSU"]}))
    assert edited["errors"] == [] and edited["report"]["indicators"] == ["STRUC", "UNUSU"]

    submitted = _body(await first.client(SUBMIT, {"r": rid}))
    assert submitted["errors"] == [] and submitted["report"]["status"] == "PENDING_APPROVAL"
    # Not while pending: no edits, no export; not by the submitter.
    before = await _report_row(session_factory, key)
    audit_before = await audit_of(session_factory, "aml_report", key)
    assert _body(await first.client(UPDATE, {"r": rid, "n": "late"}))["errors"] == [
        {"field": "reportId", "code": "REPORT_WRONG_STATUS", "message": "this report is pending_approval; this "
                                                                         "needs it draft"}]
    assert _body(await first.client(EXPORT, {"r": rid}))["errors"] == [
        {"field": "reportId", "code": "REPORT_WRONG_STATUS"}]
    assert _body(await first.client(APPROVE, {"r": rid}))["errors"] == [
        {"field": "reportId", "code": "SELF_APPROVAL_FORBIDDEN"}]
    assert await _report_row(session_factory, key) == before
    assert await audit_of(session_factory, "aml_report", key) == audit_before

    approved = _body(await second.client(APPROVE, {"r": rid}))
    assert approved["errors"] == [] and approved["report"] == {
        "status": "APPROVED", "approvedById": global_id("StaffUser", second.user_id)}
    exported = _body(await first.client(EXPORT, {"r": rid}))
    assert exported["errors"] == [] and exported["report"]["status"] == "EXPORTED"
    assert exported["filename"] == f"FXCRM-STR-{key}.xml"
    xml = exported["xml"].encode()
    assert xml == (await _report_row(session_factory, key))["xml"].encode()  # exported as approved

    # The document validates against the FIU's XSD, and says what the case found.
    doc = etree.fromstring(xml)
    assert schema().validate(doc), schema().error_log
    assert doc.findtext("rentity_id") == "4711" and doc.findtext("report_code") == "STR"
    assert doc.findtext("currency_code_local") == "EUR" and doc.findtext("action") == "Account frozen"
    assert [i.text for i in doc.iter("indicator")] == ["STRUC", "UNUSU"]
    txns = doc.findall("transaction")
    assert [t.findtext("internal_ref_number") for t in txns] == [str(deposit), str(withdrawal)]
    assert txns[0].findtext("amount_local") == "13799.45"  # 15000.00 USD at 1.0870 USD per EUR
    assert txns[0].findtext("t_from/from_foreign_currency/foreign_amount") == "15000.00"
    assert txns[0].findtext("t_from/from_person/last_name") == "Ivanova"  # the payer the deposit named
    assert txns[1].findtext("amount_local") == "9900.00" and txns[1].find("t_from/from_foreign_currency") is None
    person = txns[0].find("t_to/to_person")
    assert person is not None
    assert [person.findtext(f) for f in ("first_name", "last_name", "birthdate", "nationality1", "residence")] == [
        "Ivan", "Petrov", "1980-05-17T00:00:00", "RU", "CY"]
    assert person.findtext("addresses/address/city") == "Limassol"
    assert person.findtext("tax_number") == "12345678X"
    # The pristine FIU file rejects this very document (its ^...$ name patterns): hence the patch at load time.
    pristine = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    assert not pristine.validate(doc)
    assert "first_name" in str(pristine.error_log)

    for status, on, ref in (("SUBMITTED", "2026-01-10", "FIU-2026-0042"), ("ACCEPTED", "2026-01-12", None)):
        answered = _body(await first.client(FIU, {"r": rid, "s": status, "d": on, "f": ref}))
        assert answered["errors"] == [] and answered["report"]["fiuStatus"] == status
    assert answered["report"] == {"fiuStatus": "ACCEPTED", "fiuStatusOn": "2026-01-12", "fiuRefNumber": "FIU-2026-0042"}

    assert [a["action"] for a in await audit_of(session_factory, "aml_report", key)] == [
        "aml.report_drafted", "aml.report_edited", "aml.report_submitted", "aml.report_approved",
        "aml.report_exported", "aml.report_fiu_status", "aml.report_fiu_status"]
    approver = [a for a in await audit_of(session_factory, "aml_report", key) if a["action"] == "aml.report_approved"]
    assert approver[0]["actor_user_id"] == second.user_id
    listed = (await first.client(CASE_REPORTS, {"c": cid}))["data"]["node"]["reports"]["nodes"]
    assert listed == [{"id": rid, "status": "EXPORTED"}]
    assert (await first.client(LIST, {"c": cid}))["data"]["amlReports"]["nodes"] == [
        {"id": rid, "reportCode": "STR", "status": "EXPORTED"}]


async def test_bad_reports_are_typed_errors_that_change_nothing(http: Any, session_factory: Any,
                                                                settings: Any) -> None:
    officer = await make_staff(http, session_factory, settings, ["compliance"])
    call = officer.client
    assert _body(await call(ENTITY, {"e": MLRO}))["errors"] == []
    entity_trail = await audit_of(session_factory, "aml_reporting_entity", 1)
    assert entity_trail[-1]["action"] == "aml.reporting_entity_set"
    assert entity_trail[-1]["actor_user_id"] == officer.user_id
    bad_entity = _body(await call(ENTITY, {"e": {**MLRO, "localCurrency": "ZZZ", "contactFirstName": "Ánna",
                                               "rentityId": 0}}))
    assert sorted(e["field"] for e in bad_entity["errors"]) == ["contactFirstName", "localCurrency", "rentityId"]
    assert await scalar(session_factory, "SELECT rentity_id FROM aml_reporting_entity") == 4711
    assert await audit_of(session_factory, "aml_reporting_entity", 1) == entity_trail

    open_case, _ = await _world(session_factory, outcome=None)
    false_positive, _ = await _world(session_factory, outcome="false_positive")
    confirmed, (deposit, _, allowed) = await _world(session_factory)
    count = await scalar(session_factory, "SELECT count(*) FROM aml_reports")
    audits = await scalar(session_factory, "SELECT count(*) FROM audit_events WHERE entity_type = 'aml_report'")
    good = {"c": global_id("AmlCase", confirmed), "k": "SAR", "r": "why", "i": ["UNUSU"], "a": "", "p": None}
    for variables, errors in (
            ({**good, "r": "   "}, [{"field": "reason", "code": "VALIDATION_FAILED"}]),
            ({**good, "r": "", "i": ["NOPE"]}, [{"field": "reason", "code": "VALIDATION_FAILED"},
                                                {"field": "indicators", "code": "VALIDATION_FAILED"}]),
            ({**good, "i": []}, [{"field": "indicators", "code": "VALIDATION_FAILED"}]),
            ({**good, "c": global_id("AmlCase", open_case)}, [{"field": "caseId", "code": "CASE_NOT_RISK_CONFIRMED"}]),
            ({**good, "c": global_id("AmlCase", false_positive)},
             [{"field": "caseId", "code": "CASE_NOT_RISK_CONFIRMED"}]),
            ({**good, "c": global_id("AmlCase", 10**12)}, [{"field": "caseId", "code": "CASE_NOT_FOUND"}]),
            ({**good, "c": global_id("AmlScenario", confirmed)}, [{"field": "caseId", "code": "INVALID_ID"}]),
            ({**good, "p": [global_id("Payment", allowed)]}, [{"field": "paymentIds", "code": "VALIDATION_FAILED"}]),
            ({**good, "p": []}, [{"field": "paymentIds", "code": "VALIDATION_FAILED"}])):
        refused = _body(await call(CREATE, variables))
        assert refused["report"] is None
        assert [{"field": e["field"], "code": e["code"]} for e in refused["errors"]] == errors, variables
    assert await scalar(session_factory, "SELECT count(*) FROM aml_reports") == count
    assert await scalar(session_factory, "SELECT count(*) FROM audit_events WHERE entity_type = 'aml_report'") == audits

    made = _body(await call(CREATE, {**good, "p": [global_id("Payment", deposit)]}))["report"]
    rid = made["id"]
    key = int(made["entityReference"].rsplit("-", 1)[1])
    row = await _report_row(session_factory, key)
    trail = await audit_of(session_factory, "aml_report", key)
    edits: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"r": rid, "n": ""}, {"field": "reason", "code": "VALIDATION_FAILED"}),
        ({"r": rid, "p": [global_id("Payment", allowed)]}, {"field": "paymentIds", "code": "VALIDATION_FAILED"}),
        ({"r": global_id("AmlReport", 10**12), "n": "x"}, {"field": "reportId", "code": "REPORT_NOT_FOUND"})]
    for variables, error in edits:
        refused = _body(await call(UPDATE, variables))
        assert [{"field": e["field"], "code": e["code"]} for e in refused["errors"]] == [error]
    for query in (APPROVE, EXPORT):
        assert _body(await call(query, {"r": rid}))["errors"] == [{"field": "reportId", "code": "REPORT_WRONG_STATUS"}]
    assert _body(await call(FIU, {"r": rid, "s": "ACCEPTED", "d": "2026-01-01", "f": "X"}))["errors"] == [
        {"field": "reportId", "code": "REPORT_WRONG_STATUS"}]
    assert await _report_row(session_factory, key) == row
    assert await audit_of(session_factory, "aml_report", key) == trail

    # The case's client with a name goAML cannot carry (its name pattern is ASCII): the XSD says where.
    accented, _ = await _world(session_factory, first_name="Jérôme")
    draft = _body(await call(CREATE, {**good, "c": global_id("AmlCase", accented)}))["report"]
    akey = int(draft["entityReference"].rsplit("-", 1)[1])
    arow, atrail = await _report_row(session_factory, akey), await audit_of(session_factory, "aml_report", akey)
    invalid = _body(await call(SUBMIT, {"r": draft["id"]}))
    assert invalid["report"] is None and {e["code"] for e in invalid["errors"]} == {"GOAML_SCHEMA_INVALID"}
    assert {e["field"] for e in invalid["errors"]} == {  # the client, and the withdrawal's payee (no other named)
        "report/transaction[1]/t_to/to_person/first_name", "report/transaction[2]/t_from/from_person/first_name",
        "report/transaction[2]/t_to/to_person/first_name"}
    assert "first_name" in invalid["errors"][0]["message"] and "pattern" in invalid["errors"][0]["message"]
    assert await _report_row(session_factory, akey) == arow
    assert await audit_of(session_factory, "aml_report", akey) == atrail


async def test_four_eyes_refuses_related_approvers_and_a_returned_report_is_a_draft_again(
        http: Any, session_factory: Any, settings: Any) -> None:
    officer = await make_staff(http, session_factory, settings, ["compliance"])
    creature = await make_staff(http, session_factory, settings, ["compliance"])
    async with session_factory() as s, s.begin():
        await s.execute(text("INSERT INTO staff_provenance (subject_id, actor_id, kind) VALUES (:s, :a, 'created')"),
                        {"s": creature.user_id, "a": officer.user_id})
    assert _body(await officer.client(ENTITY, {"e": MLRO}))["errors"] == []
    case_id, _ = await _world(session_factory)
    made = _body(await officer.client(CREATE, {"c": global_id("AmlCase", case_id), "k": "STR", "r": "why",
                                               "i": ["UNUSU"], "a": "", "p": None}))["report"]
    rid, key = made["id"], int(made["entityReference"].rsplit("-", 1)[1])
    assert _body(await officer.client(SUBMIT, {"r": rid}))["errors"] == []
    row = await _report_row(session_factory, key)
    assert _body(await creature.client(APPROVE, {"r": rid}))["errors"] == [
        {"field": "reportId", "code": "FOUR_EYES_RELATED_APPROVER"}]
    assert await _report_row(session_factory, key) == row
    assert _body(await creature.client(RETURN, {"r": rid, "n": " "}))["errors"] == [
        {"field": "reason", "code": "VALIDATION_FAILED"}]
    returned = _body(await creature.client(RETURN, {"r": rid, "n": "name the counterparty"}))
    assert returned == {"report": {"status": "DRAFT"}, "errors": []}
    trail = await audit_of(session_factory, "aml_report", key)
    assert trail[-1]["action"] == "aml.report_returned" and trail[-1]["reason"] == "name the counterparty"

    # Without compliance.reports: refused outright.
    support = (await make_staff(http, session_factory, settings, ["support"])).client
    forbidden = await support(SUBMIT, {"r": rid})
    assert forbidden["data"] is None and forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await support("query($i: ID!) { node(id: $i) { id } }", {"i": rid}))["data"]["node"] is None


async def test_a_future_fiu_date_is_refused(http: Any, session_factory: Any, settings: Any) -> None:
    officer = await make_staff(http, session_factory, settings, ["compliance"])
    answer = _body(await officer.client(FIU, {"r": global_id("AmlReport", 10**12), "s": "ACCEPTED",
                                              "d": date(datetime.now(UTC).year + 1, 1, 1).isoformat(), "f": None}))
    assert answer["errors"] == [{"field": "on", "code": "VALIDATION_FAILED"}]


async def test_the_nationality_the_client_gave_is_the_persons_in_the_report(
        http: Any, session_factory: Any, settings: Any) -> None:
    async with session_factory() as s, s.begin():  # Germany served, as the onboarding tests configure it
        await config.set_jurisdiction(s, system_actor("test"), country="DE", served=True, regulated=True,
                                      regulator="BaFin", high_risk=False)
    client, email, client_id = await registered(http)
    token = await verification_token(session_factory, email)
    assert (await client(VERIFY, {"t": token}))["data"]["verifyClientEmail"]["errors"] == []
    done = await client(PROFILE_MUTATION, {"i": profile_input(firstName="Olena", nationality="UA")})
    assert done["data"]["updateMyProfile"]["errors"] == [], done
    uid = await scalar(session_factory, "SELECT user_id FROM clients WHERE id = :c", c=db_id(client_id))

    first = await make_staff(http, session_factory, settings, ["compliance"])
    second = await make_staff(http, session_factory, settings, ["compliance"])
    assert _body(await first.client(ENTITY, {"e": MLRO}))["errors"] == []
    case_id, _ = await _world(session_factory, user_id=uid)
    made = _body(await first.client(CREATE, {"c": global_id("AmlCase", case_id), "k": "STR", "r": "In and out.",
                                             "i": ["UNUSU"], "a": "Account frozen", "p": None}))
    assert made["errors"] == []
    rid = made["report"]["id"]
    assert _body(await first.client(SUBMIT, {"r": rid}))["errors"] == []
    assert _body(await second.client(APPROVE, {"r": rid}))["errors"] == []
    exported = _body(await first.client(EXPORT, {"r": rid}))
    assert exported["errors"] == []
    doc = etree.fromstring(exported["xml"].encode())
    assert schema().validate(doc), schema().error_log
    person = doc.find("transaction/t_to/to_person")
    assert person is not None
    assert [person.findtext(f) for f in ("first_name", "nationality1", "residence")] == ["Olena", "UA", "DE"]


async def _transfer(session_factory: Any, case_id: int, *, outcome: str, direction: str = "to_account",
                    amount: str = "2500.00") -> int:
    """A wallet <-> trading account transfer of the case's client in USD, decided `outcome` in the case (a block
    holds it)."""
    tag = uuid.uuid4().hex[:10]
    async with session_factory() as s, s.begin():
        case = (await s.execute(text(
            "SELECT c.user_id, d.scenario_id, d.version_id FROM aml_cases c JOIN aml_decisions d ON d.case_id = c.id "
            "WHERE c.id = :c LIMIT 1"), {"c": case_id})).one()
        accounts = []
        for purpose, server, login in (("client_wallet", None, None), ("trading_account_mirror", "mt5-live", 700123)):
            await s.execute(text(
                "INSERT INTO ledger_accounts (type, purpose, currency, owner_id, server_id, login) VALUES "
                "('liability', :p, 'USD', :u, :s, :l) ON CONFLICT DO NOTHING"),
                {"p": purpose, "u": case.user_id, "s": server, "l": login})
            accounts.append(await s.scalar(text(
                "SELECT id FROM ledger_accounts WHERE purpose = :p AND owner_id = :u AND currency = 'USD'"),
                {"p": purpose, "u": case.user_id}))
        wallet, mirror = accounts
        held = outcome == "block"
        transfer = int(await s.scalar(text(
            "INSERT INTO ledger_transfers (external_id, user_id, direction, wallet_account_id, mirror_account_id, "
            "server_id, login, currency, amount, status, idem_scope, idem_key) VALUES (:x, :u, :d, :w, :m, "
            "'mt5-live', 700123, 'USD', :a, :st, 'test', :k) RETURNING id"),
            {"x": uuid.uuid4(), "u": case.user_id, "d": direction, "w": wallet, "m": mirror, "a": amount,
             "st": "held" if held else "done", "k": tag}))
        await s.execute(text(
            "INSERT INTO aml_decisions (scenario_id, version_id, user_id, trigger, subject, event, score, outcome, "
            "explain, case_id, hold_status) VALUES (:s, :v, :u, 'transfer', :sub, '{}', 60, :o, '[]', :c, :h)"),
            {"s": case.scenario_id, "v": case.version_id, "u": case.user_id, "sub": f"transfer:{transfer}",
             "o": outcome, "c": case_id, "h": "held" if held else None})
    return transfer


async def test_held_and_alerted_transfers_are_transactions_of_the_report(
        http: Any, session_factory: Any, settings: Any) -> None:
    first = await make_staff(http, session_factory, settings, ["compliance"])
    second = await make_staff(http, session_factory, settings, ["compliance"])
    assert _body(await first.client(ENTITY, {"e": MLRO}))["errors"] == []
    case_id, (deposit, withdrawal, _) = await _world(session_factory)
    held = await _transfer(session_factory, case_id, outcome="block")
    back = await _transfer(session_factory, case_id, outcome="review", direction="from_account", amount="400.00")
    await _transfer(session_factory, case_id, outcome="allow")  # no alert: not reported
    cid = global_id("AmlCase", case_id)

    # Chosen payments or none at all: the case's transfers are reported either way.
    made = _body(await first.client(CREATE, {"c": cid, "k": "STR", "r": "Money parked in the account.",
                                             "i": ["UNUSU"], "a": "Account frozen", "p": []}))
    assert made["errors"] == [] and made["report"]["paymentIds"] == []
    rid = made["report"]["id"]
    assert _body(await first.client(SUBMIT, {"r": rid}))["errors"] == []
    assert _body(await second.client(APPROVE, {"r": rid}))["errors"] == []
    exported = _body(await first.client(EXPORT, {"r": rid}))
    assert exported["errors"] == []
    doc = etree.fromstring(exported["xml"].encode())
    assert schema().validate(doc), schema().error_log
    txns = doc.findall("transaction")
    assert [t.findtext("internal_ref_number") for t in txns] == [f"transfer:{held}", f"transfer:{back}"]
    into = txns[0]
    assert into.findtext("transaction_description") == (
        "transfer of 2500.00 USD from the client's wallet to their trading account (trading account "
        "mt5-live:700123), status held")
    assert into.findtext("amount_local") == "2299.91"  # 2500.00 USD at 1.0870 USD per EUR
    assert into.findtext("t_from/from_foreign_currency/foreign_amount") == "2500.00"
    for side in ("t_from/from_person", "t_to/to_person"):  # the client on both sides
        assert [into.findtext(f"{side}/{f}") for f in ("first_name", "last_name", "nationality1")] == [
            "Ivan", "Petrov", "RU"]
    assert "from the client's trading account to their wallet" in (txns[1].findtext("transaction_description") or "")

    # With payments, the transfers come beside them.
    again = _body(await first.client(CREATE, {"c": cid, "k": "SAR", "r": "All of it.", "i": ["UNUSU"],
                                              "a": "Account frozen", "p": None}))
    assert again["errors"] == []
    assert _body(await first.client(SUBMIT, {"r": again["report"]["id"]}))["errors"] == []
    assert _body(await second.client(APPROVE, {"r": again["report"]["id"]}))["errors"] == []
    key = int(again["report"]["entityReference"].rsplit("-", 1)[1])
    xml = (await _report_row(session_factory, key))["xml"]
    refs = [t.findtext("internal_ref_number") for t in etree.fromstring(xml.encode()).findall("transaction")]
    assert sorted(refs) == sorted([str(deposit), str(withdrawal), f"transfer:{held}", f"transfer:{back}"])
