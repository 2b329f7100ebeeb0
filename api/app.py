"""The Starlette application: /graphql, /health, /ready, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.graphql_view import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL, PREFLIGHT_HEADERS, MeteredGraphQLView
from api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware, assign_request_id, error_body
from api.migrate import is_current
from domain.events.outbox import oldest_pending_age_seconds
from domain.shared.settings import Settings, get_settings
from infra.logging import configure_logging
from infra.metrics import JOB_QUEUE, OUTBOX_LAG, REGISTRY, SUBSCRIBERS
from infra.runtime import Runtime, freeze_heap, open_runtime
from jobs.stats import read_queue_stats
from schema.root import build_schema


def create_app(settings: Settings, database_url: str, redis_url: str) -> Starlette:
    """Build the app; services open in the lifespan so an unreachable dependency fails start-up."""
    settings.check_production()
    schema = build_schema(settings)
    state: dict[str, Runtime] = {}

    class _LazyView:
        """Routes need the view before the lifespan opens the pools."""

        view: MeteredGraphQLView | None = None

        async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
            assert self.view is not None, "lifespan has not started"
            await self.view(scope, receive, send)

    lazy = _LazyView()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await open_runtime(settings, database_url, redis_url)
        state["runtime"] = runtime
        lazy.view = MeteredGraphQLView(
            runtime.services,
            schema=schema,
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=True,  # queries only (api/graphql_view.py answers a GET mutation 405)
            keep_alive=True,
            keep_alive_interval=15,
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=50,
            multipart_uploads_enabled=True,
            allowed_origins=settings.allowed_ws_origins,
            # graphql-transport-ws (its handler binds every operation to the live session) and
            # graphql-sse for clients behind proxies that break WebSockets (a POST accepting
            # text/event-stream; its stream is bound to the live session by Context.subscribe).
            # Not the legacy subscriptions-transport-ws protocol: it would bypass those checks.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
        )
        freeze_heap()
        try:
            yield
        finally:
            await runtime.close()

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(_: Request) -> Response:
        runtime = state.get("runtime")
        checks: dict[str, str] = {}
        if runtime is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            async with asyncio.timeout(2):
                checks["migrations"] = "current" if await is_current(runtime.engine) else "pending"
                checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            async with asyncio.timeout(2):
                await runtime.services.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
        checks["events"] = "ok" if runtime.services.hub.connected.is_set() else "reconnecting"
        ok = checks.get("database") == "ok" and checks["redis"] == "ok" and checks.get("migrations") == "current"
        return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks},
                            status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        if not metrics_allowed(settings, request):
            return Response(error_body("UNAUTHENTICATED", "metrics need FOREXCRM_METRICS_TOKEN as a bearer token"),
                            status_code=401, media_type="application/json",
                            headers={"www-authenticate": 'Bearer realm="metrics"'})
        runtime = state.get("runtime")
        if runtime is not None:
            SUBSCRIBERS.set(runtime.services.hub.subscriber_count)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1), runtime.services.session_factory() as session:
                    OUTBOX_LAG.set(await oldest_pending_age_seconds(session))
            try:
                async with asyncio.timeout(1):
                    JOB_QUEUE.snapshot = asdict(await read_queue_stats(runtime.services.redis, settings.queue_name))
            except Exception:  # Redis unreachable: no job figures rather than stale ones
                JOB_QUEUE.snapshot = None
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def bench_anchor(_: Request) -> Response:
        from datetime import UTC, datetime

        from schema.system.resolvers import API_VERSION

        return JSONResponse({"data": {"apiVersion": API_VERSION, "serverTime": datetime.now(UTC).isoformat()}})

    routes = [
        Route("/graphql", lazy, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", lazy),
        Route("/health", health),
        Route("/ready", ready),
        Route("/metrics", metrics),
    ]
    from api.oidc_routes import oidc_routes

    # Staff SSO (/auth/oidc/*) when FOREXCRM_OIDC_DISCOVERY_URL and FOREXCRM_OIDC_CLIENT_ID are set.
    routes += oidc_routes(settings, lambda: state["runtime"].services)
    from api.webhooks import webhook_routes

    routes += webhook_routes(lambda: state["runtime"].services)
    from api.referrals import referral_routes

    routes += referral_routes(lambda: state["runtime"].services)  # GET /r/<code>: IB referral links
    from api.documents import document_routes
    from api.portal_pages import portal_page_routes

    routes += document_routes(settings, lambda: state["runtime"].services)  # GET /documents/<signed token>
    from api.record_exports import record_export_routes

    routes += record_export_routes(settings, lambda: state["runtime"].services)  # GET /documents/records/<token>
    from api.client_money_return import client_money_return_routes

    # GET /documents/client-money-return/<token>
    routes += client_money_return_routes(settings, lambda: state["runtime"].services)
    from api.report_runs import report_run_routes

    routes += report_run_routes(settings, lambda: state["runtime"].services)  # GET /documents/report-run/<token>
    routes += portal_page_routes(settings)  # /verify-email, /reset-password, /confirm-email (development)
    if settings.graphiql_enabled:  # the page's scripts and styles, from this origin (works offline)
        from starlette.routing import Mount
        from starlette.staticfiles import StaticFiles

        from api.graphql_view import GRAPHIQL_ASSETS

        routes.append(Mount("/graphiql-assets", StaticFiles(directory=GRAPHIQL_ASSETS), name="graphiql-assets"))
    if settings.bench_anchor and not settings.is_production:
        routes.append(Route("/bench/anchor", bench_anchor))
    # Forwarded headers are believed only from configured proxies (FOREXCRM_TRUSTED_PROXIES): from
    # anyone else X-Forwarded-For would let a caller pick the IP that rate limits and audit see.
    proxies = [Middleware(ProxyHeadersMiddleware, trusted_hosts=",".join(settings.trusted_proxies))
               ] if settings.trusted_proxies else []
    # A /graphql socket is served without the HTTP middleware stack (api/app.py `_Api`): each layer's
    # coroutine frame would be kept for the socket's whole life, thousands of sockets at a time.
    def graphql_socket() -> ASGIApp:
        assert lazy.view is not None, "lifespan has not started"
        if settings.trusted_proxies:
            return ProxyHeadersMiddleware(lazy.view, trusted_hosts=",".join(settings.trusted_proxies))  # type: ignore[arg-type,return-value]
        return lazy.view

    return _Api(
        graphql_socket,
        routes=routes,
        lifespan=lifespan,
        middleware=[
            *proxies,
            Middleware(RequestIdMiddleware, hsts=settings.is_production),
            Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes,
                       max_upload_bytes=settings.max_upload_bytes, body_timeout_s=settings.body_timeout_s),
            # Portals live on their own origins: the same allow-list as WebSockets, with cookies.
            Middleware(CORSMiddleware, allow_origins=settings.allowed_ws_origins, allow_credentials=True,
                       allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=["authorization", "content-type", "x-request-id", *PREFLIGHT_HEADERS],
                       expose_headers=["x-request-id"], max_age=600),
        ],
    )


class _Api(Starlette):
    """The app, serving a WebSocket on /graphql straight (forwarded headers believed as for any request,
    the request id assigned and bound to logs as RequestIdMiddleware does) rather than through the
    middleware stack: what those layers do to a socket is that much (the body limit and CORS are for
    HTTP alone, the router only finds the route), but every layer's frame would stay alive as long
    as the socket does. Anything else, and any other socket path, takes the stack."""

    def __init__(self, graphql_socket: Callable[[], ASGIApp], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graphql_socket = graphql_socket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or scope["path"] != "/graphql":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        # The connection runs in a task (and context) of its own: bound for as long as it lasts.
        structlog.contextvars.bind_contextvars(request_id=assign_request_id(scope))
        await self.graphql_socket()(scope, receive, send)


def metrics_allowed(settings: Settings, request: Request) -> bool:
    """/metrics tells a lot about traffic and failures: with FOREXCRM_METRICS_TOKEN set (required in
    production) only a scraper presenting it as a bearer token reads it; without one, only loopback."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    if token:
        given = request.headers.get("authorization", "")
        return given[:7].lower() == "bearer " and hmac.compare_digest(given[7:].strip().encode(), token.encode())
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def app_from_environment() -> Starlette:
    """The app of one `forexcrm api --workers N` process: settings and URLs from the environment."""
    settings = get_settings()
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError("DATABASE_URL and REDIS_URL must be set for a worker process")
    configure_logging(settings.log_level, settings.log_json, settings.log_field_max_chars,
                      settings.access_log)
    return create_app(settings, settings.database_url, settings.redis_url)
