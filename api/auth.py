"""Who is calling: turns request credentials into an Actor (HTTP and WebSocket alike).

Credentials, in order: `Authorization: Bearer <JWT or fxc_ API token>`, then the httpOnly
`forexcrm_access` cookie (browsers), or for WebSockets the `authorization` key of the
`connection_init` payload. Over HTTP a bad or expired credential is anonymous, never an error
here: fields that need a caller refuse with UNAUTHENTICATED. A WebSocket lives on, so it keeps its
credential and asks `resolve_credential` again for every operation (api/graphql_view.py); a bad one
there closes the connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.identity import api_tokens
from domain.identity.jwt_tokens import verify_access_token
from domain.identity.sessions import request_principal
from domain.shared.actor import ANONYMOUS, Actor, ActorKind
from domain.shared.errors import DomainError
from infra.cookies import ACCESS_COOKIE, REFRESH_COOKIE
from infra.services import AppServices


def credential_of(headers: Mapping[str, str], cookies: Mapping[str, str],
                  params: Mapping[str, Any] | None) -> str | None:
    raw: Any = None
    if params:
        raw = params.get("authorization") or params.get("Authorization")
    if raw is None:
        raw = headers.get("authorization")
    if isinstance(raw, str) and raw.lower().startswith("bearer "):
        return raw[7:].strip() or None
    cookie = cookies.get(ACCESS_COOKIE)
    return cookie or None


async def authenticate(
    services: AppServices, *, headers: Mapping[str, str], cookies: Mapping[str, str],
    params: Mapping[str, Any] | None, ip: str | None, user_agent: str | None, request_id: str,
) -> Actor:
    token = credential_of(headers, cookies, params)
    actor = None if token is None else await resolve_credential(
        services, token, ip=ip, user_agent=user_agent, request_id=request_id)
    return actor or Actor(ActorKind.ANONYMOUS, ip=ip, user_agent=user_agent, correlation_id=request_id)


async def resolve_credential(services: AppServices, token: str, *, ip: str | None, user_agent: str | None,
                             request_id: str) -> Actor | None:
    """Whom `token` stands for now, or None when nobody: garbage, expired, a revoked session or
    token, a disabled user. Sessions' principals come through the process's principal cache."""
    if token.startswith(api_tokens.PREFIX):
        async with services.session_factory() as session, session.begin():
            return await api_tokens.authenticate(session, token, ip=ip, user_agent=user_agent,
                                                 correlation_id=request_id)
    try:
        claims = verify_access_token(services.settings, token)
    except DomainError:
        return None
    principal = await request_principal(services.session_factory, claims.user_id, claims.session_id,
                                        services.principals)
    if principal is None:
        return None
    return Actor(principal.kind, user_id=principal.user_id, permissions=principal.permissions, ip=ip,
                 user_agent=user_agent, correlation_id=request_id, stepped_up_at=principal.stepped_up_at,
                 session_id=principal.session_id, expires_at=claims.expires_at, desk=principal.desk,
                 mfa_enrolled=principal.mfa_enrolled)


__all__ = ["ACCESS_COOKIE", "ANONYMOUS", "REFRESH_COOKIE", "authenticate", "credential_of", "resolve_credential"]
