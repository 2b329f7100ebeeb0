"""`GET /documents/client-money-return/<token>`: a staff member's short-lived signed link to one month's client
money return (domain/reconciliation/client_money_return.py) as CSV or XLSX.

The link is checked (signature, expiry, the session still live with reconciliation.manage), the lines read and
the download audited in one transaction that commits before the first byte. A return has one line per currency,
so the file is built whole. Refusals answer like a document link's (404/410 with the code only).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from api.documents import _NO_STORE, _refusal
from api.record_exports import _attachment
from domain.audit import record_exports
from domain.clients import document_links
from domain.reconciliation import client_money_return as cmar
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from domain.shared.settings import Settings
from infra.services import AppServices

log = structlog.get_logger(__name__)


def client_money_return_routes(settings: Settings, services: Callable[[], AppServices]) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        try:
            claims = document_links.verify(settings, request.path_params["token"], info=cmar.LINK_INFO)
        except DomainError as error:
            log.info("client money return link refused", code=error.code)
            return _refusal(error)
        ip = request.client.host if request.client else None

        async def txn(session: AsyncSession) -> tuple[str, str, list[cmar.ReturnLine]]:
            return await cmar.open_export(session, claims, ip=ip, user_agent=request.headers.get("user-agent"))

        try:
            month, fmt, lines = await in_transaction(services().session_factory, txn)
        except DomainError as error:
            log.info("client money return link refused", code=error.code)
            return _refusal(error)
        headers = {**_NO_STORE, "Content-Disposition": _attachment(f"client-money-return-{month}.{fmt}")}
        if fmt == "csv":
            body = record_exports.csv_lines([line.cells() for line in lines], cmar.HEADER).encode()
            return Response(body, media_type=cmar.CONTENT_TYPES["csv"], headers=headers)
        sheet = record_exports.XlsxSheet(cmar.HEADER)
        try:
            for line in lines:
                sheet.append(line.cells())
            sheet.finish()
        except BaseException:
            sheet.discard()
            raise
        return StreamingResponse(sheet.chunks(), media_type=cmar.CONTENT_TYPES["xlsx"], headers=headers)

    handler: Callable[[Request], Awaitable[Response]] = endpoint
    return [Route("/documents/client-money-return/{token}", handler, methods=["GET"])]
