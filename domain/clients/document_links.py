"""Short-lived signed links to view one KYC document: `GET <api>/documents/<token>`.

A reviewer asks for a link (`documentViewLink`); the token names the document, the reviewer and
their session, and an expiry about a minute away, signed with HMAC-SHA256 under a key derived
from the secret key (HKDF, its own label). Opening it checks the signature (constant time), the
expiry, that the session is still live and still holds `kyc.review`, and that the reviewer still
sees the document's client (desk scoping); then it reads and decrypts the document and records
`client_document.viewed` (who, which document, when) in the same transaction. The token is a
secret: log lines mask it (infra/logging.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients import documents
from domain.clients.access import visible_filter
from domain.clients.errors import DocumentLinkExpired, DocumentLinkInvalid, DocumentNotFound
from domain.clients.models import Client, Document
from domain.clients.storage import BlobStore
from domain.identity.sessions import load_principal
from domain.shared.actor import Actor, ActorKind
from domain.shared.settings import Settings

LINK_TTL_S = 60
PERMISSION = "kyc.review"
LINK_INFO = b"forexcrm/document-links/v1"  # another kind of link (an AML case's file) signs under its own label
_SIG_BYTES = 32


@dataclass(frozen=True)
class Claims:
    document_id: int
    user_id: int
    session_id: int
    expires_at: int


@dataclass(frozen=True)
class IssuedLink:
    url: str
    expires_at: int


def _key(settings: Settings, info: bytes = LINK_INFO) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        settings.secret_key.get_secret_value().encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(settings: Settings, claims: Claims, info: bytes = LINK_INFO) -> str:
    body = f"{claims.document_id}.{claims.user_id}.{claims.session_id}.{claims.expires_at}".encode()
    mac = hmac.new(_key(settings, info), body, hashlib.sha256).digest()[:_SIG_BYTES]
    return f"{_b64(body)}.{_b64(mac)}"


def verify(settings: Settings, token: str, *, now: float | None = None, info: bytes = LINK_INFO) -> Claims:
    """The claims of a genuine, unexpired token; DOCUMENT_LINK_INVALID for anything tampered or
    malformed, DOCUMENT_LINK_EXPIRED once its minute has passed."""
    if len(token) > 200 or token.count(".") != 1:
        raise DocumentLinkInvalid("this document link is not valid")
    body_part, mac_part = token.split(".")
    try:
        body, mac = _unb64(body_part), _unb64(mac_part)
    except ValueError:
        raise DocumentLinkInvalid("this document link is not valid") from None
    expected = hmac.new(_key(settings, info), body, hashlib.sha256).digest()[:_SIG_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise DocumentLinkInvalid("this document link is not valid")
    parts = body.decode("ascii", "replace").split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 18 for p in parts):
        raise DocumentLinkInvalid("this document link is not valid")
    claims = Claims(*(int(p) for p in parts))
    if claims.expires_at <= (time.time() if now is None else now):
        raise DocumentLinkExpired("this document link has expired: ask for a new one")
    return claims


async def visible_document(session: AsyncSession, actor: Actor, doc_id: int) -> Document:
    visible = select(Client.id).where(visible_filter(actor))
    doc = await session.scalar(select(Document).where(Document.id == doc_id, Document.client_id.in_(visible)))
    if doc is None:
        raise DocumentNotFound("document not found", field="documentId")
    return doc


async def issue(session: AsyncSession, settings: Settings, actor: Actor, doc_id: int) -> IssuedLink:
    """A link for a reviewer's live session to one document they may see (else not found)."""
    if actor.kind is not ActorKind.STAFF or actor.user_id is None or actor.session_id is None:
        raise DocumentNotFound("document not found", field="documentId")
    doc = await visible_document(session, actor, doc_id)
    expires = int(time.time()) + LINK_TTL_S
    token = sign(settings, Claims(doc.id, actor.user_id, actor.session_id, expires))
    await record(session, actor, action="client_document.view_link_issued", entity_type="client_document",
                 entity_id=doc.id, after={"client_id": doc.client_id, "expires_at": expires}, category="general")
    return IssuedLink(f"{settings.public_base_url.rstrip('/')}/documents/{token}", expires)


async def open_view(session: AsyncSession, settings: Settings, store: BlobStore, claims: Claims, *,
                    ip: str | None, user_agent: str | None) -> tuple[Document, bytes]:
    """The document and its plaintext for a verified link, the view audited in this transaction.
    The reviewer's session must still be live and still hold the permission and sight of the client."""
    principal = await load_principal(session, claims.user_id, claims.session_id)
    if principal is None or principal.kind is not ActorKind.STAFF or PERMISSION not in principal.permissions:
        raise DocumentNotFound("document not found", field="documentId")
    actor = Actor(ActorKind.STAFF, user_id=principal.user_id, permissions=principal.permissions, ip=ip,
                  user_agent=user_agent, session_id=principal.session_id, desk=principal.desk,
                  mfa_enrolled=principal.mfa_enrolled)
    doc = await visible_document(session, actor, claims.document_id)
    data = await documents.read(session, settings, store, doc)
    await record(session, actor, action="client_document.viewed", entity_type="client_document", entity_id=doc.id,
                 after={"client_id": doc.client_id, "sha256": doc.sha256}, category="general")
    return doc, data
