"""Pure ASGI middleware: request ids, security headers, body size limits and the body read
timeout (no per-request task overhead)."""

from __future__ import annotations

import asyncio
import re
import uuid
import weakref
from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.metrics import HTTP_ERRORS

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})


async def send_json_error(send: Send, status: int, code: str, message: str, request_id: str | None = None,
                          *, close: bool = False) -> None:
    HTTP_ERRORS.labels(code).inc()
    headers = [(b"content-type", b"application/json")]
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    if close:  # the rest of the request will not be read: the connection cannot carry another one
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": error_body(code, message)})


# Every response: no MIME sniffing, no referrer leaving the API, never framed (clickjacking). An API
# answer loads nothing at all; the GraphiQL page (development) loads its scripts and styles from this
# origin only (api/static/graphiql; React and GraphiQL set inline style attributes, hence that one).
_BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_HTML_CSP = (b"content-security-policy",
             b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
             b"font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
             b"frame-ancestors 'none'")
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


def security_headers(*, hsts: bool) -> list[tuple[bytes, bytes]]:
    return [*_BASE_HEADERS, *([_HSTS] if hsts else [])]


def assign_request_id(scope: Scope) -> str:
    """The request's id (a sane X-Request-ID from the caller, or a new one), kept in its scope's state."""
    incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
    request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
    scope.setdefault("state", {})["request_id"] = request_id
    return request_id


class RequestIdMiddleware:
    """Takes a sane X-Request-ID from the caller or makes one; binds it to logs and echoes it.
    Adds the security headers to every response on the way (one layer, not two)."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.headers = security_headers(hsts=hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = assign_request_id(scope)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
                headers += self.headers
                headers.append(_HTML_CSP if html else _API_CSP)
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)


class _BodyTooLarge(Exception):
    pass


class _BodyTooSlow(Exception):
    pass


class _Deadlines:
    """When each body read now waiting must have its next chunk, checked by one timer per event loop
    every `TICK` seconds, which cancels a read past its deadline (as asyncio.timeout would, up to a
    tick late). Nearly every request's body arrives with its head, so its read never waits: an entry
    in a dictionary costs it a fraction of a microsecond where an asyncio timeout per read (a timer
    pushed on the loop's heap and taken off again, an object and its context manager) cost about 5 us."""

    TICK = 0.25

    def __init__(self) -> None:
        self.waiting: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    def arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is None:
            self._timer = loop.call_later(self.TICK, self._check, loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        for task, deadline in list(self.waiting.items()):
            if deadline <= now and task not in self.expired:
                self.expired.add(task)
                task.cancel()
        if self.waiting:
            self.arm(loop)


_deadlines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines] = weakref.WeakKeyDictionary()


async def receive_within(receive: Receive, timeout_s: float) -> Message:
    """The next message from `receive`, or _BodyTooSlow when it does not come within `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadlines = _deadlines.get(loop)
    if deadlines is None:
        deadlines = _deadlines[loop] = _Deadlines()
    task = asyncio.current_task()
    assert task is not None
    deadlines.waiting[task] = loop.time() + timeout_s
    deadlines.arm(loop)
    try:
        return await receive()
    except asyncio.CancelledError:
        if task in deadlines.expired:
            deadlines.expired.discard(task)
            if task.uncancel() == 0:  # ours alone: a deadline, not a cancellation from elsewhere
                raise _BodyTooSlow from None
        raise
    finally:
        del deadlines.waiting[task]
        deadlines.expired.discard(task)


class BodySizeLimitMiddleware:
    """Refuses bodies over the limit with 413, by Content-Length and while streaming, and bodies
    that stall (a client that sends its headers and then trickles or stops) with 408 after
    `body_timeout_s` without the next chunk: a slow client must not hold a worker's request open."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int | None = None,
                 body_timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Multipart requests (document uploads) get their own, larger limit.
        self.max_upload_bytes = max_upload_bytes or max_bytes
        self.body_timeout_s = body_timeout_s

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
        body_done = False

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # waiting for a disconnect while streaming an answer: no deadline
                return await receive()
            message = await receive_within(receive, self.body_timeout_s)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
                body_done = not message.get("more_body", False)
            else:
                body_done = True
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
        except _BodyTooSlow:
            if not started:
                await send_json_error(send, 408, "REQUEST_TIMEOUT",
                                      f"The request body did not arrive within {self.body_timeout_s:g} s",
                                      request_id, close=True)
