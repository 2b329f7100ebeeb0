"""Records on request (domain/audit/records.py), tested with the IB world's fixtures (the audit suite
keeps a database of its own, which a live server must not share with the other suites): each kind
lists the right rows for a client, an IB and a period, never another client's or IB's; bad filters
are typed errors; the CSV and XLSX downloads hold the same rows."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest

from domain.audit import record_exports, records
from domain.ib.plans import ClauseKind, ClauseSpec, Distribution
from domain.ledger import wallets
from domain.ledger.accounts import wallet_for
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from domain.shared.pagination import PageRequest
from infra.logging import redact
from schema.root import build_schema
from tests.graphql_exec import run_as
from tests.ib.conftest import World
from tests.ib.test_engine import make_plan
from tests.identity.staff import make_staff

D = Decimal
K = records.RecordKind
READER = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"audit.read", "ledger.adjust"}))


@dataclass
class Scene:
    world: World
    ib_a: int
    ib_b: int
    client_a: int  # user ids
    client_b: int
    record_a: int  # clients.id
    record_b: int
    plan_a: int
    staff: int


async def _client_record(w: World, uid: int) -> int:
    rows = await w.sql("INSERT INTO clients (user_id, status, first_name, last_name) VALUES (:u, 'registered', "
                       "'Rec', 'Ords') RETURNING id", u=uid)
    return int(rows[0][0])


async def _facts(w: World, staff: int, uid: int, record: int, login: int, note: str) -> None:
    """One adjustment that posts at once, one leverage request and one communication for the client."""
    account = (await w.sql("SELECT id FROM trading_accounts WHERE server_id = :s AND login = :l",
                           s=w.server_id, l=login))[0][0]
    wallet = (await in_transaction(w.factory, lambda s: wallet_for(s, uid, "USD"))).id
    actor = Actor(ActorKind.STAFF, user_id=staff, permissions=frozenset({"ledger.adjust"}))
    await in_transaction(w.factory, lambda s: wallets.adjust_balance(
        s, actor, wallet_id=wallet, amount=D("12.50"), reason=f"goodwill {note}", idempotency_key=uuid.uuid4().hex))
    await w.sql("INSERT INTO leverage_requests (client_id, trading_account_id, from_leverage, to_leverage, cap, "
                "status, auto_approved, decided_by, reason) VALUES (:c, :a, 100, 30, 30, 'rejected', false, :by, "
                "'over the ESMA cap')", c=record, a=account, by=staff)
    await w.sql("INSERT INTO client_communications (client_id, kind, direction, subject, body, author_user_id) "
                "VALUES (:c, 'call', 'out', :s, '=HYPERLINK(\"x\")', :by)", c=record, s=f"call {note}", by=staff)


@pytest.fixture
async def scene(world: World) -> Scene:
    w = world
    staff = await w.user()
    ib_a, ib_b = await w.ib(), await w.ib()
    client_a, client_b = await w.client_of(ib_a), await w.client_of(ib_b)
    record_a, record_b = await _client_record(w, client_a), await _client_record(w, client_b)
    login_a, login_b = await w.account(client_a), await w.account(client_b)
    # Both clause lists stay alive: make_plan names a plan after the list's id().
    clauses_a = [ClauseSpec(ClauseKind.PER_LOT, (D(3),), max_total=D(3))]
    clauses_b = [ClauseSpec(ClauseKind.PER_LOT, (D(5),), max_total=D(5))]
    plan_a = await make_plan(w, Distribution.OVERRIDE, clauses_a, ibs=(ib_a,))
    await make_plan(w, Distribution.OVERRIDE, clauses_b, ibs=(ib_b,))
    await w.trade([w.deal(login_a), w.deal(login_b, minutes=90)])
    await _facts(w, staff, client_a, record_a, login_a, "a")
    await _facts(w, staff, client_b, record_b, login_b, "b")
    return Scene(w, ib_a, ib_b, client_a, client_b, record_a, record_b, plan_a, staff)


async def _list(s: Scene, kind: K, **flt: Any) -> list[Any]:
    async with s.world.factory() as session:
        page = await records.list_records(session, READER, kind, records.RecordFilter(**flt), PageRequest(size=500))
    return list(page.items)


async def test_each_kind_lists_the_clients_and_the_ibs_own_rows(scene: Scene) -> None:
    s = scene
    # commission lines: the IB's own, each with its plan version and formula
    lines = await _list(s, K.COMMISSION, ib_id=s.ib_a)
    assert lines and {r.ib_id for r in lines} == {s.ib_a} and {r.client_user_id for r in lines} == {s.client_a}
    assert all(r.plan_id == s.plan_a and r.plan_version == 1 and r.formula for r in lines)
    assert sum(r.amount for r in lines) == D(3)
    assert [r.line_id for r in await _list(s, K.COMMISSION, client_id=s.record_a)] == [r.line_id for r in lines]
    # IB relationships: the application, its approval, the parent edge, the attribution, the plan
    rel = await _list(s, K.IB_RELATIONSHIP, ib_id=s.ib_a)
    assert {r.record for r in rel} == {"status", "parent", "client_attribution", "plan_assignment"}
    assert {r.status for r in rel if r.record == "status"} == {"pending", "approved"}
    assert {r.ib_id for r in rel} == {s.ib_a}
    assert [(r.record, r.client_user_id) for r in await _list(s, K.IB_RELATIONSHIP, client_id=s.record_b)] == [
        ("client_attribution", s.client_b)]
    # client kinds: by client, and by IB through the client's attribution at the time
    for kind in (K.BALANCE_ADJUSTMENT, K.LEVERAGE_CHANGE, K.COMMUNICATION):
        mine = await _list(s, kind, client_id=s.record_a)
        assert len(mine) == 1 and mine[0].client_user_id == s.client_a, kind
        assert [r.rid for r in await _list(s, kind, ib_id=s.ib_a)] == [mine[0].rid], kind
    adj = (await _list(s, K.BALANCE_ADJUSTMENT, client_id=s.record_b))[0]
    assert (adj.amount, adj.currency, adj.status, adj.requested_by, adj.reason) == (
        D("12.50"), "USD", "posted", s.staff, "goodwill b")
    lev = (await _list(s, K.LEVERAGE_CHANGE, client_id=s.record_a))[0]
    assert (lev.from_leverage, lev.requested_leverage, lev.cap, lev.status, lev.decided_by) == (
        100, 30, 30, "rejected", s.staff)


async def test_the_period_filter_is_from_inclusive_to_exclusive(scene: Scene) -> None:
    s = scene
    line = (await _list(s, K.COMMISSION, ib_id=s.ib_a))[0]
    at = line.occurred_at
    assert [r.rid for r in await _list(s, K.COMMISSION, ib_id=s.ib_a, occurred_from=at,
                                       occurred_to=at + timedelta(milliseconds=1))] == [line.rid]
    assert await _list(s, K.COMMISSION, ib_id=s.ib_a, occurred_to=at) == []
    assert await _list(s, K.COMMISSION, ib_id=s.ib_a, occurred_from=at + timedelta(milliseconds=1)) == []


@pytest.mark.parametrize(("flt", "code", "field"), [
    ({"occurred_from": datetime(2026, 1, 1)}, "VALIDATION_FAILED", "filter.from"),
    ({"occurred_from": datetime(2026, 1, 2).astimezone(), "occurred_to": datetime(2026, 1, 1).astimezone()},
     "VALIDATION_FAILED", "filter.to"),
    ({"client_id": 9_000_000_000}, "RECORD_CLIENT_NOT_FOUND", "filter.clientId"),
    ({"ib_id": 9_000_000_000}, "IB_NOT_FOUND", "filter.ibId"),
])
async def test_bad_filters_are_typed_errors(scene: Scene, flt: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(DomainError) as raised:
        await _list(scene, K.COMMISSION, **flt)
    assert (raised.value.code, raised.value.field) == (code, field)


async def test_desk_staff_do_not_see_another_desks_client(scene: Scene) -> None:
    await scene.world.sql("UPDATE clients SET desk = 'home' WHERE id = :c", c=scene.record_a)
    desk = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"audit.read"}), desk="away")
    async with scene.world.factory() as session:
        with pytest.raises(DomainError) as raised:
            await records.list_records(session, desk, K.COMMUNICATION, records.RecordFilter(client_id=scene.record_a),
                                       PageRequest(size=10))
    assert raised.value.code == "RECORD_CLIENT_NOT_FOUND"


QUERY = """query($k: RegulatorRecordKind!, $f: RegulatorRecordFilter, $first: Int, $after: String) {
  regulatorRecords(kind: $k, filter: $f, first: $first, after: $after) {
    edges { node { __typename ... on CommissionLineRecord { lineId ibId planVersion formula amount }
                   ... on CommunicationRecord { subject clientUserId } } }
    pageInfo { hasNextPage endCursor } } }"""


async def test_the_query_pages_typed_records_and_refuses_bad_filters(scene: Scene, settings: Any,
                                                                     runtime: Any) -> None:
    s, schema = scene, build_schema(settings)
    first = await run_as(schema, runtime, READER, QUERY, k="COMMISSION", f={"ibId": str(s.ib_b)}, first=1)
    assert first.errors is None, first.errors
    page = first.data["regulatorRecords"]
    node = page["edges"][0]["node"]
    assert node["__typename"] == "CommissionLineRecord" and node["ibId"] == str(s.ib_b) and node["amount"] == "5.00"
    comms = await run_as(schema, runtime, READER, QUERY, k="COMMUNICATION", f={"clientId": str(s.record_b)})
    assert [e["node"] for e in comms.data["regulatorRecords"]["edges"]] == [
        {"__typename": "CommunicationRecord", "subject": "call b", "clientUserId": str(s.client_b)}]
    bad = await run_as(schema, runtime, READER, QUERY, k="COMMUNICATION", f={"ibId": "9000000000"})
    assert bad.data is None and bad.errors[0].original_error.code == "IB_NOT_FOUND"
    no_permission = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"clients.read"}))
    refused = await run_as(schema, runtime, no_permission, QUERY, k="COMMUNICATION")
    assert refused.data is None and refused.errors[0].extensions["code"] == "FORBIDDEN"


EXPORT = """mutation($k: RegulatorRecordKind!, $fmt: RecordExportFormat!, $f: RegulatorRecordFilter) {
  regulatorRecordsExportLink(kind: $k, format: $fmt, filter: $f) { link { url expiresAt } errors { code field } } }"""


async def _download(http: Any, login: Any, kind: str, fmt: str, flt: dict[str, Any]) -> Any:
    made = await login.client(EXPORT, {"k": kind, "fmt": fmt, "f": flt})
    payload = made["data"]["regulatorRecordsExportLink"]
    assert payload["errors"] == [], payload
    url = payload["link"]["url"]
    response = await http.get(url[url.index("/documents/records/"):])
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    return response


async def test_csv_and_xlsx_exports_hold_the_filtered_rows(scene: Scene, http: Any, settings: Any) -> None:
    s = scene
    compliance = await make_staff(http, s.world.factory, settings, ["compliance"])
    # CSV: the header, then the IB's lines oldest first; the formula-looking body is neutralised
    body = (await _download(http, compliance, "COMMISSION", "CSV", {"ibId": str(s.ib_a)})).text
    rows = list(csv.reader(io.StringIO(body)))
    assert tuple(rows[0]) == records.header(K.COMMISSION)
    assert len(rows) == 2 and rows[1][rows[0].index("ib_id")] == str(s.ib_a)
    assert rows[1][rows[0].index("amount")] == "3.00" and rows[1][rows[0].index("plan_version")] == "1"
    comms = list(csv.reader(io.StringIO((await _download(http, compliance, "COMMUNICATION", "CSV",
                                                         {"clientId": str(s.record_a)})).text)))
    assert comms[1][comms[0].index("body")] == "'=HYPERLINK(\"x\")"
    assert record_exports.csv_lines([[D("-12.50"), "-2", None, 7]]) == "-12.50,'-2,,7\n"  # numbers stay numbers
    # XLSX: opened as a workbook, the same columns and rows; text never a formula
    raw = (await _download(http, compliance, "BALANCE_ADJUSTMENT", "XLSX", {"ibId": str(s.ib_b)})).content
    sheet = openpyxl.load_workbook(io.BytesIO(raw), read_only=True).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert tuple(values[0]) == records.header(K.BALANCE_ADJUSTMENT) and len(values) == 2
    row = dict(zip(values[0], values[1], strict=True))
    assert (row["client_user_id"], row["amount"], row["status"], row["reason"]) == (
        s.client_b, "12.50", "posted", "goodwill b")
    xl_comms = openpyxl.load_workbook(io.BytesIO((await _download(
        http, compliance, "COMMUNICATION", "XLSX", {"clientId": str(s.record_a)})).content), read_only=True).active
    cells = [list(r) for r in xl_comms.iter_rows(values_only=True)]
    assert cells[1][cells[0].index("body")] == '=HYPERLINK("x")'  # a string cell, not a formula
    # the issuing and each download are audited
    audited = await s.world.sql("SELECT action FROM audit_events WHERE entity_type = 'regulator_record_export' "
                                "AND actor_user_id = :u ORDER BY id", u=compliance.user_id)
    assert [a[0] for a in audited] == ["regulator_records.export_link_issued", "regulator_records.exported"] * 4


async def test_an_export_link_refuses_bad_filters_and_other_staff(scene: Scene, http: Any, settings: Any) -> None:
    s = scene
    compliance = await make_staff(http, s.world.factory, settings, ["compliance"])
    before = await s.world.sql("SELECT count(*) FROM regulator_record_exports")
    bad = await compliance.client(EXPORT, {"k": "COMMISSION", "fmt": "CSV", "f": {"clientId": "9000000000"}})
    assert bad["data"]["regulatorRecordsExportLink"] == {
        "link": None, "errors": [{"code": "RECORD_CLIENT_NOT_FOUND", "field": "filter.clientId"}]}
    assert await s.world.sql("SELECT count(*) FROM regulator_record_exports") == before
    made = await compliance.client(EXPORT, {"k": "COMMISSION", "fmt": "CSV", "f": {"ibId": str(s.ib_a)}})
    url = made["data"]["regulatorRecordsExportLink"]["link"]["url"]
    path = url[url.index("/documents/records/"):]
    token = path.removeprefix("/documents/records/")
    assert token not in redact(f'"GET {path} HTTP/1.1" 200') and "/documents/records/[redacted]" in redact(path)
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert (await http.get(tampered)).status_code == 404
    # another staff member's session cannot use it: the link is bound to its issuer's live session
    await compliance.client("mutation { logout { ok } }")
    assert (await http.get(path)).status_code == 404
