"""Trusted documents: the GraphQL documents known clients may send by hash alone.

A portal's build emits a manifest `{sha256-hex: document}` (GraphQL Code Generator's persisted
documents); staff register it by CLI (`forexcrm documents add`) or the `registerTrustedDocuments`
mutation, partners' documents likewise. A request names one by `documentId` (`sha256:<hex>` or the
bare hex) or Apollo's `extensions.persistedQuery.sha256Hash`; production can require that per kind of
caller (FOREXCRM_TRUSTED_DOCUMENTS_REQUIRED), so those callers run only what was registered.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from graphql import GraphQLSyntaxError, parse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.shared.actor import Actor
from domain.shared.db import utcnow
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page, PageRequest, select_page
from domain.trusted_documents.errors import DocumentHashMismatch, DocumentInvalid, DocumentNotFound
from domain.trusted_documents.models import TrustedDocument

MAX_DOCUMENTS = 5000  # per registration: a portal build has a few hundred operations
MAX_BODY_CHARS = 100_000
MAX_CLIENT_NAME = 80
_HEX = re.compile(r"[0-9a-f]{64}")
_CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]*")


def document_hash(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def normalise_hash(document_id: str) -> str | None:
    """The hex digest a request or manifest names (`sha256:<hex>` or `<hex>`); None if it names none."""
    value = document_id[7:] if document_id.startswith("sha256:") else document_id
    value = value.lower()
    return value if _HEX.fullmatch(value) else None


def check_manifest(documents: Mapping[str, str]) -> dict[str, str]:
    """{hash: body} with each hash the SHA-256 of its body and each body a GraphQL document; the first
    fault raises (nothing is registered from a manifest with one)."""
    if not documents:
        raise DocumentInvalid("the manifest has no documents", field="documents")
    if len(documents) > MAX_DOCUMENTS:
        raise DocumentInvalid(f"at most {MAX_DOCUMENTS} documents per registration", field="documents")
    checked: dict[str, str] = {}
    for index, (key, body) in enumerate(documents.items()):
        field = f"documents.{index}"
        if not isinstance(key, str) or not isinstance(body, str):
            raise DocumentInvalid("a manifest maps a hash to a document's text", field=field)
        digest = normalise_hash(key)
        if digest is None:
            raise DocumentInvalid(f"{key[:80]!r} is not a SHA-256 hex digest", field=f"{field}.hash")
        if len(body) > MAX_BODY_CHARS:
            raise DocumentInvalid(f"a document is at most {MAX_BODY_CHARS} characters", field=f"{field}.body")
        if document_hash(body) != digest:
            raise DocumentHashMismatch(f"{digest} is not the SHA-256 of its document", field=f"{field}.hash")
        try:
            parse(body, no_location=True)
        except GraphQLSyntaxError as exc:
            raise DocumentInvalid(f"document {digest} does not parse: {exc.message}", field=f"{field}.body") from exc
        checked[digest] = body
    return checked


def _client_name(name: str) -> str:
    name = name.strip()
    if not (0 < len(name) <= MAX_CLIENT_NAME) or not _CLIENT_NAME.fullmatch(name):
        raise ValidationFailed(f"client name is 1 to {MAX_CLIENT_NAME} letters, digits or . _ : @ / -",
                               field="clientName")
    return name


@dataclass(frozen=True)
class Registration:
    added: list[TrustedDocument]
    reinstated: list[TrustedDocument]  # registered before and revoked: trusted again
    unchanged: int  # already registered and trusted


async def register(session: AsyncSession, actor: Actor, *, client_name: str,
                   documents: Mapping[str, str]) -> Registration:
    """Register a manifest's documents for a client. Registering a document again is a no-op (one that
    was revoked is trusted again); the document stays recorded under the client that first registered it."""
    name = _client_name(client_name)
    checked = check_manifest(documents)
    existing = {row.hash: row for row in (await session.scalars(
        select(TrustedDocument).where(TrustedDocument.hash.in_(list(checked)))
        .order_by(TrustedDocument.id).with_for_update())).all()}
    added: list[TrustedDocument] = []
    reinstated: list[TrustedDocument] = []
    for digest, body in checked.items():
        row = existing.get(digest)
        if row is None:
            row = TrustedDocument(hash=digest, body=body, client_name=name, registered_by=actor.label)
            session.add(row)
            added.append(row)
        elif row.revoked_at is not None:
            row.revoked_at, row.revoked_by = None, None
            reinstated.append(row)
    await session.flush()
    for row in added:
        await session.refresh(row, ["registered_at"])
    await record(session, actor, action="trusted_documents.registered", entity_type="trusted_documents",
                 entity_id=None, after={"client_name": name, "added": [r.hash for r in added],
                                        "reinstated": [r.hash for r in reinstated],
                                        "unchanged": len(checked) - len(added) - len(reinstated)})
    return Registration(added, reinstated, len(checked) - len(added) - len(reinstated))


async def revoke(session: AsyncSession, actor: Actor, document_id: str) -> TrustedDocument:
    """Stop trusting a document: requests naming it get PersistedQueryNotFound (other API processes
    within their lookup cache's lifetime, FOREXCRM_TRUSTED_DOCUMENT_CACHE_S). Revoking twice is a no-op."""
    digest = normalise_hash(document_id)
    row = None if digest is None else await session.scalar(
        select(TrustedDocument).where(TrustedDocument.hash == digest).with_for_update())
    if row is None:
        raise DocumentNotFound("no trusted document has this hash", field="hash")
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = utcnow(), actor.label
        await session.flush()
        await record(session, actor, action="trusted_documents.revoked", entity_type="trusted_document",
                     entity_id=row.id, before={"revoked": False}, after={"revoked": True, "hash": row.hash,
                                                                          "client_name": row.client_name})
    return row


async def list_documents(session: AsyncSession, page: PageRequest, *, client_name: str | None,
                         include_revoked: bool) -> Page[TrustedDocument]:
    """Newest first, keyset-paginated on (registered_at, id)."""
    stmt = select(TrustedDocument)
    if client_name is not None:
        stmt = stmt.where(TrustedDocument.client_name == client_name)
    if not include_revoked:
        stmt = stmt.where(TrustedDocument.revoked_at.is_(None))
    return await select_page(session, page, stmt, (TrustedDocument.registered_at, TrustedDocument.id),
                             descending=True, convert=lambda row: row)
