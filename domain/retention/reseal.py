"""The migration path for documents stored before per-client keys (key_scheme 'process', sealed
under the process-wide document key): each is read, checked against its checksum, sealed again
under its client's own key under a new storage key, the row switched over in one transaction, and
the old blob deleted after commit. Until then such a document stays readable as it was
(documents.sealing_key). A crash between the commit and the delete leaves the old blob behind,
readable with the process key: its storage key is in the audit event (`client_document.resealed`)
for an operator to delete; nothing deletes it automatically yet.
"""

from __future__ import annotations

import hashlib
import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.storage import BlobNotFound, BlobStore, decrypt, encrypt_with
from domain.retention import keys
from domain.retention.errors import ClientKeyDestroyed
from domain.shared.actor import Actor
from domain.shared.db import SessionFactory, driver, in_transaction
from domain.shared.settings import Settings

log = structlog.get_logger(__name__)
BATCH = 200


async def reseal_document(session: AsyncSession, settings: Settings, store: BlobStore, actor: Actor,
                          doc_id: int) -> str | None:
    """Re-seal one legacy document in the caller's transaction; returns the old storage key to
    delete once committed (None: nothing to do)."""
    conn = await driver(session)
    doc = await conn.fetchrow("SELECT id, client_id, storage_key, sha256 FROM client_documents WHERE id = $1 "
                              "AND key_scheme = 'process' AND erased_at IS NULL FOR UPDATE", doc_id)
    if doc is None:
        return None
    old = doc["storage_key"]
    try:
        data_key = await keys.key_for(session, settings, doc["client_id"])
        plain = decrypt(settings, old, await store.get(old))
    except (BlobNotFound, ClientKeyDestroyed) as exc:
        log.warning("legacy document not re-sealed", document_id=doc_id, code=exc.code)
        return None
    if hashlib.sha256(plain).hexdigest() != doc["sha256"]:
        log.error("legacy document does not match its checksum", document_id=doc_id)
        return None
    new = f"{doc['client_id']}/{uuid.uuid4().hex}"
    await store.put(new, encrypt_with(data_key, new, plain))
    await conn.execute("UPDATE client_documents SET storage_key = $2, key_scheme = 'client' WHERE id = $1",
                       doc_id, new)
    await record(session, actor, action="client_document.resealed", entity_type="client_document", entity_id=doc_id,
                 before={"storage_key": old, "key_scheme": "process"},
                 after={"storage_key": new, "key_scheme": "client"}, category="general")
    return str(old)


async def reseal_legacy(factory: SessionFactory, settings: Settings, store: BlobStore, actor: Actor) -> int:
    """Re-seal every legacy document; returns how many were re-sealed."""
    done, after = 0, 0
    while True:
        async with factory() as session:
            ids = [int(r["id"]) for r in await (await driver(session)).fetch(
                "SELECT id FROM client_documents WHERE key_scheme = 'process' AND erased_at IS NULL AND id > $1 "
                "ORDER BY id LIMIT $2", after, BATCH)]
        if not ids:
            return done
        for doc_id in ids:
            async def txn(session: AsyncSession, d: int = doc_id) -> str | None:
                return await reseal_document(session, settings, store, actor, d)

            old = await in_transaction(factory, txn)
            if old is not None:
                await store.delete(old)
                done += 1
        after = ids[-1]
