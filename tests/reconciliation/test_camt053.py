"""External client-money reconciliation against camt.053 bank statements (v02 and v08), uploaded through the
API's real multipart path: entries matched to the ledger's wire postings by payment reference and amount,
unmatched ones on either side as breaks of the run (bank section), the closing balance as the bank resource,
duplicates and schema-invalid files refused with nothing changed, an opening balance that does not follow the
previous statement raised; the sign-off's four eyes.

Each test uses its own IBAN and a currency of its own among this file's (the bank section covers every wire
posting of a currency some statement covers at the close). Closing balances are dated today (the close of a
run with cutoff = now) and entries booked on the day whose noon UTC falls in the run's default window (the day
before now).
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from lxml import etree
from sqlalchemy import text

from bench.camt_files import Entry, statement
from domain.ledger.accounts import Purpose, house_account, wallet_for
from domain.ledger.posting import Leg, post
from domain.payments.reference import new_reference
from domain.reconciliation import camt
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction, utcnow
from domain.shared.iso20022 import camt053
from domain.shared.money import decimal_text
from schema.node import global_id
from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.identity.staff import make_staff

UPLOAD = """mutation($f: Upload!) { importClientMoneyStatement(file: $f) {
  statements { databaseId iban statementId electronicSequenceNumber version entryCount closingDate
    balances { type currency amount asOf } }
  warnings { code currency opening previousClosing previousStatementId }
  errors { code field message } } }"""
RUN = """mutation($c: DateTime!) { runReconciliation(cutoff: $c) { run { id databaseId
  clientMoney { currency resource bankBalances kind } } errors { code } } }"""
SIGN = """mutation($i: ID!) { signOffClientMoney(runId: $i, note: "checked against the bank") {
  signOff { signedByStaffUserId preparerStaffUserIds openBreaks } errors { code } } }"""


def _iban() -> str:
    return "GB" + f"{secrets.randbelow(100):02d}" + "TEST" + "".join(str(secrets.randbelow(10)) for _ in range(14))


async def upload(http: httpx.AsyncClient, caller: GraphQLClient, data: bytes, name: str = "stmt.xml") -> dict[str, Any]:
    headers = {"Apollo-Require-Preflight": "true", **({"Authorization": f"Bearer {caller.token}"}
                                                      if caller.token else {})}
    response = await http.post("/graphql", headers=headers, data={
        "operations": json.dumps({"query": UPLOAD, "variables": {"f": None}}),
        "map": json.dumps({"f": ["variables.f"]})}, files={"f": (name, data)})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wire(factory: Any, uid: int, currency: str, amount: str, *, direction: str = "deposit") -> str:
    """A wire movement as the ledger books it: the bank account against the client's wallet, the entry's ref_id
    our payment reference (payments.deposits.credit / withdrawals)."""
    reference = new_reference(direction)
    value = Decimal(amount)

    async def work(s: Any) -> None:
        bank = await house_account(s, Purpose.BANK, currency)
        wallet = await wallet_for(s, uid, currency)
        legs = [Leg(bank, value), Leg(wallet, -value)] if direction == "deposit" else [Leg(bank, -value),
                                                                                         Leg(wallet, value)]
        await post(s, system_actor("test"), legs, ref_kind=direction, ref_id=reference,
                   idempotency_key=uuid.uuid4().hex, description=f"{direction} {reference}")

    await in_transaction(factory, work)
    return reference


async def _counts(factory: Any, iban: str) -> dict[str, int]:
    async with factory() as s:
        row = (await s.execute(text(
            "SELECT (SELECT count(*) FROM bank_statements WHERE iban = :a) AS statements, "
            "(SELECT count(*) FROM bank_statement_entries x JOIN bank_statements b ON b.id = x.statement_id "
            " WHERE b.iban = :a) AS entries, "
            "(SELECT count(*) FROM client_money_resources WHERE account = :a) AS resources, "
            "(SELECT count(*) FROM audit_events WHERE action LIKE 'reconciliation.%' AND after::text LIKE :p) AS audit"),
            {"a": iban, "p": f"%{iban}%"})).one()
    return dict(row._mapping)


async def _breaks(factory: Any, run: dict[str, Any], currency: str) -> list[dict[str, Any]]:
    """The run's bank breaks in a currency (the shared database holds more than a page of breaks)."""
    async with factory() as s:
        rows = (await s.execute(text(
            "SELECT key, kind, section, amount_diff, evidence FROM reconciliation_breaks WHERE run_id = :r "
            "AND section = 'bank' AND currency = :c"), {"r": int(run["databaseId"]), "c": currency})).all()
    return [{"key": r.key, "kind": r.kind.upper(), "section": r.section.upper(), "currency": currency,
             "amountDiff": decimal_text(r.amount_diff), "evidence": r.evidence} for r in rows]


