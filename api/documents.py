"""`GET /documents/<token>`: a reviewer's short-lived signed link to one KYC document
(domain/clients/document_links.py), and `GET /documents/aml/<token>` to one AML case file
(domain/compliance/aml/attachments.py), `GET /documents/regulatory/<token>` to one regulatory report file
(domain/regulatory/files.py), each answered with the decrypted bytes, the document's content
type, `Content-Disposition: inline` with its file name, and `Cache-Control: no-store`.

A tampered or malformed link answers 404 DOCUMENT_LINK_INVALID, an expired one 410
DOCUMENT_LINK_EXPIRED, a link whose reviewer lost the session, the permission or sight of the
client 404 NOT_FOUND. Nothing about the document is said in a refusal, and the token never
reaches a log line (infra/logging.py masks `/documents/<token>`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.clients import document_links
from domain.clients.errors import DocumentLinkExpired
from domain.clients.storage import default_store
from domain.compliance.aml import attachments
from domain.regulatory import files as regulatory_files
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


# (session, settings, store, claims, *, ip, user_agent) -> (the object, with filename and content_type; its bytes)
_Opener = Callable[..., Awaitable[tuple[Any, bytes]]]


def _link_endpoint(settings: Settings, services: Callable[[], AppServices], info: bytes,
                   opener: _Opener) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            claims = document_links.verify(settings, request.path_params["token"], info=info)
        except DomainError as error:
            log.info("document link refused", code=error.code)
            return _refusal(error)
        ip = request.client.host if request.client else None
        store = default_store(settings)

        async def txn(session: AsyncSession) -> tuple[Any, bytes]:
            return await opener(session, settings, store, claims, ip=ip, user_agent=request.headers.get("user-agent"))

        try:
            doc, data = await in_transaction(services().session_factory, txn)
        except DomainError as error:
            log.info("document link refused", code=error.code)
            return _refusal(error)
        return Response(data, media_type=doc.content_type,
                        headers={**_NO_STORE, "Content-Disposition": _disposition(doc.filename)})

    return endpoint


def document_routes(settings: Settings, services: Callable[[], AppServices]) -> list[Route]:
    return [Route("/documents/{token}", _link_endpoint(settings, services, document_links.LINK_INFO,
                                                       document_links.open_view), methods=["GET"]),
            Route("/documents/aml/{token}", _link_endpoint(settings, services, attachments.LINK_INFO,
                                                           attachments.open_view), methods=["GET"]),
            Route("/documents/regulatory/{token}", _link_endpoint(settings, services, regulatory_files.LINK_INFO,
                                                                  regulatory_files.open_view), methods=["GET"])]
