"""Staff single sign-on endpoints under /auth/oidc (authlib's Starlette OAuth client).

GET  /auth/oidc/login     redirect to the IdP: authorization code + PKCE S256, state and nonce.
GET  /auth/oidc/callback  exchange the code; authlib validates the ID token (signature via the IdP's
                          JWKS, issuer, audience, nonce, expiry); then domain.identity.oidc signs in,
                          sets the same httpOnly cookies as `login(cookie: true)` and redirects.
POST /auth/oidc/totp      {"code": "123456"}: the second step when the IdP did not assert MFA and the
                          staff user has TOTP enrolled.

Refusals are 400 `{"errors": [{"message", "extensions": {"code"}}]}` and write only an audited failed
attempt. authlib keeps the flow's state, nonce and PKCE verifier in `request.session`; the mount
carries its own signed-cookie session (FlowSessionMiddleware), scoped to /auth/oidc, so the app needs
no global SessionMiddleware (Starlette's needs itsdangerous, which is not a dependency).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import MismatchingStateError
from authlib.integrations.starlette_client import OAuth, OAuthError
from joserfc.errors import JoseError
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.middleware import error_body
from domain.identity import ratelimit
from domain.identity.oidc import (
    PROVIDER_ERROR,
    STATE_MISMATCH,
    TOTP_NOT_PENDING,
    OidcSettings,
    SsoIdentity,
    SsoRefused,
    SsoSignIn,
    complete_with_totp,
    identity_from_claims,
    record_failure,
    sign_in,
)
from domain.identity.sessions import Tokens
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from domain.shared.settings import Settings
from infra.cookies import ACCESS_COOKIE, REFRESH_COOKIE
from infra.services import AppServices

PREFIX = "/auth/oidc"
FLOW_COOKIE = "forexcrm_oidc"
FLOW_MAX_AGE_S = 600
PENDING_KEY = "pending_totp"
CLIENT_NAME = "forexcrm"


# --- the flow's session: a signed (not encrypted) cookie, like Starlette's SessionMiddleware ---------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FlowSessionMiddleware:
    """`scope["session"]` from an HMAC-SHA256-signed, timestamped cookie; rewritten only when changed.

    SameSite=Lax because the callback is a top-level navigation from the IdP's site (Strict would
    drop the cookie and every callback would look like a state mismatch).
    """

    def __init__(self, app: ASGIApp, *, secret: str, path: str = PREFIX, max_age_s: int = FLOW_MAX_AGE_S,
                 secure: bool = False) -> None:
        self.app = app
        # A key of its own, so this cookie's MAC can never be replayed as another HMAC of the secret.
        self.key = hmac.new(secret.encode(), b"forexcrm-oidc-flow-session", hashlib.sha256).digest()
        self.path = path
        self.max_age_s = max_age_s
        self.secure = secure

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.key, body.encode(), hashlib.sha256).digest())

    def load(self, raw: str | None, now: float) -> dict[str, Any]:
        if not raw or raw.count(".") != 2:
            return {}
        payload, issued, mac = raw.split(".")
        if not hmac.compare_digest(mac, self._sign(f"{payload}.{issued}")):
            return {}
        if not issued.isdigit() or now - int(issued) > self.max_age_s:
            return {}
        try:
            data = orjson.loads(_unb64(payload))
        except (ValueError, orjson.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def dump(self, data: dict[str, Any], now: float) -> str:
        body = f"{_b64(orjson.dumps(data))}.{int(now)}"
        return f"{body}.{self._sign(body)}"

    def _cookie(self, value: str, max_age: int) -> str:
        cookie = f"{FLOW_COOKIE}={value}; Path={self.path}; Max-Age={max_age}; HttpOnly; SameSite=Lax"
        return cookie + "; Secure" if self.secure else cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loaded = self.load(HTTPConnection(scope).cookies.get(FLOW_COOKIE), time.time())
        scope["session"] = dict(loaded)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and scope["session"] != loaded:
                headers = MutableHeaders(scope=message)
                session: dict[str, Any] = scope["session"]
                cookie = self._cookie(self.dump(session, time.time()), self.max_age_s) if session \
                    else self._cookie("", 0)
                headers.append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)


# --- answers -----------------------------------------------------------------------------------------


def refused(problem: SsoRefused, status: int = 400) -> Response:
    return Response(error_body(problem.code, problem.message), status_code=status, media_type="application/json")


def set_auth_cookies(response: Response, settings: Settings, tokens: Tokens) -> None:
    """The cookies `login(cookie: true)` sets (schema/identity/resolvers.py set_auth_cookies)."""
    secure = settings.public_base_url.startswith("https://")
    response.set_cookie(ACCESS_COOKIE, tokens.access_token, max_age=tokens.expires_in, httponly=True,
                        secure=secure, samesite="strict", path="/")
    response.set_cookie(REFRESH_COOKIE, tokens.refresh_token, max_age=settings.refresh_token_ttl_s,
                        httponly=True, secure=secure, samesite="strict", path="/graphql")


def request_actor(request: Request) -> Actor:
    return Actor(ActorKind.ANONYMOUS, ip=request.client.host if request.client else None,
                 user_agent=request.headers.get("user-agent"),
                 correlation_id=request.scope.get("state", {}).get("request_id"))


def _device(request: Request) -> str:
    return ("sso: " + (request.headers.get("user-agent") or ""))[:200]


# --- the endpoints -----------------------------------------------------------------------------------


class OidcEndpoints:
    def __init__(self, settings: Settings, services: Callable[[], AppServices], oidc: OidcSettings) -> None:
        assert oidc.enabled and oidc.client_id
        self.settings = settings
        self.services = services
        self.oidc = oidc
        # Discovery and the JWKS are fetched on first use and cached by the client (JWKS again on an
        # unknown kid, i.e. after the IdP rotates keys). authlib opens an httpx client per call: one
        # shared TLS context spares loading the CA bundle (~0.1 s of CPU) on every sign-in.
        self.client: Any = OAuth().register(
            name=CLIENT_NAME, server_metadata_url=oidc.metadata_url, client_id=oidc.client_id,
            client_secret=oidc.client_secret.get_secret_value() if oidc.client_secret else None,
            client_kwargs={"scope": oidc.scopes, "code_challenge_method": "S256", "timeout": oidc.http_timeout_s,
                           "verify": httpx.create_ssl_context()},
        )

    async def _transaction(self, fn: Callable[[Any], Awaitable[SsoSignIn | None]]) -> SsoSignIn | None:
        return await in_transaction(self.services().session_factory, fn)

    async def login(self, request: Request) -> Response:
        try:
            response: Response = await self.client.authorize_redirect(request, self.oidc.callback_url(self.settings))
        except (AuthlibBaseError, httpx.HTTPError, KeyError, ValueError):
            return refused(SsoRefused(PROVIDER_ERROR, "the identity provider cannot be reached"))
        return response

    def _claims_options(self, metadata: dict[str, Any]) -> dict[str, Any]:
        # authlib checks only the issuer by default; the audience must be us (and only then azp).
        return {"iss": {"essential": True, "value": metadata["issuer"]},
                "aud": {"essential": True, "value": self.oidc.client_id},
                "exp": {"essential": True}, "sub": {"essential": True}}

    async def _identity(self, request: Request) -> SsoIdentity | SsoRefused:
        try:
            metadata = await self.client.load_server_metadata()
            token = await self.client.authorize_access_token(request, claims_options=self._claims_options(metadata))
            claims = dict(token.get("userinfo") or {})
            if not claims:
                return SsoRefused(PROVIDER_ERROR, "the identity provider returned no ID token")
            if self.oidc.groups_claim not in claims and metadata.get("userinfo_endpoint"):
                extra = await self.client.userinfo(token=token)
                if extra.get("sub") == claims.get("sub"):  # OIDC core 5.3.2: else it is not this user's
                    claims[self.oidc.groups_claim] = extra.get(self.oidc.groups_claim)
        except MismatchingStateError:
            return SsoRefused(STATE_MISMATCH, "this sign-in was not started here or has expired; start again")
        except OAuthError as exc:
            return SsoRefused(PROVIDER_ERROR, f"the identity provider refused the sign-in ({exc.error})")
        except (AuthlibBaseError, JoseError, httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
            detail = type(exc).__name__ + (f": {exc}" if str(exc) else "")
            return SsoRefused(PROVIDER_ERROR, f"the identity provider's answer did not verify ({detail[:200]})")
        return identity_from_claims(self.oidc, claims)

    async def callback(self, request: Request) -> Response:
        actor = request_actor(request)
        redis, ip = self.services().redis, actor.ip or "-"
        try:  # the per-IP budget password login uses (failures only): a refused callback writes an audit event
            limits = self.settings
            await ratelimit.reserve(redis, limits.redis_namespace, "login:ip", ip,
                                    free=limits.login_attempts_per_ip, window_s=limits.rate_limit_window_s)
        except DomainError as exc:
            return refused(SsoRefused(exc.code, exc.message), status=429)
        identity = await self._identity(request)
        if isinstance(identity, SsoRefused):
            problem = identity

            async def failed(session: Any) -> None:
                await record_failure(session, actor, None, problem.code, detail=problem.message)

            await self._transaction(failed)
            return refused(problem)

        async def work(session: Any) -> SsoSignIn:
            return await sign_in(session, self.settings, self.oidc, actor, identity, device=_device(request))

        try:
            result = await self._transaction(work)
        except DomainError as exc:
            return refused(SsoRefused(exc.code, exc.message))
        assert result is not None
        if result.error is None:
            await ratelimit.refund(redis, self.settings.redis_namespace, "login:ip", ip)
        return self._answer(request, result)

    def _answer(self, request: Request, result: SsoSignIn) -> Response:
        if result.error is not None:
            return refused(result.error)
        if result.totp_user_id is not None:
            request.session[PENDING_KEY] = {"uid": result.totp_user_id,
                                            "exp": time.time() + self.oidc.pending_totp_ttl_s}
            return RedirectResponse(self.oidc.totp_prompt_url, status_code=303)
        assert result.tokens is not None
        request.session.pop(PENDING_KEY, None)
        response = RedirectResponse(self.oidc.post_login_url, status_code=303)
        set_auth_cookies(response, self.settings, result.tokens)
        return response

    async def totp(self, request: Request) -> Response:
        pending = request.session.get(PENDING_KEY) or {}
        try:
            code = str((await request.json()).get("code") or "")
        except (ValueError, AttributeError):
            code = ""
        if not pending or pending.get("exp", 0) < time.time() or not code:
            return refused(SsoRefused(TOTP_NOT_PENDING, "no single sign-on is waiting for a code; start again"))
        actor = request_actor(request)
        services = self.services()

        async def work(session: Any) -> SsoSignIn:
            return await complete_with_totp(session, self.settings, services.redis, actor, int(pending["uid"]),
                                            code, device=_device(request))

        try:
            result = await self._transaction(work)
        except DomainError as exc:
            return refused(SsoRefused(exc.code, exc.message), status=429 if exc.code == "RATE_LIMITED" else 400)
        assert result is not None
        if result.error is not None or result.tokens is None:
            return refused(result.error or SsoRefused(TOTP_NOT_PENDING, "no session"))
        request.session.pop(PENDING_KEY, None)
        response = JSONResponse({"redirect": self.oidc.post_login_url})
        set_auth_cookies(response, self.settings, result.tokens)
        return response


def oidc_app(settings: Settings, services: Callable[[], AppServices], oidc: OidcSettings) -> Starlette:
    endpoints = OidcEndpoints(settings, services, oidc)
    return Starlette(
        routes=[Route("/login", endpoints.login, methods=["GET"]),
                Route("/callback", endpoints.callback, methods=["GET"]),
                Route("/totp", endpoints.totp, methods=["POST"])],
        middleware=[Middleware(FlowSessionMiddleware, secret=settings.secret_key.get_secret_value(),
                               secure=settings.public_base_url.startswith("https://"))],
    )


def oidc_routes(settings: Settings, services: Callable[[], AppServices],
                oidc: OidcSettings | None = None) -> list[BaseRoute]:
    """The /auth/oidc mount, or nothing when SSO is not configured. `services` is called per request
    (the pools open in the lifespan, after the routes are built)."""
    oidc = oidc if oidc is not None else OidcSettings()
    if not oidc.enabled:
        return []
    return [Mount(PREFIX, app=oidc_app(settings, services, oidc))]