async def _run(gql: GraphQLClient) -> dict[str, Any]:
    ran = await gql(RUN, {"c": utcnow().isoformat()})
    assert ran["data"]["runReconciliation"]["errors"] == [], ran
    return dict(ran["data"]["runReconciliation"]["run"])


@pytest.mark.parametrize("version", ["02", "08"])
def test_the_fixture_statements_are_valid_per_the_xsd(version: str) -> None:
    doc = statement(version, iban=_iban(), statement_id="S-1", currency="EUR", opening=Decimal("10"),
                    day=utcnow().date(), seq=3,
                    entries=[Entry(Decimal("5.25"), end_to_end=new_reference("deposit")),
                             Entry(Decimal("-1"), remittance="fee"), Entry(Decimal("2"), status="PDNG"),
                             Entry(Decimal("7"), remittance="back", payer="A Payer", currency="USD",
                                   return_code="AC04", return_info="account closed")])
    xsd = camt053.schema(version)
    assert xsd.validate(etree.fromstring(doc)), xsd.error_log
    assert camt.sniff_version(doc[:200]) == version


@pytest.mark.parametrize("version", ["02", "08"])
async def test_the_one_parser_reads_what_the_payments_import_matches(version: str) -> None:
    """domain/shared/iso20022/camt053.py serves both imports: the payer (v02 Dbtr/Nm, v08 Dbtr/Pty/Nm), the first
    transaction's remittance, the return reason (RtrInf), booking date and both bank references."""
    day = utcnow().date()
    doc = statement(version, iban=_iban(), statement_id="S-2", currency="EUR", opening=Decimal("0"), day=day,
                    entries=[Entry(Decimal("7.50"), remittance="RETURN WD-1", payer="A Payer", currency="USD",
                                   return_code="AC04", return_info="account closed", bank_ref="B-1"),
                             Entry(Decimal("-2"), end_to_end="E2E-9")])

    first, second = await camt053.entries(doc, limit=10)

    assert (first.line_no, first.amount, first.currency, first.credit, first.status) == (
        1, Decimal("7.50"), "USD", True, "BOOK")
    assert (first.booking_date, first.acct_svcr_ref, first.entry_ref) == (day, "B-1", "1")
    assert (first.payer_name, first.tx_remittance, first.return_reason) == ("A Payer", "RETURN WD-1",
                                                                             "AC04 account closed")
    assert first.remittance == "RETURN WD-1" and first.end_to_end_id is None
    assert (second.amount, second.credit, second.end_to_end_id, second.payer_name, second.return_reason) == (
        Decimal("2"), False, "E2E-9", "", "")
    assert await camt053.entries(doc, limit=1) == [first]  # reading stops at the limit
    with pytest.raises(camt053.Invalid, match=r"^line \d+: .*Sts"):
        await camt053.entries(doc.replace(b"<Sts>BOOK</Sts>" if version == "02" else b"<Sts><Cd>BOOK</Cd></Sts>",
                                          b"", 1), limit=10)


