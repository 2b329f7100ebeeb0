"""AML records under retention (domain/retention/aml_records.py): a client's cases with their notes,
files and goAML reports, and their monitoring decisions. Due (5 years after the relationship ended,
no case or report in progress) -> files deleted from storage (local and S3), personal content blanked,
the audit chain still verifying; not due, held, money held, a case open, or an erasure request while
their period runs -> kept, and the erasure decision says so (audited)."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.audit.verify import verify
from domain.clients.storage import BlobNotFound, BlobStore, LocalStore, S3Store, default_store
from domain.compliance.aml import attachments, cases
from domain.compliance.aml.engine import open_or_join_case
from domain.retention import erasure, runs, schedules
from domain.retention.enforcement import enforce_client
from domain.retention.holds import place, release
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction
from domain.shared.settings import Settings
from tests.clients.test_s3_storage import bucket, s3_endpoint  # noqa: F401 - fixtures (moto's S3 server)
from tests.identity.staff import make_staff
from tests.retention.world import PDF, client_with_document, close_years_ago, deposit, document, reverse

ACTOR = system_actor("retention-test")
STAFF = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"retention.manage"}))
SECRET = "Ivan Petrov sent 9,800 EUR from IBAN DE89370400440532013000"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "documents")


async def _aml_file(session_factory: Any, settings: Settings, store: BlobStore, user_id: int) -> dict[str, int]:
    """A closed case of the client with a note, a file, an exported report and an alert behind it, and one
    more decision (allow) outside any case."""
    async with session_factory() as s, s.begin():
        officer = int(await s.scalar(text(
            "INSERT INTO users (email, email_normalized, is_staff) VALUES (:e, :e, true) RETURNING id"),
            {"e": f"{uuid.uuid4().hex[:12]}@broker.example"}))
        scenario = int(await s.scalar(text("INSERT INTO aml_scenarios (name) VALUES (:n) RETURNING id"),
                                      {"n": f"ret-{uuid.uuid4().hex[:8]}"}))
        version = int(await s.scalar(text(
            "INSERT INTO aml_scenario_versions (scenario_id, status, document, triggers) "
            "VALUES (:s, 'draft', '{}'::jsonb, '{deposit}') RETURNING id"), {"s": scenario}))
        case_id = await open_or_join_case(s, user_id=user_id, team="compliance", outcome="review")
        decisions = [int(await s.scalar(text(
            "INSERT INTO aml_decisions (scenario_id, version_id, user_id, trigger, event, score, outcome, explain, "
            "case_id, subject) VALUES (:s, :v, :u, 'deposit', CAST(:e AS jsonb), 70, :o, CAST(:x AS jsonb), :c, "
            "'payment:1') RETURNING id"),
            {"s": scenario, "v": version, "u": user_id, "c": c, "o": o, "e": f'{{"payer_name": "{SECRET}"}}',
             "x": f'[{{"rule": "payer", "value": "{SECRET}"}}]'})) for c, o in ((case_id, "review"), (None, "allow"))]
        staff = Actor(ActorKind.STAFF, user_id=officer, permissions=frozenset({"compliance.review"}))
        await cases.add_note(s, staff, case_id, SECRET)
        file = await attachments.add(s, settings, store, staff, case_id, filename="statement-petrov.pdf", data=PDF,
                                     description=SECRET)
        await cases.close(s, staff, case_id, "risk_confirmed", SECRET)
        report = int(await s.scalar(text(
            "INSERT INTO aml_reports (case_id, user_id, report_code, status, reason, action, indicators, payment_ids, "
            "created_by, xml, fiu_ref_number, fiu_status) VALUES (:c, :u, 'STR', 'exported', :r, :r, '{MSTR}', "
            "'{1}', :o, :x, 'FIU-77', 'accepted') RETURNING id"),
            {"c": case_id, "u": user_id, "r": SECRET, "o": officer, "x": f"<report>{SECRET}</report>"}))
    return {"case": case_id, "file": file.id, "report": report, "alert": decisions[0], "allow": decisions[1],
            "officer": officer}


async def _enforce(session_factory: Any, store: BlobStore, client_id: int) -> Any:
    async def txn(session: Any) -> Any:
        return await enforce_client(session, ACTOR, store, client_id, date.today())

    return await in_transaction(session_factory, txn)


async def _one(session_factory: Any, sql: str, **params: Any) -> Any:
    async with session_factory() as s:
        return (await s.execute(text(sql), params)).one()


async def _secret_left(session_factory: Any, ids: dict[str, int]) -> int:
    """Where the personal content is still found in the AML tables (the audit trail aside)."""
    return int((await _one(session_factory, """
        SELECT (SELECT count(*) FROM aml_cases WHERE id = :c AND closing_note LIKE :p)
             + (SELECT count(*) FROM aml_case_notes WHERE case_id = :c AND body LIKE :p)
             + (SELECT count(*) FROM aml_case_attachments WHERE id = :f AND (description LIKE :p OR filename LIKE :n))
             + (SELECT count(*) FROM aml_reports WHERE id = :r AND (reason LIKE :p OR xml LIKE :p))
             + (SELECT count(*) FROM aml_decisions WHERE id IN (:a, :w)
                  AND (event::text LIKE :p OR explain::text LIKE :p))
        """, c=ids["case"], f=ids["file"], r=ids["report"], a=ids["alert"], w=ids["allow"], p="%Petrov%",
        n="%petrov%"))[0])


async def _storage_key(session_factory: Any, file_id: int) -> str:
    return str((await _one(session_factory, "SELECT storage_key FROM aml_case_attachments WHERE id = :i", i=file_id))[0])


async def test_due_aml_records_are_erased_files_deleted_and_the_audit_chain_verifies(
        session_factory: Any, settings: Settings, store: LocalStore) -> None:
    gone, gone_user, _ = await client_with_document(session_factory, settings, store, first="Amlgone")
    kept, kept_user, _ = await client_with_document(session_factory, settings, store, first="Amlkept")
    gone_ids = await _aml_file(session_factory, settings, store, gone_user)
    kept_ids = await _aml_file(session_factory, settings, store, kept_user)
    await close_years_ago(session_factory, gone, 6)
    await close_years_ago(session_factory, kept, 3)
    gone_key = await _storage_key(session_factory, gone_ids["file"])
    assert (store.root / gone_key).exists() and await _secret_left(session_factory, gone_ids) == 6

    out = await _enforce(session_factory, store, gone)
    assert {k.kind: k.outcome for k in out.kinds}["aml_records"] == "erased"
    assert (out.aml.cases, out.aml.files, out.aml.decisions) == (1, 1, 2) and out.key_destroyed
    assert not (store.root / gone_key).exists()
    assert await _secret_left(session_factory, gone_ids) == 0
    # The skeleton stays: that the case, its outcome, the file (checksum) and the filed report existed.
    row = await _one(session_factory, """
        SELECT c.outcome, c.erased_at IS NOT NULL AS erased, a.sha256, a.erased_at IS NOT NULL AS file_erased,
               r.fiu_ref_number, r.status, d.score, d.outcome AS decided
        FROM aml_cases c JOIN aml_case_attachments a ON a.case_id = c.id JOIN aml_reports r ON r.case_id = c.id
        JOIN aml_decisions d ON d.case_id = c.id WHERE c.id = :c""", c=gone_ids["case"])
    assert (row.outcome, row.erased, row.file_erased, row.fiu_ref_number, row.status, row.decided) == (
        "risk_confirmed", True, True, "FIU-77", "exported", "review") and len(row.sha256) == 64
    async with session_factory() as s:  # the erased file's link is refused, not a broken download
        with pytest.raises(Exception, match="erased"):
            await attachments._get(s, gone_ids["file"])

    # The other client (closed 3 years ago) keeps everything, readable.
    out_kept = await _enforce(session_factory, store, kept)
    kinds = {k.kind: k for k in out_kept.kinds}
    assert kinds["aml_records"].outcome == "scheduled" and kinds["aml_records"].until is not None
    assert kinds["aml_records"].until.year == date.today().year + 2
    assert await _secret_left(session_factory, kept_ids) == 6
    assert (store.root / await _storage_key(session_factory, kept_ids["file"])).exists()

    async with session_factory() as s:  # no begin(): verify takes its own snapshot
        report = await verify(s)
    assert report.ok, report.first
    audited = await _one(session_factory, "SELECT after FROM audit_events WHERE action = 'client.retention_enforced' "
                                          "AND entity_id = :c", c=str(gone))
    assert audited.after["aml_cases_erased"] == 1 and audited.after["aml_files_deleted"] == 1

    again = await _enforce(session_factory, store, gone)  # nothing erased twice
    assert (again.aml.cases, again.aml.files, again.aml.decisions) == (0, 0, 0) and not again.erased_anything


async def test_held_owed_or_in_progress_aml_records_are_kept(
        session_factory: Any, settings: Settings, store: LocalStore) -> None:
    cid, uid, _ = await client_with_document(session_factory, settings, store, first="Amlheld")
    ids = await _aml_file(session_factory, settings, store, uid)
    await close_years_ago(session_factory, cid, 7)
    key = await _storage_key(session_factory, ids["file"])

    async with session_factory() as s, s.begin():
        await place(s, STAFF, cid, "FIU request 2026/9")
    held = await _enforce(session_factory, store, cid)
    assert held.held and {k.kind: k.outcome for k in held.kinds}["aml_records"] == "retained"

    async with session_factory() as s, s.begin():
        await release(s, STAFF, cid, "request answered")
        # A new case opened on the client (a late chargeback, say): an investigation in progress.
        await open_or_join_case(s, user_id=uid, team="fraud", outcome="review")
    entry = await deposit(session_factory, uid, "25.00")
    owed = await _enforce(session_factory, store, cid)
    assert {k.kind: (k.outcome, k.note) for k in owed.kinds}["aml_records"] == (
        "retained", "the ledger still holds money for the client")
    await reverse(session_factory, entry)
    busy = await _enforce(session_factory, store, cid)
    assert {k.kind: (k.outcome, k.note) for k in busy.kinds}["aml_records"] == (
        "retained", "an AML case of the client is still open")
    assert busy.key_destroyed  # identity data is due: its key goes, the AML records stay readable
    assert await _secret_left(session_factory, ids) == 6 and (store.root / key).exists()
    async with session_factory() as s:
        found = await attachments._get(s, ids["file"])
        assert found.erased_at is None

    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE aml_cases SET status = 'closed', outcome = 'false_positive', closed_at = now() "
                             "WHERE user_id = :u AND status <> 'closed'"), {"u": uid})
    # A shredded client with AML records left is still a candidate of the nightly run.
    async with session_factory() as s:
        assert cid in await runs.candidates(s, date.today(), cid - 1, 10)
    done = await _enforce(session_factory, store, cid)
    assert done.aml.cases == 2 and not (store.root / key).exists()
    async with session_factory() as s:
        assert cid not in await runs.candidates(s, date.today(), cid - 1, 10)


async def test_an_erasure_request_leaves_aml_records_under_their_duty_and_says_so(
        http: httpx.AsyncClient, session_factory: Any, settings: Settings, store: LocalStore) -> None:
    # Ireland (a jurisdiction no other test configures) keeps AML records 10 years, KYC and identity
    # data 5: set here, since the schedules table is shared by the session's tests.
    async with session_factory() as s, s.begin():
        await schedules.set_schedule(s, STAFF, jurisdiction="IE", record_kind="aml_records", years=10,
                                     basis="relationship_end")
        with pytest.raises(Exception, match="relationship_end"):
            async with s.begin_nested():
                await schedules.set_schedule(s, STAFF, jurisdiction="IE", record_kind="aml_records", years=10,
                                             basis="created")
        for kind in ("identity_data", "kyc_documents"):
            await schedules.set_schedule(s, STAFF, jurisdiction="IE", record_kind=kind, years=5,
                                         basis="relationship_end")
    cid, uid, doc_id = await client_with_document(session_factory, settings, store, first="Amlask", country="IE")
    ids = await _aml_file(session_factory, settings, store, uid)
    await close_years_ago(session_factory, cid, 6)
    first = await make_staff(http, session_factory, settings, ["compliance"], enrol=False)
    second = await make_staff(http, session_factory, settings, ["compliance"], enrol=False)
    async with session_factory() as s, s.begin():
        asked = await erasure.request(s, Actor(ActorKind.CLIENT, user_id=uid), cid, "forget me")
    for who in (first, second):
        async with session_factory() as s, s.begin():
            decided = await erasure.decide(s, Actor(ActorKind.STAFF, user_id=who.user_id,
                                                    permissions=frozenset({"retention.manage"})),
                                           store, asked.id, approve=True, reason="no other duty", today=date.today())
    outcome = {o["kind"]: o for o in decided.outcome or []}
    assert outcome["identity_data"]["outcome"] == "erased" and outcome["kyc_documents"]["outcome"] == "erased"
    assert outcome["aml_records"]["outcome"] == "scheduled"
    assert outcome["aml_records"]["until"].startswith(str(date.today().year + 4))
    assert (await document(session_factory, doc_id)).erased_at is not None
    assert await _secret_left(session_factory, ids) == 6
    assert (store.root / await _storage_key(session_factory, ids["file"])).exists()
    audited = await _one(session_factory, "SELECT after FROM audit_events WHERE action = 'erasure_request.approved' "
                                          "AND entity_id = :i", i=str(asked.id))
    assert {o["kind"]: o["outcome"] for o in audited.after["outcome"]}["aml_records"] == "scheduled"


@pytest.mark.usefixtures("bucket")
async def test_due_aml_files_are_deleted_from_an_s3_bucket(session_factory: Any, settings: Settings) -> None:
    s3 = default_store(settings)  # the bucket fixture configured FOREXCRM_DOCUMENTS_S3_*
    assert isinstance(s3, S3Store)
    cid, uid, _ = await client_with_document(session_factory, settings, s3, first="Amlbucket")
    ids = await _aml_file(session_factory, settings, s3, uid)
    await close_years_ago(session_factory, cid, 6)
    key = await _storage_key(session_factory, ids["file"])
    assert await s3.get(key)
    out = await _enforce(session_factory, s3, cid)
    assert out.aml.files == 1
    with pytest.raises(BlobNotFound):
        await s3.get(key)
