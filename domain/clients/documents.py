"""KYC documents: size-limited, type checked by content (magic bytes, never the extension),
SHA-256 checksummed, encrypted at rest under the client's own data key (domain/retention/keys.py:
destroying it crypto-shreds every copy), reviewed (pending -> accepted / rejected with reason),
and expired when an ID document's expiry date passes."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date

import filetype  # type: ignore[import-untyped]
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.errors import (
    DocumentEmpty,
    DocumentNotFound,
    DocumentTooLarge,
    DocumentTypeRefused,
)
from domain.clients.models import Client, Document
from domain.clients.status import Status, require_status, transition
from domain.clients.storage import BlobStore, decrypt_with, document_key, encrypt_with
from domain.retention import keys
from domain.retention.errors import ClientKeyDestroyed
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page, PageRequest, select_page
from domain.shared.settings import Settings

MAX_BYTES = 8 * 1024 * 1024
ALLOWED_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png", "image/webp", "image/heic"})
KINDS = ("proof_of_identity", "proof_of_address", "company_registration", "company_directors", "other")
EXPIRING = frozenset({"proof_of_identity"})
UPLOAD_STATES = frozenset({Status.PROFILE_COMPLETE, Status.DOCUMENTS_SUBMITTED, Status.MORE_INFO_REQUIRED})
LIVE = ("pending", "accepted")


def required_kinds(client: Client) -> tuple[str, ...]:
    base = ("proof_of_identity", "proof_of_address")
    return (*base, "company_registration") if client.kind == "corporate" else base


@dataclass(frozen=True)
class Checked:
    content_type: str
    sha256: str


def check_content(data: bytes, max_bytes: int = MAX_BYTES) -> Checked:
    if not data:
        raise DocumentEmpty("the file is empty", field="file")
    if len(data) > max_bytes:
        raise DocumentTooLarge(f"documents are limited to {max_bytes // (1024 * 1024)} MiB", field="file")
    kind = filetype.guess(data)
    if kind is None or kind.mime not in ALLOWED_TYPES:
        found = kind.mime if kind is not None else "unknown content"
        raise DocumentTypeRefused(f"{found} is not accepted: send a PDF, JPEG, PNG, WebP or HEIC", field="file")
    return Checked(kind.mime, hashlib.sha256(data).hexdigest())


async def upload(session: AsyncSession, settings: Settings, store: BlobStore, actor: Actor, client: Client, *,
                 kind: str, filename: str, data: bytes, expires_on: date | None, today: date) -> Document:
    require_status(client, UPLOAD_STATES, "upload documents")
    if kind not in KINDS:
        raise ValidationFailed(f"document kind is one of {', '.join(KINDS)}", field="kind")
    if kind in EXPIRING and (expires_on is None or expires_on <= today):
        raise ValidationFailed("an identity document needs a future expiry date", field="expiresOn")
    checked = check_content(data)
    key = f"{client.id}/{uuid.uuid4().hex}"
    await store.put(key, encrypt_with(await keys.key_for(session, settings, client.id), key, data))
    doc = Document(client_id=client.id, kind=kind, status="pending", filename=filename[-200:] or "upload",
                   content_type=checked.content_type, size_bytes=len(data), sha256=checked.sha256, storage_key=key,
                   key_scheme="client", expires_on=expires_on, uploaded_by=actor.user_id)
    session.add(doc)
    await session.flush()
    await record(session, actor, action="client_document.uploaded", entity_type="client_document",
                 entity_id=doc.id, after={"client_id": client.id, "kind": kind, "sha256": checked.sha256,
                                          "content_type": checked.content_type, "size": len(data)},
                 category="general")
    if client.status == Status.PROFILE_COMPLETE.value and await has_required(session, client):
        await transition(session, actor, client, Status.DOCUMENTS_SUBMITTED, reason="required documents uploaded")
    return doc


async def has_required(session: AsyncSession, client: Client) -> bool:
    """The required kinds are uploaded, or the KYC provider verified the client (its level
    covers identity and address)."""
    from domain.clients.models import KycApplicant

    if await session.scalar(select(KycApplicant.verdict).where(KycApplicant.client_id == client.id)) == "green":
        return True
    kinds = set(await session.scalars(select(Document.kind).where(
        Document.client_id == client.id, Document.status.in_(LIVE))))
    return all(k in kinds for k in required_kinds(client))


async def sealing_key(session: AsyncSession, settings: Settings, doc: Document) -> bytes:
    """The key the document's blob is sealed under: the client's own, or for a document stored
    before migration 0040 (not yet re-sealed by `reseal_legacy`) the process-wide document key."""
    if doc.erased_at is not None:
        raise ClientKeyDestroyed("this document was erased under the retention schedule", field="documentId")
    if doc.key_scheme == "process":
        return document_key(settings)
    return await keys.existing_key(session, settings, doc.client_id)


async def read(session: AsyncSession, settings: Settings, store: BlobStore, doc: Document) -> bytes:
    """The plaintext, verified against the stored checksum."""
    key = await sealing_key(session, settings, doc)
    data = decrypt_with(key, doc.storage_key, await store.get(doc.storage_key))
    if hashlib.sha256(data).hexdigest() != doc.sha256:
        raise ValueError(f"document {doc.id} does not match its checksum")
    return data


async def review(session: AsyncSession, actor: Actor, doc: Document, *, accept: bool, reason: str) -> Document:
    from domain.shared.db import utcnow

    if doc.status != "pending":
        raise ValidationFailed(f"this document is already {doc.status}", field="documentId")
    if not accept and not reason.strip():
        raise ValidationFailed("say why the document is rejected", field="reason")
    doc.status = "accepted" if accept else "rejected"
    doc.reject_reason = None if accept else reason.strip()[:2000]
    doc.reviewed_by, doc.reviewed_at = actor.user_id, utcnow()
    await record(session, actor, action="client_document.reviewed", entity_type="client_document", entity_id=doc.id,
                 before={"status": "pending"}, after={"status": doc.status}, reason=reason or None,
                 category="general")
    return doc


async def document_for(session: AsyncSession, actor: Actor, doc_id: int) -> Document:
    """A document of a client the actor may see (else not found), locked for review."""
    from domain.clients.access import visible_filter

    visible = select(Client.id).where(visible_filter(actor))
    doc = await session.scalar(select(Document).where(Document.id == doc_id, Document.client_id.in_(visible))
                               .with_for_update())
    if doc is None:
        raise DocumentNotFound("document not found", field="documentId")
    return doc


async def visible_documents(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Document]:
    """Documents among `ids` of clients the actor may see (its own, its desk's, any for back office)."""
    from domain.clients.access import visible_filter

    visible = select(Client.id).where(visible_filter(actor))
    rows = await session.scalars(select(Document).where(Document.id.in_(ids), Document.client_id.in_(visible)))
    return {d.id: d for d in rows}


async def expire_documents(session: AsyncSession, today: date) -> int:
    """ID documents past their expiry date: a job runs this daily."""
    result = await session.execute(text(
        "UPDATE client_documents SET status = 'expired' WHERE expires_on IS NOT NULL AND expires_on < :d "
        "AND status IN ('pending', 'accepted')"), {"d": today})
    return int(getattr(result, "rowcount", 0) or 0)


async def for_client(session: AsyncSession, client_id: int, page: PageRequest) -> Page[Document]:
    """A client's documents in upload order (ix_client_documents_client)."""
    return await select_page(session, page, select(Document).where(Document.client_id == client_id),
                             (Document.id,), descending=False, convert=lambda row: row)