@pytest.mark.parametrize(("version", "currency"), [("02", "NOK"), ("08", "SEK")])
async def test_entries_are_matched_to_wire_postings_and_the_rest_are_breaks(
    version: str, currency: str, http: httpx.AsyncClient, session_factory: Any, settings: Any, make_user: Any,
) -> None:
    finance = await make_staff(http, session_factory, settings, ["finance"])
    client = await make_user()
    matched_in = await wire(session_factory, client, currency, "250.00")
    short = await wire(session_factory, client, currency, "100.00")
    unbooked = await wire(session_factory, client, currency, "40.00")
    paid_out = await wire(session_factory, client, currency, "60.00", direction="withdrawal")
    today = utcnow().date()
    # placed at noon UTC of its booking date: the one inside the default window of a day before now
    yesterday = today if utcnow().hour >= 12 else today - timedelta(days=1)
    iban = _iban()
    doc = statement(version, iban=iban, statement_id=f"{iban}-1", currency=currency, opening=Decimal("1000"),
                    day=today, seq=1, entries=[
                        Entry(Decimal("250.00"), end_to_end=matched_in, booked=yesterday),
                        Entry(Decimal("90.00"), remittance=f"client payment {short.lower()}", booked=yesterday),
                        Entry(Decimal("-60.00"), remittance=f"payout {paid_out}", booked=yesterday),
                        Entry(Decimal("12.34"), remittance="unknown payer, no reference", bank_ref="NOREF1",
                              booked=yesterday),
                        Entry(Decimal("7.00"), end_to_end=new_reference("deposit"), status="PDNG", booked=yesterday),
                    ])

    done = (await upload(http, finance.client, doc))["data"]["importClientMoneyStatement"]
    run = await _run(finance.client)
    found = await _breaks(session_factory, run, currency)

    assert done["errors"] == [], done
    [stmt] = done["statements"]
    assert (stmt["iban"], stmt["version"], stmt["entryCount"], stmt["electronicSequenceNumber"]) == (
        iban, version, 5, "1")
    assert {(b["type"], b["amount"]) for b in stmt["balances"]} == {("OPBD", "1000.00"), ("CLBD", "1292.34")}
    mine = {b["key"]: b for b in found if b["section"] == "BANK" and b["currency"] == currency
            and (any(r in b["key"] for r in (matched_in, short, unbooked, paid_out)) or iban in b["key"])}
    assert {k: (b["kind"], b["amountDiff"]) for k, b in mine.items()} == {
        f"{short}:{currency}": ("AMOUNT_MISMATCH", "-10"),
        f"{unbooked}:{currency}": ("MISSING_IN_BANK", "-40"),
        f"entry:{iban}:{iban}-1:4:{currency}": ("MISSING_IN_LEDGER", "12.34"),
    }
    missing = mine[f"entry:{iban}:{iban}-1:4:{currency}"]
    assert missing["evidence"]["bank"]["entries"][0]["acctSvcrRef"] == "NOREF1"
    assert mine[f"{short}:{currency}"]["evidence"]["ledger"]["amount"] == "100"
    async with session_factory() as s:
        matched = set((await s.scalars(text(
            "SELECT key FROM reconciliation_matches WHERE run_id = :r AND section = 'bank'"),
            {"r": int(run["databaseId"])})).all())
    assert {f"{matched_in}:{currency}", f"{paid_out}:{currency}"} <= matched
    # The closing balance is the bank resource of the close
    [line] = [x for x in run["clientMoney"] if x["currency"] == currency]
    assert Decimal(line["bankBalances"]) >= Decimal("1292.34")
    # The statement's entries as the back office reads them (signed, with the reference found), two pages
    entries_q = ("query($s: ID!, $a: String) { bankStatementEntries(statementId: $s, first: 3, after: $a) { "
                 "pageInfo { hasNextPage endCursor } nodes { lineNo amount currency status bankReference "
                 "paymentReference } } }")
    page1 = (await finance.client(entries_q, {"s": stmt["databaseId"]}))["data"]["bankStatementEntries"]
    page2 = (await finance.client(entries_q, {"s": stmt["databaseId"], "a": page1["pageInfo"]["endCursor"]})
             )["data"]["bankStatementEntries"]
    rows = page1["nodes"] + page2["nodes"]
    assert page1["pageInfo"]["hasNextPage"] and not page2["pageInfo"]["hasNextPage"]
    assert [(r["lineNo"], r["amount"], r["status"], r["paymentReference"]) for r in rows] == [
        (1, "250.00", "BOOK", matched_in), (2, "90.00", "BOOK", short), (3, "-60.00", "BOOK", paid_out),
        (4, "12.34", "BOOK", None), (5, "7.00", "PDNG", rows[4]["paymentReference"])]
    assert rows[3]["bankReference"] == "NOREF1" and rows[4]["paymentReference"]
    # The run's breaks of the bank section only
    bank_q = ("query($r: ID!) { reconciliationBreaks(filter: {runId: $r, section: BANK}, first: 100) { "
              "nodes { section key } } }")
    listed = (await finance.client(bank_q, {"r": run["id"]}))["data"]["reconciliationBreaks"]["nodes"]
    assert {b["section"] for b in listed} == {"BANK"}
    assert {f"{short}:{currency}", f"{unbooked}:{currency}"} <= {b["key"] for b in listed}
    bad = await finance.client(entries_q, {"s": "not-an-id"})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_ID", bad
    none = await finance.client(entries_q, {"s": "999999999999"})
    assert none["data"]["bankStatementEntries"]["nodes"] == []


