"""`POST /webhooks/<provider>`: providers' callbacks, dispatched to their context's handler.

Handlers live with their context: a module `domain/<ctx>/webhooks.py` exporting
`WEBHOOK_HANDLERS: dict[str, WebhookHandler]` registers its providers (discovered here).
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import domain
from domain.shared.discovery import context_modules
from domain.shared.errors import DomainError
from domain.shared.settings import ConfigurationError
from domain.shared.webhooks import RESPONSE_HEADERS, WebhookHandler, WebhookRequest
from infra.services import AppServices

log = structlog.get_logger(__name__)
MAX_WEBHOOK_BYTES = 256_000


def discover_handlers() -> dict[str, WebhookHandler]:
    handlers: dict[str, WebhookHandler] = {}
    for module in context_modules(domain, "webhooks"):
        handlers.update(getattr(module, "WEBHOOK_HANDLERS", {}))
    return handlers


def webhook_routes(services: Callable[[], AppServices]) -> list[Route]:
    handlers = discover_handlers()

    async def endpoint(request: Request) -> Response:
        provider = request.path_params["provider"]
        handler = handlers.get(provider)
        if handler is None:
            return JSONResponse({"errors": [{"message": "unknown provider",
                                             "extensions": {"code": "WEBHOOK_UNKNOWN_PROVIDER"}}]}, status_code=404)
        body = await request.body()
        if len(body) > MAX_WEBHOOK_BYTES:
            return JSONResponse({"errors": [{"message": "payload too large",
                                             "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]}, status_code=413)
        try:
            status, payload = await handler(services(), WebhookRequest(provider, body, request.headers))
        except ConfigurationError:
            # A provider this deployment has not configured (no secrets): nothing to verify against.
            log.warning("webhook.unconfigured", provider=provider)
            return JSONResponse({"errors": [{"message": "this provider is not configured here",
                                             "extensions": {"code": "WEBHOOK_PROVIDER_NOT_CONFIGURED"}}]},
                                status_code=404)
        except DomainError as exc:
            log.warning("webhook.rejected", provider=provider, code=exc.code)
            status = 401 if "SIGNATURE" in exc.code or "TIMESTAMP" in exc.code else 400
            return JSONResponse({"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]},
                                status_code=status)
        headers = payload.pop(RESPONSE_HEADERS, None)
        return JSONResponse(payload, status_code=status, headers=headers)

    return [Route("/webhooks/{provider}", endpoint, methods=["POST"])]
