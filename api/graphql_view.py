"""The /graphql endpoint: strawberry's ASGI view with our context, metrics and error shapes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import orjson
import structlog
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from api import graphql_http
from api.auth import authenticate, credential_of, resolve_credential
from api.middleware import error_body
from domain.shared.actor import Actor, ActorKind
from domain.trusted_documents import service as trusted_documents
from infra.cookies import ACCESS_COOKIE, REFRESH_COOKIE
from infra.metrics import GRAPHQL_LATENCY, GRAPHQL_REQUESTS, HTTP_ERRORS, operation_label
from infra.services import AppServices
from schema.context import Context
from schema.errors import PublicError
from schema.live_session import LiveSession

log = structlog.get_logger(__name__)

_HTTP_CODES = {
    "This API runs only trusted documents": "TRUSTED_DOCUMENT_REQUIRED",
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


def _classify(scope: Scope) -> tuple[bool, bool, bytes]:
    """(a request our GraphQL-over-HTTP path serves: a POST of a JSON body or a GET, neither asking
    for a stream nor, without a query, for the GraphiQL page; a request that needs a preflight header
    and lacks one; the Accept header), from one pass over the headers.

    Cross-site request forgery: a page on another site can make the browser send our cookies with a
    form post (multipart, form-encoded, text/plain), a link or an image (GET) or, if anything ever
    relaxed CORS, more. So a request authenticated by our cookies, and every multipart request
    (uploads), must carry a header only a preflighted request can: a browser sends it cross-origin
    only after our CORS allow-list said yes. Bearer-token requests (no cookie credential) need nothing
    more."""
    method = scope["method"]
    if method != "POST" and method != "GET":
        return False, False, b""
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
    if method == "GET":
        served = b"event-stream" not in accept and (bool(scope["query_string"]) or b"text/html" not in accept)
        return served, served and cookie and not authorization and not preflight, accept
    plain = content_type == b"application/json" and b"multipart" not in accept and b"event-stream" not in accept
    forgeable = (content_type == b"multipart/form-data" or (cookie and not authorization)) and not preflight
    return plain, forgeable, accept


TRUSTED_ONLY = ("This API runs only trusted documents for this caller: send the document's `documentId` "
                "(sha256:<hex>) instead of its text.")


async def _untrusted(services: AppServices, actor: Actor | None, query: str | None) -> bool:
    """A caller of a kind that must run trusted documents (FOREXCRM_TRUSTED_DOCUMENTS_REQUIRED) sending
    text that is no trusted document's (the paths that take text only: uploads, sockets)."""
    if actor is None or actor.kind not in services.settings.trusted_documents_required:
        return False
    return query is None or await services.trusted_documents.body(trusted_documents.document_hash(query)) != query


# WebSocket close codes (graphql-transport-ws): a credential that stands for nobody, or a session
# that ended or expired while the socket was open; the client signs in again and reconnects.
CLOSE_UNAUTHORIZED = 4401
# The credential could not be checked now (the database overloaded or away, as when thousands of sockets
# reconnect at once): "Try Again Later" (RFC 6455's registry), rather than dropping the connection unclosed.
CLOSE_TRY_AGAIN = 1013


@functools.cache
def _graphiql_page() -> str:
    return (GRAPHIQL_ASSETS / "index.html").read_text()


