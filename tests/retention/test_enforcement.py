"""Enforcement for one client at a time, against the real database and a real (local) blob store:
what is past its retention is erased and the client's key destroyed, another client's data stays
readable, the ledger still balances, the audit chain still verifies, legal holds and money held keep
everything, a jurisdiction's own schedule applies, documents go from an S3 bucket as from a folder, and documents stored before per-client keys keep
working and are re-sealed under the client's key."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from domain.audit.verify import verify
from domain.clients import documents
from domain.clients.models import Client, Document
from domain.clients.storage import BlobNotFound, LocalStore, S3Store, decrypt_with, default_store, encrypt
from domain.retention import keys, reseal, schedules
from domain.retention.enforcement import enforce_client
from domain.retention.errors import ClientKeyDestroyed
from domain.retention.holds import place, release
from domain.retention.identity import open_identity
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction
from domain.shared.settings import Settings
from tests.clients.staff_world import make_client
from tests.clients.test_s3_storage import bucket, s3_endpoint  # noqa: F401 - fixtures (moto's S3 server)
from tests.ledger.conftest import check_invariants
from tests.retention.world import PDF, client_with_document, close_years_ago, deposit, document, reverse

ACTOR = system_actor("retention-test")
STAFF = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"retention.manage"}))


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "documents")


async def _enforce(session_factory: Any, store: LocalStore, client_id: int, *, on_request: bool = False) -> Any:
    async def txn(session: Any) -> Any:
        return await enforce_client(session, ACTOR, store, client_id, date.today(), on_request=on_request)

    return await in_transaction(session_factory, txn)


async def _row(session_factory: Any, sql: str, **params: Any) -> Any:
    async with session_factory() as s:
        return (await s.execute(text(sql), params)).first()


async def test_shredding_erases_one_client_and_leaves_the_other_the_ledger_and_the_audit_chain_intact(
        session_factory: Any, settings: Settings, store: LocalStore) -> None:
    gone, gone_user, gone_doc = await client_with_document(session_factory, settings, store, first="Gone")
    kept, _, kept_doc = await client_with_document(session_factory, settings, store, first="Kept")
    entry = await deposit(session_factory, gone_user, "100.00")
    await close_years_ago(session_factory, gone, 6)
    old_blob = (store.root / (await document(session_factory, gone_doc)).storage_key).read_bytes()

    # Money still in the wallet: another duty keeps the documents and the identity data.
    held = await _enforce(session_factory, store, gone)
    assert {k.kind: k.outcome for k in held.kinds}["kyc_documents"] == "retained"
    assert not held.erased_anything
    async with session_factory() as s:
        assert await documents.read(s, settings, store, await document(session_factory, gone_doc)) == PDF

    await reverse(session_factory, entry)
    postings_before = (await _row(session_factory, "SELECT count(*) FROM ledger_postings p JOIN ledger_accounts a "
                                                   "ON a.id = p.account_id WHERE a.owner_id = :u", u=gone_user))[0]
    out = await _enforce(session_factory, store, gone)
    assert (out.documents_deleted, out.identity_erased, out.key_destroyed) == (1, True, True)
    assert {k.kind: k.outcome for k in out.kinds} == {"communications": "erased", "kyc_documents": "erased",
                                                       "identity_data": "erased", "aml_records": "erased",
                                                       "audit": "retained"}

    # The personal data is gone: plain columns blanked (search text with them), the login anonymised.
    row = await _row(session_factory, "SELECT c.first_name, c.last_name, c.date_of_birth, c.profile, c.attribution, "
                     "c.search_text, c.sealed_identity, u.email, u.status FROM clients c JOIN users u ON u.id = c.user_id "
                     "WHERE c.id = :c", c=gone)
    assert row[:5] == ("", "", None, {}, {})
    assert "gone" not in row.search_text and row.sealed_identity is None
    assert row.email == f"erased-{gone_user}@erased.invalid" and row.status == "disabled"
    # The document: deleted from storage, and a surviving copy of its blob cannot be opened any more.
    doc = await document(session_factory, gone_doc)
    assert doc.erased_at is not None and not (store.root / doc.storage_key).exists()
    async with session_factory() as s:
        with pytest.raises(ClientKeyDestroyed):
            await documents.read(s, settings, store, doc)
        with pytest.raises(ClientKeyDestroyed):
            await keys.existing_key(s, settings, gone)
        client = await s.get(Client, gone)
        assert client is not None
        with pytest.raises(ClientKeyDestroyed):
            await open_identity(s, settings, client)
        with pytest.raises(ClientKeyDestroyed):  # nothing is ever sealed for the client again
            await keys.key_for(s, settings, gone)
    assert (await _row(session_factory, "SELECT wrapped IS NULL, destroyed_at IS NOT NULL FROM client_keys "
                                        "WHERE client_id = :c", c=gone)) == (True, True)
    # Even with the blob restored from a backup, only the destroyed key could open it.
    store.root.joinpath(doc.storage_key).write_bytes(old_blob)
    with pytest.raises(Exception):  # noqa: B017 - any key but the destroyed one fails authentication
        decrypt_with(keys.master_key(settings), doc.storage_key, old_blob)

    # The other client's document and identity are intact.
    async with session_factory() as s:
        assert await documents.read(s, settings, store, await document(session_factory, kept_doc)) == PDF
        other = await s.get(Client, kept)
        assert other is not None and (await open_identity(s, settings, other) or {})["first_name"] == "Kept"

    # The ledger: entries kept, every invariant holds; the audit chain verifies.
    assert (await _row(session_factory, "SELECT count(*) FROM ledger_postings p JOIN ledger_accounts a "
                                        "ON a.id = p.account_id WHERE a.owner_id = :u", u=gone_user))[0] == postings_before
    await check_invariants(session_factory)
    async with session_factory() as s:  # no begin(): verify takes its own repeatable-read snapshot
        report = await verify(s)
    assert report.ok, report.first
    audited = await _row(session_factory, "SELECT after FROM audit_events WHERE action = 'client.retention_enforced' "
                                          "AND entity_id = :c", c=str(gone))
    assert audited.after["key_destroyed"] is True and "Gone" not in str(audited.after)

    # Running again erases nothing twice.
    again = await _enforce(session_factory, store, gone)
    assert (again.documents_deleted, again.identity_erased, again.key_destroyed) == (0, False, False)


async def test_a_legal_hold_keeps_everything_until_released(session_factory: Any, settings: Settings,
                                                           store: LocalStore) -> None:
    cid, _, doc_id = await client_with_document(session_factory, settings, store, first="Held")
    await close_years_ago(session_factory, cid, 8)
    async with session_factory() as s, s.begin():
        await place(s, STAFF, cid, "litigation: case 2026/17")
    out = await _enforce(session_factory, store, cid)
    assert out.held and not out.erased_anything
    assert {k.outcome for k in out.kinds} == {"retained"}
    assert (await document(session_factory, doc_id)).erased_at is None
    async with session_factory() as s, s.begin():
        await release(s, STAFF, cid, "case closed")
    out = await _enforce(session_factory, store, cid)
    assert out.key_destroyed and out.documents_deleted == 1


async def test_a_jurisdictions_own_schedule_applies(session_factory: Any, settings: Settings,
                                                    store: LocalStore) -> None:
    async with session_factory() as s, s.begin():
        await schedules.set_schedule(s, STAFF, jurisdiction="LU", record_kind="identity_data", years=10,
                                     basis="relationship_end")
    cid, _, doc_id = await client_with_document(session_factory, settings, store, first="Lux", country="LU")
    await close_years_ago(session_factory, cid, 6)
    out = await _enforce(session_factory, store, cid)
    kinds = {k.kind: k for k in out.kinds}
    # Documents: the default 5 years are over; identity data: Luxembourg keeps it 10 years.
    assert kinds["kyc_documents"].outcome == "erased" and out.documents_deleted == 1
    assert kinds["identity_data"].outcome == "scheduled" and not out.identity_erased and not out.key_destroyed
    assert kinds["identity_data"].until is not None and kinds["identity_data"].until.year == date.today().year + 4
    async with session_factory() as s:
        client = await s.get(Client, cid)
        assert client is not None and client.first_name == "Lux"
        assert (await open_identity(s, settings, client) or {})["last_name"] == "Erasable"
    assert (await document(session_factory, doc_id)).erased_at is not None


async def test_communications_past_their_period_are_deleted_for_a_client_still_active(
        session_factory: Any, settings: Settings, store: LocalStore) -> None:
    cid, _, _ = await make_client(session_factory, settings, first="Talk", last="Ative", status="active")
    async with session_factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO client_communications (client_id, kind, body, created_at) VALUES "
            "(:c, 'note', 'old call', now() - interval '6 years'), (:c, 'note', 'recent call', now())"), {"c": cid})
    out = await _enforce(session_factory, store, cid)
    assert out.communications_deleted == 1 and not out.identity_erased and not out.key_destroyed
    assert (await _row(session_factory, "SELECT array_agg(body) FROM client_communications WHERE client_id = :c",
                       c=cid))[0] == ["recent call"]


async def test_documents_stored_under_the_process_key_stay_readable_and_are_resealed(
        session_factory: Any, settings: Settings, store: LocalStore) -> None:
    cid, _, _ = await make_client(session_factory, settings, first="Legacy", last="Doc", status="documents_submitted")
    data = PDF + b"legacy"
    old_key = f"{cid}/{uuid.uuid4().hex}"
    await store.put(old_key, encrypt(settings, old_key, data))  # as stored before migration 0040
    import hashlib

    async with session_factory() as s, s.begin():
        doc = Document(client_id=cid, kind="proof_of_address", status="accepted", filename="old.pdf",
                       content_type="application/pdf", size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                       storage_key=old_key, key_scheme="process")
        s.add(doc)
        await s.flush()
        doc_id = int(doc.id)
    async with session_factory() as s:
        assert await documents.read(s, settings, store, await document(session_factory, doc_id)) == data

    assert await reseal.reseal_legacy(session_factory, settings, store, ACTOR) >= 1
    moved = await document(session_factory, doc_id)
    assert moved.key_scheme == "client" and moved.storage_key != old_key
    assert not (store.root / old_key).exists()
    async with session_factory() as s:
        assert await documents.read(s, settings, store, moved) == data
        client_key = await keys.existing_key(s, settings, cid)
    assert decrypt_with(client_key, moved.storage_key, (store.root / moved.storage_key).read_bytes()) == data
    assert await reseal.reseal_legacy(session_factory, settings, store, ACTOR) == 0


@pytest.mark.usefixtures("bucket")
async def test_enforcement_deletes_documents_from_an_s3_bucket(session_factory: Any, settings: Settings) -> None:
    s3 = default_store(settings)  # the bucket fixture configured FOREXCRM_DOCUMENTS_S3_*
    assert isinstance(s3, S3Store)
    gone, _, gone_doc = await client_with_document(session_factory, settings, s3, first="Bucket")
    _, _, kept_doc = await client_with_document(session_factory, settings, s3, first="Bucketkept")
    await close_years_ago(session_factory, gone, 6)
    gone_key = (await document(session_factory, gone_doc)).storage_key
    assert await s3.get(gone_key)

    async def txn(session: Any) -> Any:
        return await enforce_client(session, ACTOR, s3, gone, date.today())

    out = await in_transaction(session_factory, txn)
    assert out.documents_deleted == 1 and out.key_destroyed
    with pytest.raises(BlobNotFound):
        await s3.get(gone_key)
    async with session_factory() as s:
        assert await documents.read(s, settings, s3, await document(session_factory, kept_doc)) == PDF
