"""`GET /documents/records/<token>`: a staff member's short-lived signed link to one export of records
on request (domain/audit/record_exports.py), answered as a file download streamed from the database.

The link is checked (signature, expiry, the session still live with audit.read, the client still
visible) and the download audited in one transaction that commits before the first byte; the rows
are then read in another (REPEATABLE READ, so the file is one consistent snapshot) through a
server-side cursor. Refusals answer like a document link's (404/410 with the code only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from api.documents import _NO_STORE, _refusal
from domain.audit import record_exports, records
from domain.clients import document_links
from domain.shared.db import driver, in_transaction
from domain.shared.errors import DomainError
from domain.shared.settings import Settings
from infra.services import AppServices

log = structlog.get_logger(__name__)


def _attachment(filename: str) -> str:
    return f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def _csv_body(services: AppServices, kind: records.RecordKind,
                    flt: records.Resolved) -> AsyncIterator[bytes]:
    yield record_exports.csv_lines((), records.header(kind)).encode()
    async with services.session_factory() as session, session.begin():
        conn = await driver(session)
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        async for batch in record_exports.stream_rows(conn, kind, flt):
            yield record_exports.csv_lines(batch).encode()


async def _xlsx_file(services: AppServices, kind: records.RecordKind,
                     flt: records.Resolved) -> record_exports.XlsxSheet:
    sheet = record_exports.XlsxSheet(records.header(kind))
    try:
        async with services.session_factory() as session, session.begin():
            conn = await driver(session)
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            async for batch in record_exports.stream_rows(conn, kind, flt):
                for row in batch:
                    sheet.append(row)
        sheet.finish()
    except BaseException:
        sheet.discard()
        raise
    return sheet


def record_export_routes(settings: Settings, services: Callable[[], AppServices]) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        try:
            claims = document_links.verify(settings, request.path_params["token"], info=record_exports.LINK_INFO)
        except DomainError as error:
            log.info("record export link refused", code=error.code)
            return _refusal(error)
        ip = request.client.host if request.client else None

        async def txn(session: AsyncSession) -> tuple[record_exports.ExportRequest, records.Resolved]:
            return await record_exports.open_export(session, claims, ip=ip,
                                                    user_agent=request.headers.get("user-agent"))

        try:
            export, flt = await in_transaction(services().session_factory, txn)
        except DomainError as error:
            log.info("record export link refused", code=error.code)
            return _refusal(error)
        headers = {**_NO_STORE, "Content-Disposition": _attachment(export.filename)}
        media = record_exports.CONTENT_TYPES[export.format]
        if export.format == "csv":
            return StreamingResponse(_csv_body(services(), export.kind, flt), media_type=media, headers=headers)
        try:
            sheet = await _xlsx_file(services(), export.kind, flt)
        except DomainError as error:  # more rows than a sheet holds
            return JSONResponse({"error": error.code, "message": error.message}, status_code=413, headers=_NO_STORE)
        return StreamingResponse(sheet.chunks(), media_type=media, headers=headers)

    handler: Callable[[Request], Awaitable[Response]] = endpoint
    return [Route("/documents/records/{token}", handler, methods=["GET"])]