class SocketRejected(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class SessionBoundWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws bound to the caller's live session (schema/live_session.py): a
    credential in connection_init that stands for nobody closes the socket (4401); every operation
    (query, mutation, subscribe) is authorised against the live session as it starts; when the
    session ends or expires, running subscriptions end with a typed error and the socket closes
    (4401)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closing = False

    async def handle(self) -> None:
        """strawberry's loop over the socket's messages, without its async generator (`iter_json`,
        one more frame per socket) and without keeping the last message (a subscribe message: its
        document text) while the socket waits for the next one, which may be hours away."""
        self.on_request_accepted()
        ws: WebSocket = self.websocket.ws  # type: ignore[attr-defined]
        try:
            while ws.application_state != WebSocketState.DISCONNECTED:
                try:
                    message = self.view.decode_json(await ws.receive_text())
                except KeyError:  # a binary frame
                    await self.handle_invalid_message("WebSocket message type must be text")
                    return
                except ValueError:  # orjson's JSONDecodeError
                    await self.handle_invalid_message("WebSocket message must be valid JSON")
                    return
                await self.handle_message(cast(Message, message))
                del message
        except (WebSocketDisconnect, WebSocketDisconnected):
            pass
        finally:
            await self.shutdown()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except SocketRejected as exc:
            self.closing = True
            await self.websocket.close(code=exc.code, reason=exc.reason)
            return
        self.connection_init_timeout_task = None  # cancelled above: nothing to keep for the socket's life
        live = self.context.live
        if self.connection_acknowledged and live is not None:
            live.on_end = self.session_ended
            live.start()

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        live = self.context.live
        if self.connection_acknowledged and live is not None and message.get("id") not in self.operations:
            try:
                self.context.actor = await live.authorise()
            except PublicError as error:
                if not self.closing:
                    with contextlib.suppress(Exception):  # the peer may be gone already
                        await self.send_message({"id": message["id"], "type": "error",
                                                 "payload": [error.formatted]})
                await live.end(error)  # running subscriptions end too, then the socket closes
                return
        if self.connection_acknowledged and await _untrusted(self.context.services, self.context.actor,
                                                              message.get("payload", {}).get("query")):
            await self.send_message({"id": message["id"], "type": "error", "payload": [
                {"message": TRUSTED_ONLY, "extensions": {"code": "TRUSTED_DOCUMENT_REQUIRED"}}]})
            return
        if not self.connection_acknowledged or message["id"] in self.operations or (
                self.max_subscriptions_per_connection is not None
                and len(self.operations) >= self.max_subscriptions_per_connection):
            await super().handle_subscribe(message)  # refused as strawberry refuses it
            return
        # strawberry's, without a done callback on the task (`run_operation` lets no exception out)
        payload = message["payload"]
        operation = Operation(self, message["id"], payload["query"], payload.get("variables"),
                              payload.get("operationName"))
        operation.task = asyncio.create_task(self.run_operation(operation))
        self.operations[message["id"]] = operation

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """strawberry's, in one frame (its stream-closing context managers and result loop are
        objects and frames every running subscription keeps): the operation's results as `next`
        messages, then `complete`; a refusal before it starts as an `error` message (or the close
        strawberry makes for a document that does not parse). An unexpected failure is logged and
        completes the operation."""
        try:
            source: Any = await self.schema.stream(
                operation.query, variable_values=operation.variables, context_value=self.context,
                root_value=None, operation_name=operation.operation_name)
            operation.query = ""  # parsed: the text is not needed again
            try:
                first = True
                async for result in source:
                    if first and isinstance(result, PreExecutionError):
                        await self._handle_pre_execution_error(operation, result)
                        return
                    if not isinstance(result, ExecutionResult):
                        await self._reject_incremental_delivery(operation)
                        return
                    await operation.send_next(result)
                    first = False
                    del result  # not kept while the next event is awaited
            finally:
                await source.aclose()
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except _OperationStreamClosed:
            return
        except Exception as error:
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)

    async def shutdown(self) -> None:
        if self.context.live is not None:
            self.context.live.close()
        await super().shutdown()

    async def session_ended(self, error: PublicError) -> None:
        if not self.closing:
            self.closing = True
            with contextlib.suppress(Exception):  # the peer may be gone already
                await self.websocket.close(code=CLOSE_UNAUTHORIZED, reason=error.message[:120])


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = SessionBoundWSHandler

    def __init__(self, services: AppServices, **kwargs: Any) -> None:
        self.services = services
        super().__init__(**kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            handler = await self._socket_handler(WebSocket(scope, receive=receive, send=send))
            if handler is not None:
                await handler.handle()  # this frame and the handler's are all the socket keeps of the view
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        served, forgeable, accept = _classify(scope)
        if forgeable:
            HTTP_ERRORS.labels("PREFLIGHT_REQUIRED").inc()
            await Response(error_body("PREFLIGHT_REQUIRED", "this request needs an X-Requested-With or "
                                      "Apollo-Require-Preflight header (cross-site request forgery protection)"),
                           status_code=403, media_type="application/json")(scope, receive, send)
            return
        try:
            response = await self._serve(request, receive, accept) if served else await self.run(request)
        except HTTPException as exc:
            code = _http_error_code(exc)
            status = 415 if code == "UNSUPPORTED_CONTENT_TYPE" else exc.status_code
            response = _error_response(status, code, exc.reason, graphql_http.JSON)
        await response(scope, receive, send)

    async def _socket_handler(self, websocket: WebSocket) -> SessionBoundWSHandler | None:
        """What strawberry's `run` does for a socket, up to the protocol handler it would then await
        (its frame, and the ASGI view's, would stay alive as long as the socket): refuse a foreign
        origin (a 403 to the handshake), accept with graphql-transport-ws, or close with 4406 when the
        client offers no protocol of ours (graphql-sse is HTTP; the legacy protocol is not served)."""
        if not self._check_websocket_origin(websocket):
            await self.reject_websocket(websocket)
            return None
        subprotocol = await self.pick_websocket_subprotocol(websocket)
        await self.create_websocket_response(websocket, subprotocol)
        adapter = self.websocket_adapter_class(self, websocket, websocket)  # type: ignore[arg-type]
        if subprotocol != GRAPHQL_TRANSPORT_WS_PROTOCOL:
            await adapter.close(4406, "Subprotocol not acceptable")
            return None
        return SessionBoundWSHandler(
            view=self, websocket=adapter, context=await self.get_context(websocket, response=websocket),
            root_value=None, schema=self.schema,
            connection_init_wait_timeout=self.connection_init_wait_timeout,
            max_subscriptions_per_connection=self.max_subscriptions_per_connection)

    async def _serve(self, request: Request, receive: Receive, accept: bytes) -> Response:
        """GraphQL over HTTP for one operation POSTed as JSON or sent by GET, without the generic
        view's negotiation of methods, content types, uploads, batches and streams (that costs about as
        much CPU as executing a small operation): the spec's media types and status codes
        (api/graphql_http.py); a GET runs queries only (a mutation is 405) and says how it may be cached."""
        media = graphql_http.negotiate(accept)
        if media is None:
            return _error_response(406, "NOT_ACCEPTABLE", "Accept application/graphql-response+json or "
                                   "application/json.", graphql_http.JSON)
        is_get = request.method == "GET"
        try:
            params = (graphql_http.from_query_string(request.scope["query_string"]) if is_get
                      else graphql_http.from_body(await _read_body(receive)))
        except graphql_http.BadRequest as exc:
            return _error_response(exc.status, exc.code, exc.message, media)
        document_id = graphql_http.document_id(params)
        if params.query is None and document_id is None:
            return _error_response(400, "MISSING_QUERY", "No GraphQL query found in the request", media)
        sub_response = _sub_response()
        context = await self.get_context(request, response=sub_response)
        query = params.query
        if document_id is not None or context.actor.kind in self.services.settings.trusted_documents_required:
            query_or_refusal = await self._trusted_query(context, params.query, document_id)
            if isinstance(query_or_refusal, graphql_http.BadRequest):
                return _request_error(query_or_refusal, media)
            query = query_or_refusal
        try:
            result = await self.execute_single(
                request=request, request_adapter=self.request_adapter_class(request), sub_response=sub_response,
                context=context, root_value=None,
                request_data=GraphQLRequestData(query=query, variables=params.variables,
                                                operation_name=params.operation_name,
                                                extensions=params.extensions, protocol="http"))
        except HTTPException as exc:
            if is_get and "not allowed when using GET" in exc.reason:
                response = _error_response(405, "METHOD_NOT_ALLOWED", "Only queries run over GET: send a "
                                           "mutation as a POST.", media)
                response.headers["allow"] = "POST"
                return response
            return _error_response(exc.status_code, _http_error_code(exc), exc.reason, media)
        response_data = await self.process_result(request=request, result=result)
        status = 200
        if media == graphql_http.GRAPHQL_RESPONSE and graphql_http.is_request_error(result.data, result.errors):
            status = 400
            response_data.pop("data", None)  # type: ignore[misc]
        response = Response(_json_bytes(response_data), status_code=sub_response.status_code or status,
                            media_type=graphql_http.CONTENT_TYPES[media])
        response.raw_headers += sub_response.raw_headers
        if is_get:
            response.raw_headers += _cache_headers(context, result)
        return response

    async def execute_operation(self, request: Request, request_adapter: Any,
                                request_data: GraphQLRequestData | list[GraphQLRequestData], context: Context,
                                root_value: Any, sub_response: Any) -> Any:
        """The generic path (uploads, streamed responses) takes text only: a caller that must run trusted
        documents may send the text of one."""
        for data in request_data if isinstance(request_data, list) else [request_data]:
            if await _untrusted(self.services, context.actor, data.query):
                raise HTTPException(400, TRUSTED_ONLY)
        return await super().execute_operation(request, request_adapter, request_data, context, root_value,
                                               sub_response)

    async def _trusted_query(self, context: Context, query: str | None,
                             document_id: str | None) -> str | graphql_http.BadRequest:
        """The text to run for a request naming a trusted document by hash (or sending text where
        its caller's kind must name one: FOREXCRM_TRUSTED_DOCUMENTS_REQUIRED), or why not."""
        required = context.actor.kind in self.services.settings.trusted_documents_required
        if document_id is None:
            return graphql_http.BadRequest("TRUSTED_DOCUMENT_REQUIRED", TRUSTED_ONLY)
        digest = trusted_documents.normalise_hash(document_id)
        body = None if digest is None else await self.services.trusted_documents.body(digest)
        if body is None:
            if query is not None and not required and digest == trusted_documents.document_hash(query):
                return query  # Apollo's automatic persisted queries: the text sent along with its hash
            return graphql_http.BadRequest("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        if query is not None and query != body:
            return graphql_http.BadRequest("BAD_OPERATION", "The query text is not the document its hash names.")
        return body

    _last_next: tuple[object, object, str] | None = None

    def encode_json(self, data: object) -> str:
        # Text, not bytes: WebSocket messages are sent as text frames (bytes would go as binary).
        if type(data) is dict and data.get("type") == "next":
            # A broadcast hands every subscriber the same result (schema.events.shared): its `next`
            # message, for the same operation id, is encoded once and the same text object sent to
            # each socket (whose protocol then frames it once too: api/ws_protocol.py).
            payload = data.get("payload")
            if type(payload) is dict and len(payload) == 1 and "data" in payload:
                last = self._last_next
                if last is not None and last[0] is payload["data"] and last[1] == data.get("id"):
                    return last[2]
                text = self._encode(data)
                self._last_next = (payload["data"], data.get("id"), text)
                return text
        return self._encode(data)

    @staticmethod
    def _encode(data: object) -> str:
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
            # The three headers it needs from one pass over the raw list: Starlette's Headers.get is
            # a Mapping.get, raising and catching a KeyError for each header a request lacks.
            authorization = user_agent = cookie = None
            for name, value in request.scope["headers"]:
                if name == b"authorization":
                    authorization = authorization or value
                elif name == b"user-agent":
                    user_agent = user_agent or value
                elif name == b"cookie":
                    cookie = value
            client = request.scope.get("client")
            ctx.actor = await authenticate(
                self.services,
                headers={"authorization": authorization.decode("latin-1")} if authorization is not None else {},
                cookies=request.cookies if cookie is not None else {}, params=None,
                ip=client[0] if client else None,
                user_agent=user_agent.decode("latin-1") if user_agent is not None else None, request_id=request_id,
            )
            if ctx.actor.is_authenticated:  # for a subscription streamed over HTTP
                ctx.reauthenticate = self._reauthenticate(request, None, request_id)
        return ctx

    async def on_ws_connect(self, context: Context) -> Any:
        """connection_init: authenticate from the payload (mobile apps) or the cookie (browsers).
        No credential is anonymous (public subscriptions such as `heartbeat`); one that stands
        for nobody (garbage, expired, revoked) closes the socket with 4401."""
        request = context.request
        reauthenticate = self._reauthenticate(request, context.connection_params, context.request_id)
        context.connection_params = {}  # the credential is in `reauthenticate`: not kept twice for the socket's life
        try:
            actor = await reauthenticate() if reauthenticate is not None else None
        except Exception as exc:  # the credential could not be checked (the database is overloaded or away)
            log.warning("websocket.authentication_unavailable", error=str(exc)[:200] or type(exc).__name__)
            raise SocketRejected(CLOSE_TRY_AGAIN, "Try again later") from exc
        if reauthenticate is not None and actor is None:
            raise SocketRejected(CLOSE_UNAUTHORIZED, "Unauthorized")
        context.actor = actor or Actor(ActorKind.ANONYMOUS, ip=request.client.host if request.client else None,
                                       user_agent=request.headers.get("user-agent"),
                                       correlation_id=context.request_id)
        context.reauthenticate = reauthenticate
        context.live = LiveSession(context.actor, reauthenticate, self.services.principals,
                                   on_change=context.adopt)
        return None

    def _reauthenticate(self, request: Request | WebSocket, params: dict[str, Any] | None,
                        request_id: str) -> Callable[[], Awaitable[Actor | None]] | None:
        """The caller's credential, to be asked again whenever needed (None: there is none)."""
        token = credential_of(request.headers, request.cookies, params)
        if token is None:
            return None
        services, ip = self.services, request.client.host if request.client else None
        user_agent = request.headers.get("user-agent")

        async def reauthenticate() -> Actor | None:
            return await resolve_credential(services, token, ip=ip, user_agent=user_agent, request_id=request_id)

        return reauthenticate

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


async def _read_body(receive: Receive) -> bytes:
    """The request's body straight from the server: Starlette's Request.stream costs as much again."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _sub_response() -> Response:
    """What resolvers set cookies (and a status) on, copied into the answer: strawberry's is a whole
    rendered Response, built and then emptied again."""
    response = Response.__new__(Response)
    response.status_code = None  # type: ignore[assignment]
    response.background = None
    response.body = b""
    response.raw_headers = []
    return response


def _json_bytes(data: object) -> bytes:
    try:
        return orjson.dumps(data)
    except TypeError:  # an integer beyond 64 bits, say: the standard library takes anything JSON can
        return json.dumps(data, separators=(",", ":")).encode()


def _request_error(refusal: graphql_http.BadRequest, media: str) -> Response:
    """A request error found before execution: 400 in application/graphql-response+json, 200 in the
    legacy application/json (as any request error), never stored by a cache."""
    response = _error_response(400 if media == graphql_http.GRAPHQL_RESPONSE else 200, refusal.code,
                               refusal.message, media)
    response.raw_headers += _NOT_STORED
    return response


def _error_response(status: int, code: str, message: str, media: str) -> Response:
    HTTP_ERRORS.labels(code).inc()
    return Response(error_body(code, message), status_code=status, media_type=graphql_http.CONTENT_TYPES[media])


# A GET's answer may be kept by shared caches only when it is public: read by a caller without any
# credential (what anyone may read) and without an error; it varies with the credential headers, so
# a cache never hands it to a signed-in caller. Anything else is the caller's alone and not stored.
_PUBLIC_VARY = (b"vary", b"Accept, Authorization, Cookie")
_NOT_STORED = ((b"cache-control", b"private, no-store"),)


def _cache_headers(context: Context, result: ExecutionResult) -> tuple[tuple[bytes, bytes], ...]:
    if result.errors or context.actor is None or context.actor.kind is not ActorKind.ANONYMOUS:
        return _NOT_STORED
    max_age = context.services.settings.graphql_public_max_age_s
    return ((b"cache-control", f"public, max-age={max_age}".encode()), _PUBLIC_VARY)


class _OperationMetrics:
    """One operation name's metric children, looked up once (a labels() call takes a lock and a
    dictionary walk on every request)."""

    def __init__(self, label: str) -> None:
        self.latency = GRAPHQL_LATENCY.labels(label)
        self.ok = GRAPHQL_REQUESTS.labels(label, "ok")
        self.error = GRAPHQL_REQUESTS.labels(label, "error")
        self.rejected = GRAPHQL_REQUESTS.labels(label, "rejected")


# GraphiQL (development): the page and the files it loads, vendored (api/static/graphiql/README.md)
# and served by the API under /graphiql-assets, so it works offline and under a self-only policy.
GRAPHIQL_ASSETS = Path(__file__).resolve().parent / "static" / "graphiql"


class MeteredGraphQLView(GraphQLView):
    """Records per-operation counts and latency."""

    @property
    def graphql_ide_html(self) -> str:
        return _graphiql_page()

    _metrics: dict[str, _OperationMetrics] = {}  # bounded: operation_label caps the distinct names

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        started = time.perf_counter()
        request_data = kwargs.get("request_data")
        label = operation_label(getattr(request_data, "operation_name", None))
        metrics = self._metrics.get(label)
        if metrics is None:
            metrics = self._metrics[label] = _OperationMetrics(label)
        context = kwargs.get("context")
        if isinstance(context, Context):
            context.operation_scoped = True
        try:
            result = await super().execute_single(*args, **kwargs)
        except Exception:
            metrics.rejected.inc()
            raise
        finally:
            if isinstance(context, Context):
                await context.release_reads()
        metrics.latency.observe(time.perf_counter() - started)
        (metrics.error if result.errors else metrics.ok).inc()
        return result


def health_response() -> JSONResponse:
    return JSONResponse({"status": "ok"})


__all__ = ["GRAPHQL_SSE_PROTOCOL", "GRAPHQL_TRANSPORT_WS_PROTOCOL", "PREFLIGHT_HEADERS", "GraphQLView",
           "MeteredGraphQLView", "health_response"]
