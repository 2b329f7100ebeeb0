"""Files a compliance officer attaches to an AML case (a bank statement, a screenshot, an e-mail
exported as PDF). Stored like client documents (domain/clients/documents.py): the same size and
content checks (magic bytes, never the extension), SHA-256 checksummed, encrypted at rest in the same
BlobStore (local folder or S3). The key is the process-wide document key, as for payment evidence:
a case file is a compliance record, kept after a client's own key is destroyed under the retention
schedule. Viewed through a short-lived signed link like KYC documents (domain/clients/document_links.py,
its own signing label), the issue and every opening audited."""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.clients import document_links
from domain.clients.documents import check_content
from domain.clients.storage import BlobStore, decrypt, encrypt
from domain.compliance.aml.cases import _open_case as open_case
from domain.identity.sessions import load_principal
from domain.shared.actor import Actor, ActorKind
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.settings import Settings

READ = "compliance.read"  # who sees a case sees its files
LINK_INFO = b"forexcrm/aml-case-file-links/v1"
MAX_ATTACHMENTS = 200  # listed whole on the case: a case gathers a handful, not thousands

_COLS = ("id, case_id, filename, content_type, size_bytes, sha256, storage_key, description, uploaded_by, created_at, "
         "erased_at")


@dataclass(frozen=True)
class Attachment:
    id: int
    case_id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    storage_key: str
    description: str
    uploaded_by: int
    created_at: datetime
    erased_at: datetime | None = None  # deleted from storage under the retention schedule (domain/retention)


def _row(r: Any) -> Attachment:
    return Attachment(r.id, r.case_id, r.filename, r.content_type, r.size_bytes, r.sha256, r.storage_key,
                      r.description, r.uploaded_by, r.created_at, r.erased_at)


async def add(session: AsyncSession, settings: Settings, store: BlobStore, actor: Actor, case_id: int, *,
              filename: str, data: bytes, description: str) -> Attachment:
    """Check, store and record one file on an open case; a refusal stores nothing."""
    description = description.strip()
    if len(description) > 2000:
        raise ValidationFailed("a description of at most 2000 characters", field="description")
    checked = check_content(data)
    await open_case(session, case_id)
    assert actor.user_id is not None
    key = f"aml-cases/{case_id}/{uuid.uuid4().hex}"
    await store.put(key, encrypt(settings, key, data))
    row = (await session.execute(text(
        "INSERT INTO aml_case_attachments (case_id, filename, content_type, size_bytes, sha256, storage_key, "  # noqa: S608
        f"description, uploaded_by) VALUES (:c, :f, :t, :n, :h, :k, :d, :u) RETURNING {_COLS}"),
        {"c": case_id, "f": filename.strip()[-200:] or "upload", "t": checked.content_type, "n": len(data),
         "h": checked.sha256, "k": key, "d": description, "u": actor.user_id})).one()
    await session.execute(text("UPDATE aml_cases SET updated_at = now() WHERE id = :i"), {"i": case_id})
    await audit.record(session, actor, action="aml.case_attachment", entity_type="aml_case", entity_id=case_id,
                       after={"attachment_id": row.id, "filename": row.filename, "sha256": checked.sha256,
                              "content_type": checked.content_type, "size": len(data)}, category="compliance")
    return _row(row)


async def for_case(session: AsyncSession, case_id: int) -> list[Attachment]:
    rows = await session.execute(text(
        f"SELECT {_COLS} FROM aml_case_attachments WHERE case_id = :c ORDER BY created_at, id LIMIT :n"),  # noqa: S608
        {"c": case_id, "n": MAX_ATTACHMENTS})
    return [_row(r) for r in rows]


async def by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Attachment]:
    rows = await session.execute(text(f"SELECT {_COLS} FROM aml_case_attachments WHERE id = ANY(:i)"),  # noqa: S608
                                 {"i": ids})
    return {r.id: _row(r) for r in rows}


async def _get(session: AsyncSession, attachment_id: int) -> Attachment:
    found = (await by_ids(session, [attachment_id])).get(attachment_id)
    if found is None:
        raise NotFound("attachment not found", field="attachmentId")
    if found.erased_at is not None:
        raise NotFound("this file was erased under the retention schedule", field="attachmentId")
    return found


async def issue_link(session: AsyncSession, settings: Settings, actor: Actor,
                     attachment_id: int) -> document_links.IssuedLink:
    """A link for a compliance reader's live session to one case file (else not found)."""
    if actor.kind is not ActorKind.STAFF or actor.user_id is None or actor.session_id is None:
        raise NotFound("attachment not found", field="attachmentId")
    found = await _get(session, attachment_id)
    expires = int(time.time()) + document_links.LINK_TTL_S
    token = document_links.sign(settings, document_links.Claims(found.id, actor.user_id, actor.session_id, expires),
                                LINK_INFO)
    await audit.record(session, actor, action="aml.case_attachment_link_issued", entity_type="aml_case",
                       entity_id=found.case_id, after={"attachment_id": found.id, "expires_at": expires},
                       category="compliance")
    return document_links.IssuedLink(f"{settings.public_base_url.rstrip('/')}/documents/aml/{token}", expires)


async def open_view(session: AsyncSession, settings: Settings, store: BlobStore, claims: document_links.Claims, *,
                    ip: str | None, user_agent: str | None) -> tuple[Attachment, bytes]:
    """The file and its plaintext for a verified link; the reader's session must still be live and
    still hold compliance.read. The opening is audited in this transaction."""
    principal = await load_principal(session, claims.user_id, claims.session_id)
    if principal is None or principal.kind is not ActorKind.STAFF or READ not in principal.permissions:
        raise NotFound("attachment not found", field="attachmentId")
    actor = Actor(ActorKind.STAFF, user_id=principal.user_id, permissions=principal.permissions, ip=ip,
                  user_agent=user_agent, session_id=principal.session_id, desk=principal.desk,
                  mfa_enrolled=principal.mfa_enrolled)
    found = await _get(session, claims.document_id)
    data = decrypt(settings, found.storage_key, await store.get(found.storage_key))
    if hashlib.sha256(data).hexdigest() != found.sha256:
        raise ValueError(f"case attachment {found.id} does not match its checksum")
    await audit.record(session, actor, action="aml.case_attachment_viewed", entity_type="aml_case",
                       entity_id=found.case_id, after={"attachment_id": found.id, "sha256": found.sha256},
                       category="compliance")
    return found, data
