"""`GET /documents/<token>`: a reviewer's short-lived signed link to one KYC document
(domain/clients/document_links.py), answered with the decrypted bytes, the document's content
type, `Content-Disposition: inline` with its file name, and `Cache-Control: no-store`.

A tampered or malformed link answers 404 DOCUMENT_LINK_INVALID, an expired one 410
DOCUMENT_LINK_EXPIRED, a link whose reviewer lost the session, the permission or sight of the
client 404 NOT_FOUND. Nothing about the document is said in a refusal, and the token never
reaches a log line (infra/logging.py masks `/documents/<token>`).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.clients import document_links
from domain.clients.errors import DocumentLinkExpired
from domain.clients.models import Document
from domain.clients.storage import default_store
from domain.retention.errors import ClientKeyDestroyed
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from domain.shared.settings import Settings
from infra.services import AppServices

log = structlog.get_logger(__name__)
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


def _refusal(error: DomainError) -> Response:
    status = 410 if isinstance(error, DocumentLinkExpired | ClientKeyDestroyed) else 404
    return JSONResponse({"error": error.code}, status_code=status, headers=_NO_STORE)


def _disposition(filename: str) -> str:
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename)
    return f"inline; filename=\"{ascii_name or 'document'}\"; filename*=UTF-8''{quote(filename, safe='')}"


def document_routes(settings: Settings, services: Callable[[], AppServices]) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        try:
            claims = document_links.verify(settings, request.path_params["token"])
        except DomainError as error:
            log.info("document link refused", code=error.code)
            return _refusal(error)
        ip = request.client.host if request.client else None
        store = default_store(settings)

        async def txn(session: AsyncSession) -> tuple[Document, bytes]:
            return await document_links.open_view(session, settings, store, claims, ip=ip,
                                                  user_agent=request.headers.get("user-agent"))

        try:
            doc, data = await in_transaction(services().session_factory, txn)
        except DomainError as error:
            log.info("document link refused", code=error.code)
            return _refusal(error)
        return Response(data, media_type=doc.content_type,
                        headers={**_NO_STORE, "Content-Disposition": _disposition(doc.filename)})

    return [Route("/documents/{token}", endpoint, methods=["GET"])]
