"""The /graphql endpoint: strawberry's ASGI view with our context, metrics and error shapes."""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
import structlog
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from api.auth import ACCESS_COOKIE, REFRESH_COOKIE, authenticate
from api.metrics import GRAPHQL_LATENCY, GRAPHQL_REQUESTS, HTTP_ERRORS, operation_label
from api.middleware import error_body
from schema.context import AppServices, Context

log = structlog.get_logger(__name__)

_HTTP_CODES = {
    "Unable to parse request body as JSON": "MALFORMED_JSON",
    "Unsupported content type": "UNSUPPORTED_CONTENT_TYPE",
    "No GraphQL query found in the request": "MISSING_QUERY",
}


def _http_error_code(exc: HTTPException) -> str:
    for prefix, code in _HTTP_CODES.items():
        if exc.reason.startswith(prefix):
            return code
    if "operation" in exc.reason.lower():
        return "OPERATION_NOT_FOUND" if "Unknown operation" in exc.reason or "named" in exc.reason else "BAD_OPERATION"
    if "batch" in exc.reason.lower():
        return "BATCHING_DISABLED"
    return "BAD_REQUEST"


# A header a browser sends cross-origin only after a CORS preflight (which our allow-list answers):
# X-Requested-With, or the Apollo clients' own (apollo-upload-client sends Apollo-Require-Preflight).
PREFLIGHT_HEADERS = ("x-requested-with", "apollo-require-preflight", "x-apollo-operation-name")
_PREFLIGHT = frozenset(h.encode() for h in PREFLIGHT_HEADERS)
_AUTH_COOKIES = (ACCESS_COOKIE.encode() + b"=", REFRESH_COOKIE.encode() + b"=")


