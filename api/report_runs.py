"""`GET /documents/report-run/<token>`: a scheduled report's file, through the signed link e-mailed to one of its
recipients (domain/reporting/schedules.py). The link is checked (signature, expiry, the recipient still active
staff with reports.read over the schedule's desks), the download audited in a transaction that commits before
the first byte. Refusals answer like a document link's (404/410 with the code only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.documents import _NO_STORE, _refusal
from api.record_exports import _attachment
from domain.clients import document_links
from domain.reporting import schedules
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from domain.shared.settings import Settings
from infra.services import AppServices

log = structlog.get_logger(__name__)


def report_run_routes(settings: Settings, services: Callable[[], AppServices]) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        try:
            claims = document_links.verify(settings, request.path_params["token"], info=schedules.LINK_INFO)
        except DomainError as error:
            log.info("report run link refused", code=error.code)
            return _refusal(error)
        ip = request.client.host if request.client else None

        async def txn(session: AsyncSession) -> tuple[str, str, bytes]:
            return await schedules.open_download(session, claims, ip=ip, user_agent=request.headers.get("user-agent"))

        try:
            name, fmt, content = await in_transaction(services().session_factory, txn)
        except DomainError as error:
            log.info("report run link refused", code=error.code)
            return _refusal(error)
        headers = {**_NO_STORE, "Content-Disposition": _attachment(name)}
        return Response(content, media_type=schedules.CONTENT_TYPES[fmt], headers=headers)

    handler: Callable[[Request], Awaitable[Response]] = endpoint
    return [Route("/documents/report-run/{token}", handler, methods=["GET"])]