async def test_closing_balance_is_the_resource_and_cannot_be_typed_over(
    http: httpx.AsyncClient, session_factory: Any, settings: Any,
) -> None:
    finance = await make_staff(http, session_factory, settings, ["finance"])
    iban, today = _iban(), utcnow().date()
    hand = ("mutation($i: ClientMoneyResourceInput!) { recordClientMoneyResource(input: $i) { resource { balance } "
            "errors { code field } } }")
    typed = {"asOf": today.isoformat(), "kind": "BANK", "account": iban, "currency": "PLN", "balance": "5.00"}
    first = await finance.client(hand, {"i": typed})
    doc = statement("08", iban=iban, statement_id="CL-1", currency="PLN", opening=Decimal("0"), day=today,
                    entries=[Entry(Decimal("777.77"), remittance="opening funds")])
    done = (await upload(http, finance.client, doc))["data"]["importClientMoneyStatement"]
    before = await _counts(session_factory, iban)
    again = await finance.client(hand, {"i": {**typed, "balance": "1.00"}})

    assert first["data"]["recordClientMoneyResource"]["errors"] == []
    assert done["errors"] == []
    assert again["data"]["recordClientMoneyResource"] == {
        "resource": None, "errors": [{"code": "CLIENT_MONEY_BALANCE_FROM_STATEMENT", "field": "balance"}]}
    assert await _counts(session_factory, iban) == before
    async with session_factory() as s:
        row = (await s.execute(text(
            "SELECT balance, statement_id, recorded_by FROM client_money_resources WHERE account = :a AND as_of = :d"),
            {"a": iban, "d": today})).one()
        audited = (await s.execute(text(
            "SELECT before FROM audit_events WHERE action = 'reconciliation.client_money.resource' "
            "AND entity_type = 'client_money_resource' AND after->>'account' = :a ORDER BY id"), {"a": iban})).all()
    assert (row.balance, row.recorded_by) == (Decimal("777.77"), finance.user_id)
    assert row.statement_id == int(done["statements"][0]["databaseId"])
    assert audited[-1].before == {"balance": "5.00000000", "statement_id": None}  # the hand-entered figure replaced


async def test_duplicate_and_invalid_statements_are_refused_and_change_nothing(
    http: httpx.AsyncClient, session_factory: Any, settings: Any,
) -> None:
    finance = await make_staff(http, session_factory, settings, ["finance"])
    iban, today = _iban(), utcnow().date()
    doc = statement("02", iban=iban, statement_id="DUP-1", currency="CZK", opening=Decimal("10"), day=today,
                    entries=[Entry(Decimal("1.50"), remittance="x")] * 3)
    first = (await upload(http, finance.client, doc))["data"]["importClientMoneyStatement"]
    before = await _counts(session_factory, iban)

    twice = (await upload(http, finance.client, doc))["data"]["importClientMoneyStatement"]
    # schema-invalid after its first valid entries: the rows already copied are rolled back
    other = _iban()
    broken = statement("08", iban=other, statement_id="BAD-1", currency="CZK", opening=Decimal("1"), day=today,
                       entries=[Entry(Decimal("2"))] * 4)
    lines = broken.split(b"\n")
    lines[-3] = lines[-3].replace(b"<Sts><Cd>BOOK</Cd></Sts>", b"<Sts><Cd>BOOKED</Cd></Sts>")
    invalid = (await upload(http, finance.client, b"\n".join(lines)))["data"]["importClientMoneyStatement"]
    not_camt = (await upload(http, finance.client, b"<Document xmlns='urn:x'/>"))["data"][
        "importClientMoneyStatement"]
    cut = statement("02", iban=_iban(), statement_id="CUT-1", currency="CZK", opening=Decimal("10"), day=today,
                    entries=[Entry(Decimal("1.50"), remittance="x")] * 3)
    garbage = (await upload(http, finance.client, cut[:len(cut) - 200]))["data"]["importClientMoneyStatement"]

    assert first["errors"] == [] and first["statements"][0]["entryCount"] == 3
    assert twice == {"statements": None, "warnings": [], "errors": [{
        "code": "BANK_STATEMENT_DUPLICATE", "field": "file",
        "message": f"statement DUP-1 of {iban} was already imported"}]}
    assert await _counts(session_factory, iban) == before
    listed = await finance.client("query($a: String) { bankStatements(iban: $a, first: 10) { nodes { statementId "
                                  "entryCount balances { type amount } } } }", {"a": iban})
    assert listed["data"]["bankStatements"]["nodes"] == [{"statementId": "DUP-1", "entryCount": 3, "balances": [
        {"type": "OPBD", "amount": "10.00"}, {"type": "CLBD", "amount": "14.50"}]}]
    [error] = invalid["errors"]
    assert error["code"] == "BANK_STATEMENT_INVALID" and invalid["statements"] is None
    assert error["message"].startswith(f"line {len(lines) - 2}: ") and "Cd" in error["message"], error
    assert await _counts(session_factory, other) == {"statements": 0, "entries": 0, "resources": 0, "audit": 0}
    assert not_camt["errors"][0]["code"] == "BANK_STATEMENT_INVALID"
    assert garbage["errors"][0]["code"] == "BANK_STATEMENT_INVALID" and "line" in garbage["errors"][0]["message"]


