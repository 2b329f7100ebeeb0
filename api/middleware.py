"""Pure ASGI middleware: request ids and body size limits (no per-request task overhead)."""

from __future__ import annotations

import re
import uuid

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import HTTP_ERRORS

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})


async def send_json_error(send: Send, status: int, code: str, message: str, request_id: str | None = None) -> None:
    HTTP_ERRORS.labels(code).inc()
    headers = [(b"content-type", b"application/json")]
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": error_body(code, message)})


class RequestIdMiddleware:
    """Takes a sane X-Request-ID from the caller or makes one; binds it to logs and echoes it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)


class _BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """Refuses bodies over the limit with 413, by Content-Length and while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Multipart requests (document uploads) get their own, larger limit.
        self.max_upload_bytes = max_upload_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id")
        headers = dict(scope.get("headers") or [])
        limit = self.max_upload_bytes if headers.get(b"content-type", b"").startswith(b"multipart/") else self.max_bytes
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                await send_json_error(send, 400, "BAD_REQUEST", "Invalid Content-Length", request_id)
                return
            if too_big:
                await send_json_error(
                    send, 413, "PAYLOAD_TOO_LARGE", f"Request body over {limit} bytes", request_id
                )
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await send_json_error(
                    send, 413, "PAYLOAD_TOO_LARGE", f"Request body over {limit} bytes", request_id
                )
