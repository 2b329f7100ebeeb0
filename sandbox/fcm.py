"""A stand-in for Firebase Cloud Messaging's HTTP v1 API and Google's OAuth2 token endpoint.

POST /token                                   grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and an RS256
                                              assertion signed with the service account's key (iss = its e-mail,
                                              aud = this URL, scope firebase.messaging, exp within an hour) ->
                                              {"access_token", "expires_in", "token_type": "Bearer"}
POST /v1/projects/{project}/messages:send     `authorization: Bearer <access token>`, {"message": {"token", ...}}
                                              -> 200 {"name": "projects/{project}/messages/<id>"}, or the
                                              documented error: {"error": {"code", "message", "status",
                                              "details": [{"@type": "...FcmError", "errorCode"}]}} (401
                                              UNAUTHENTICATED, 403 PERMISSION_DENIED, 400 INVALID_ARGUMENT, 404
                                              UNREGISTERED, 429 QUOTA_EXCEEDED, 503 UNAVAILABLE)
GET  /sim/messages                            what was accepted (tests read this)
POST /sim/unregister                          {"token": t}: t answers 404 UNREGISTERED from now on
POST /sim/script                              {"token": t, "statuses": [503, 429], "retry_after": 1}: the next
                                              sends to t answer these statuses, in order

python -m sandbox.fcm --host 127.0.0.1 --port N  (FCM_PROJECT_ID, FCM_CLIENT_EMAIL, FCM_PRIVATE_KEY: the service
account's key, of which only the public half is used to check assertions)
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.serving import env, serve_main

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
STATUS_NAMES = {400: ("INVALID_ARGUMENT", "INVALID_ARGUMENT"), 401: ("UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"),
                403: ("PERMISSION_DENIED", "SENDER_ID_MISMATCH"), 404: ("NOT_FOUND", "UNREGISTERED"),
                429: ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), 500: ("INTERNAL", "INTERNAL"),
                503: ("UNAVAILABLE", "UNAVAILABLE")}


def _error(status: int, message: str, *, fcm_code: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    name, default_code = STATUS_NAMES.get(status, ("UNKNOWN", "UNSPECIFIED_ERROR"))
    error: dict[str, Any] = {"code": status, "message": message, "status": name}
    if fcm_code or status in (404, 429, 500, 503):
        error["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                             "errorCode": fcm_code or default_code}]
    return JSONResponse({"error": error}, status_code=status, headers=headers)


@dataclass
class FcmStandIn:
    project_id: str
    client_email: str
    private_key: str
    base_url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    unregistered: set[str] = field(default_factory=set)
    scripts: dict[str, list[tuple[int, float | None]]] = field(default_factory=dict)
    access_tokens: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        key = load_pem_private_key(self.private_key.encode(), password=None)
        self._public_key = key.public_key()

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != GRANT:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        try:
            claims = jwt.decode(str(form.get("assertion", "")), self._public_key,  # type: ignore[arg-type]
                                algorithms=["RS256"], audience=f"{self.base_url}/token", issuer=self.client_email,
                                options={"require": ["iss", "aud", "iat", "exp", "scope"]})
        except jwt.PyJWTError as exc:
            return JSONResponse({"error": "invalid_grant", "error_description": str(exc)}, status_code=400)
        if claims["exp"] - claims["iat"] > 3600 or SCOPE not in str(claims["scope"]).split():
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        token = "ya29.sandbox-" + secrets.token_urlsafe(24)
        self.access_tokens[token] = time.time() + 3599
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    async def _send(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        if self.access_tokens.get(token, 0) < time.time():
            return _error(401, "Request had invalid authentication credentials.")
        if request.path_params["project"] != self.project_id:
            return _error(403, "Permission denied on the project.")
        try:
            body = orjson.loads(await request.body())
            message = body["message"]
            device = message["token"]
            assert isinstance(device, str) and device
            assert all(isinstance(v, str) for v in (message.get("data") or {}).values())
        except (orjson.JSONDecodeError, KeyError, TypeError, AssertionError):
            return _error(400, "Invalid JSON payload received.", fcm_code="INVALID_ARGUMENT")
        script = self.scripts.get(device)
        if script:
            status, wait = script.pop(0)
            headers = {"retry-after": str(int(wait))} if wait is not None else None
            return _error(status, "Scripted failure.", headers=headers)
        if device in self.unregistered:
            return _error(404, "Requested entity was not found.", fcm_code="UNREGISTERED")
        name = f"projects/{self.project_id}/messages/0:{time.time_ns()}%{secrets.token_hex(4)}"
        self.received.append({"name": name, "message": message, "authorization": "Bearer"})
        return JSONResponse({"name": name})

    async def _messages(self, request: Request) -> Response:
        return JSONResponse(self.received)

    async def _unregister(self, request: Request) -> Response:
        self.unregistered.add(str(orjson.loads(await request.body())["token"]))
        return JSONResponse({"ok": True})

    async def _script(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        wait = body.get("retry_after")
        self.scripts[str(body["token"])] = [(int(s), None if wait is None else float(wait)) for s in body["statuses"]]
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/token", self._token, methods=["POST"]),
            Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"]),
            Route("/sim/messages", self._messages), Route("/sim/unregister", self._unregister, methods=["POST"]),
            Route("/sim/script", self._script, methods=["POST"])])


def main(argv: list[str] | None = None) -> None:
    serve_main("fcm", lambda base_url: FcmStandIn(env("FCM_PROJECT_ID"), env("FCM_CLIENT_EMAIL"),
                                                  env("FCM_PRIVATE_KEY"), base_url=base_url).app(), argv)


if __name__ == "__main__":
    main()