async def test_an_opening_balance_not_following_the_previous_closing_is_a_warning_and_a_break(
    http: httpx.AsyncClient, session_factory: Any, settings: Any,
) -> None:
    finance = await make_staff(http, session_factory, settings, ["finance"])
    iban, today = _iban(), utcnow().date()
    yesterday = today - timedelta(days=1)
    first = statement("02", iban=iban, statement_id="OB-1", currency="DKK", opening=Decimal("100"), day=yesterday,
                      seq=1, entries=[Entry(Decimal("50"), booked=yesterday)])  # closes at 150
    second = statement("02", iban=iban, statement_id="OB-2", currency="DKK", opening=Decimal("140"), day=today,
                       seq=2, entries=[])
    a = (await upload(http, finance.client, first))["data"]["importClientMoneyStatement"]
    b = (await upload(http, finance.client, second))["data"]["importClientMoneyStatement"]
    run = await _run(finance.client)
    found = await _breaks(session_factory, run, "DKK")

    assert a["errors"] == [] and a["warnings"] == []
    assert b["errors"] == [] and b["warnings"] == [{"code": "OPENING_BALANCE_MISMATCH", "currency": "DKK",
                                                    "opening": "140.00", "previousClosing": "150.00",
                                                    "previousStatementId": "OB-1"}]
    [brk] = [x for x in found if x["key"] == f"opening:{iban}:OB-2:DKK"]
    assert (brk["section"], brk["kind"], brk["amountDiff"]) == ("BANK", "OPENING_BALANCE_MISMATCH", "-10")
    assert brk["evidence"]["previousStatement"] == "OB-1"


async def test_four_eyes_on_the_sign_off_and_who_may_upload_or_sign(
    http: httpx.AsyncClient, session_factory: Any, settings: Any,
) -> None:
    preparer = await make_staff(http, session_factory, settings, ["finance"])
    reviewer = await make_staff(http, session_factory, settings, ["finance"])
    support = await make_staff(http, session_factory, settings, ["support"])
    iban, today = _iban(), utcnow().date()
    doc = statement("08", iban=iban, statement_id="FE-1", currency="HUF", opening=Decimal("0"), day=today,
                    entries=[Entry(Decimal("1000"), remittance="funds")])
    denied_upload = await upload(http, support.client, doc)
    client = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    client_upload = await upload(http, client, doc)
    anonymous_upload = await upload(http, GraphQLClient(http), doc)
    done = (await upload(http, preparer.client, doc))["data"]["importClientMoneyStatement"]
    run = await _run(preparer.client)
    async with session_factory() as s:
        audit_before = await s.scalar(text("SELECT count(*) FROM audit_events WHERE entity_type = 'reconciliation_run' "
                                           "AND entity_id = :r"), {"r": run["databaseId"]})

    refused = await preparer.client(SIGN, {"i": run["id"]})
    denied = await support.client(SIGN, {"i": run["id"]})
    client_sign = await client(SIGN, {"i": run["id"]})
    async with session_factory() as s:
        audit_after = await s.scalar(text("SELECT count(*) FROM audit_events WHERE entity_type = 'reconciliation_run' "
                                          "AND entity_id = :r"), {"r": run["databaseId"]})
        stored = await s.scalar(text("SELECT count(*) FROM client_money_signoffs WHERE run_id = :r"),
                                {"r": int(run["databaseId"])})
    signed = await reviewer.client(SIGN, {"i": run["id"]})

    assert denied_upload["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert client_upload["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert anonymous_upload["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")
    assert client_sign["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert done["errors"] == []
    assert refused["data"]["signOffClientMoney"] == {"signOff": None, "errors": [{"code": "CLIENT_MONEY_FOUR_EYES"}]}
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (audit_after, stored) == (audit_before, 0)
    result = signed["data"]["signOffClientMoney"]
    assert result["errors"] == []
    assert result["signOff"]["signedByStaffUserId"] == global_id("StaffUser", reviewer.user_id)
    assert global_id("StaffUser", preparer.user_id) in result["signOff"]["preparerStaffUserIds"]
    async with session_factory() as s:
        audited = (await s.execute(text(
            "SELECT actor_user_id, after FROM audit_events WHERE entity_type = 'reconciliation_run' AND entity_id = :r "
            "AND action = 'reconciliation.client_money.sign_off'"), {"r": run["databaseId"]})).all()
    assert [(a.actor_user_id, preparer.user_id in a.after["preparers"]) for a in audited] == [(reviewer.user_id, True)]