def _classify_post(scope: Scope) -> tuple[bool, bool]:
    """(a POST of a JSON body asking for a plain JSON answer, a request that needs a preflight
    header and lacks one), from one pass over the headers.

    Cross-site request forgery: a page on another site can make the browser send our cookies with a
    form post (multipart, form-encoded, text/plain) or, if anything ever relaxed CORS, more. So a
    request authenticated by our cookies, and every multipart request (uploads), must carry a
    header only a preflighted request can: a browser sends it cross-origin only after our CORS
    allow-list said yes. Bearer-token requests (no cookie credential) need nothing more."""
    if scope["method"] != "POST":
        return False, False
    content_type = accept = b""
    cookie = authorization = preflight = False
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.split(b";", 1)[0].strip().lower()
        elif name == b"accept":
            accept = value
        elif name == b"cookie":
            cookie = cookie or any(c in value for c in _AUTH_COOKIES)
        elif name == b"authorization":
            authorization = True
        elif name in _PREFLIGHT and value.strip():
            preflight = True
    plain = content_type == b"application/json" and b"multipart" not in accept and b"event-stream" not in accept
    forgeable = (content_type == b"multipart/form-data" or (cookie and not authorization)) and not preflight
    return plain, forgeable


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, services: AppServices, **kwargs: Any) -> None:
        self.services = services
        super().__init__(**kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        plain, forgeable = _classify_post(scope)
        if forgeable:
            HTTP_ERRORS.labels("PREFLIGHT_REQUIRED").inc()
            await Response(error_body("PREFLIGHT_REQUIRED", "this request needs an X-Requested-With or "
                                      "Apollo-Require-Preflight header (cross-site request forgery protection)"),
                           status_code=403, media_type="application/json")(scope, receive, send)
            return
        try:
            response = (await self._run_plain_post(request) if plain else None) or (
                await self.run(request))
        except HTTPException as exc:
            code = _http_error_code(exc)
            status = 415 if code == "UNSUPPORTED_CONTENT_TYPE" else exc.status_code
            HTTP_ERRORS.labels(code).inc()
            response = Response(error_body(code, exc.reason), status_code=status, media_type="application/json")
        await response(scope, receive, send)

    async def _run_plain_post(self, request: Request) -> Response | None:
        """The common request (one operation POSTed as JSON, a JSON answer) without the generic
        view's negotiation of methods, content types, uploads, batches and streams: that costs
        about as much CPU as executing a small operation. Anything else (None) takes `run`, which
        reads the body kept by the request."""
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise HTTPException(400, "Unable to parse request body as JSON") from exc
        if not isinstance(data, dict):
            return None  # a batch: refused by `run` with its own message
        query, variables = data.get("query"), data.get("variables")
        name, extensions = data.get("operationName"), data.get("extensions")
        if not isinstance(name, str | None):  # `run` would pass it on and fail on it
            raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null, if provided.")
        if not (isinstance(query, str) and isinstance(variables, dict | None) and isinstance(extensions, dict | None)):
            return None  # `run` explains what is wrong
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        result = await self.execute_single(
            request=request, request_adapter=self.request_adapter_class(request), sub_response=sub_response,
            context=context, root_value=None,
            request_data=GraphQLRequestData(query=query, variables=variables, operation_name=name,
                                            extensions=extensions, protocol="http"))
        response_data = await self.process_result(request=request, result=result)
        return self.create_response(response_data=response_data, sub_response=sub_response)

    def encode_json(self, data: object) -> str:
        # Text, not bytes: WebSocket messages are sent as text frames (bytes would go as binary).
        try:
            return orjson.dumps(data).decode()
        except TypeError:  # an integer beyond 64 bits, say: the standard library takes anything JSON can
            return json.dumps(data, separators=(",", ":"))

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        request_id = request.scope.get("state", {}).get("request_id") or "-"
        is_ws = request.scope["type"] == "websocket"
        ctx = Context(services=self.services, request=request, response=response, request_id=request_id,
                      is_websocket=is_ws)
        if not is_ws:
            ctx.actor = await authenticate(
                self.services,
                headers=request.headers, cookies=request.cookies, params=None,
                ip=request.client.host if request.client else None,
                user_agent=request.headers.get("user-agent"), request_id=request_id,
            )
        return ctx

    async def on_ws_connect(self, context: Context) -> Any:
        """connection_init: authenticate from the payload (mobile apps) or the cookie (browsers)."""
        request = context.request
        params = context.connection_params
        context.actor = await authenticate(
            self.services,
            headers=request.headers, cookies=request.cookies, params=params,
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"), request_id=context.request_id,
        )
        return None

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        data: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            data["errors"] = [self._format_error(err) for err in result.errors]
        if result.extensions:
            data["extensions"] = result.extensions
        return data

    def _format_error(self, error: GraphQLError) -> dict[str, Any]:
        formatted = error.formatted
        ext = dict(formatted.get("extensions") or {})
        if "code" not in ext:
            original = error.original_error
            if original is None:
                ext["code"] = "GRAPHQL_VALIDATION_FAILED"
            elif isinstance(original, StrawberryGraphQLError):
                ext["code"] = (original.extensions or {}).get("code", "BAD_REQUEST")
            elif getattr(original, "code", None):
                ext["code"] = getattr(original, "code")  # noqa: B009
            else:
                ext["code"] = "INTERNAL_SERVER_ERROR"
        formatted["extensions"] = ext
        return dict(formatted)


class _OperationMetrics:
    """One operation name's metric children, looked up once (a labels() call takes a lock and a
    dictionary walk on every request)."""

    def __init__(self, label: str) -> None:
        self.latency = GRAPHQL_LATENCY.labels(label)
        self.ok = GRAPHQL_REQUESTS.labels(label, "ok")
        self.error = GRAPHQL_REQUESTS.labels(label, "error")
        self.rejected = GRAPHQL_REQUESTS.labels(label, "rejected")


class MeteredGraphQLView(GraphQLView):
    """Records per-operation counts and latency."""

    _metrics: dict[str, _OperationMetrics] = {}  # bounded: operation_label caps the distinct names

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        started = time.perf_counter()
        request_data = kwargs.get("request_data")
        label = operation_label(getattr(request_data, "operation_name", None))
        metrics = self._metrics.get(label)
        if metrics is None:
            metrics = self._metrics[label] = _OperationMetrics(label)
        try:
            result = await super().execute_single(*args, **kwargs)
        except Exception:
            metrics.rejected.inc()
            raise
        metrics.latency.observe(time.perf_counter() - started)
        (metrics.error if result.errors else metrics.ok).inc()
        return result


def health_response() -> JSONResponse:
    return JSONResponse({"status": "ok"})


__all__ = ["GRAPHQL_TRANSPORT_WS_PROTOCOL", "PREFLIGHT_HEADERS", "GraphQLView", "MeteredGraphQLView", "health_response"]
