"""A real OpenID Connect provider stand-in on loopback, for driving the SSO browser flow in tests.

Discovery, /authorize (auto-approves `provider.user`, checks client, redirect URI and PKCE S256,
keeps state and nonce), /token (client authentication, single-use code, PKCE verifier), /jwks,
/userinfo. ID tokens are RS256, signed with a key generated per provider (joserfc). `user` and
`mode` are changed per test: "bad_nonce" signs a foreign nonce, "error" answers the authorization
request with access_denied, "wrong_audience" issues the ID token to another client (azp naming
ours), "bad_signature" signs with a key not in the JWKS (same kid), "expired" issues an ID token
that expired ten minutes ago, "groups_in_userinfo" leaves the groups out of the ID token.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sandbox.serving import serving

Mode = Literal["ok", "bad_nonce", "error", "wrong_audience", "bad_signature", "expired", "groups_in_userinfo"]


@dataclass
class IdpUser:
    email: str
    email_verified: bool = True
    groups: list[str] = field(default_factory=list)
    amr: list[str] = field(default_factory=lambda: ["pwd"])
    name: str = "SSO Test User"

    @property
    def subject(self) -> str:
        return "sub-" + hashlib.sha256(self.email.encode()).hexdigest()[:16]


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    user: IdpUser
    mode: Mode


class OidcProvider:
    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        kid = secrets.token_hex(4)
        self.key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
        self.impostor = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
        self.user = IdpUser(email="nobody@broker.example")
        self.mode: Mode = "ok"
        self.base_url = ""
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.token_requests = 0

    def reset(self, user: IdpUser, mode: Mode = "ok") -> None:
        self.user, self.mode = user, mode

    # --- endpoints ---------------------------------------------------------------------------------

    async def discovery(self, _: Request) -> Response:
        b = self.base_url
        return JSONResponse({
            "issuer": b, "authorization_endpoint": f"{b}/authorize", "token_endpoint": f"{b}/token",
            "jwks_uri": f"{b}/jwks", "userinfo_endpoint": f"{b}/userinfo", "response_types_supported": ["code"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"], "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        })

    async def jwks(self, _: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id or q.get("redirect_uri") != self.redirect_uri:
            return JSONResponse({"error": "invalid_request"}, status_code=400)  # never redirect to a stranger
        state = q.get("state") or ""
        if self.mode == "error":
            return self._back({"error": "access_denied", "error_description": "the user said no", "state": state})
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return self._back({"error": "invalid_request", "state": state})
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(self.client_id, self.redirect_uri, q["code_challenge"], q.get("nonce"),
                                  self.user, self.mode)
        return self._back({"code": code, "state": state})

    def _back(self, params: dict[str, str]) -> Response:
        return RedirectResponse(f"{self.redirect_uri}?{urlencode(params)}", status_code=302)

    def _client_ok(self, request: Request, form: Any) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        return cid == self.client_id and secrets.compare_digest(secret, self.client_secret)

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = await request.form()
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.grants.pop(str(form.get("code", "")), None)  # single use
        if form.get("grant_type") != "authorization_code" or grant is None \
                or form.get("redirect_uri") != grant.redirect_uri:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or challenge != grant.code_challenge:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
        access = secrets.token_urlsafe(24)
        self.tokens[access] = self._user_claims(grant.user)
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": 300,
                             "id_token": self._id_token(grant), "scope": "openid email profile"})

    async def userinfo(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        claims = self.tokens.get(auth[7:]) if auth.lower().startswith("bearer ") else None
        return JSONResponse(claims) if claims else JSONResponse({"error": "invalid_token"}, status_code=401)

    # --- tokens -----------------------------------------------------------------------------------

    def _user_claims(self, user: IdpUser) -> dict[str, Any]:
        return {"sub": user.subject, "email": user.email, "email_verified": user.email_verified,
                "name": user.name, "groups": list(user.groups)}

    def _id_token(self, grant: Grant) -> str:
        now = int(time.time()) - (600 if grant.mode == "expired" else 0)
        claims: dict[str, Any] = {
            **self._user_claims(grant.user), "iss": self.base_url, "iat": now, "exp": now + 300, "amr": grant.user.amr,
            "aud": "someone-else" if grant.mode == "wrong_audience" else grant.client_id,
            "nonce": "not-the-nonce-you-sent" if grant.mode == "bad_nonce" else grant.nonce,
        }
        if grant.mode == "wrong_audience":
            claims["azp"] = grant.client_id  # names us as the party, so only the audience check can refuse it
        if grant.mode == "groups_in_userinfo":
            claims.pop("groups")
        key = self.impostor if grant.mode == "bad_signature" else self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, KeySet([key]))

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/authorize", self.authorize),
            Route("/token", self.token, methods=["POST"]),
            Route("/jwks", self.jwks),
            Route("/userinfo", self.userinfo),
        ])


@contextlib.asynccontextmanager
async def running_provider(client_id: str, client_secret: str, redirect_uri: str) -> AsyncIterator[OidcProvider]:
    provider = OidcProvider(client_id, client_secret, redirect_uri)
    async with serving(provider.app(), lifespan="on") as base_url:
        provider.base_url = base_url
        yield provider
