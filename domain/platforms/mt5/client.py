"""Low-level MT5 Web API client: one authenticated keep-alive HTTP session, retries, retcodes.

MT5 binds the manager session to the TCP connection, so the client keeps exactly one pooled
connection and serialises requests on it; when the connection is replaced (idle close, network
error) the server answers "8 Not enough permissions" and the client authenticates again.

Retry policy: reads and requests that never left (connect errors) are retried a bounded number of
times; a state-changing request whose answer is lost raises OutcomeUnknown and is never resent.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from domain.platforms.errors import (
    OutcomeUnknown,
    PlatformAuthFailed,
    PlatformProtocolError,
    PlatformUnavailable,
)
from domain.platforms.mt5 import retcodes
from domain.platforms.mt5.auth_hash import answers_match, password_hash, rand_answer

Params = Mapping[str, str | int]


@dataclass(frozen=True, slots=True)
class MT5Credentials:
    base_url: str  # e.g. "https://mt5.example.com:443"
    login: int  # manager login
    password: str = field(repr=False)
    agent: str = "forexcrm"
    version: int = 4330  # client build reported to the server


@dataclass(frozen=True, slots=True)
class MT5Answer:
    retcode: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.retcode in retcodes.SUCCESS

    def answer(self) -> Any:
        return self.body.get("answer")


class MT5WebAPIClient:
    def __init__(
        self,
        credentials: MT5Credentials,
        *,
        timeout: float = 15.0,
        connect_timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.1,
        verify_tls: bool = True,
    ) -> None:
        self._credentials = credentials
        self._retries = retries
        self._backoff = backoff
        self._http = httpx.AsyncClient(
            base_url=credentials.base_url,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=120),
            headers={"Connection": "keep-alive", "User-Agent": credentials.agent},
            verify=verify_tls,
        )
        self._lock = asyncio.Lock()
        self._authenticated = False

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> MT5WebAPIClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def get(self, command: str, params: Params | None = None) -> MT5Answer:
        """An idempotent read: retried on transport errors, 5xx and transient retcodes."""
        return await self._call("GET", command, params, None, idempotent=True)

    async def post(self, command: str, params: Params | None, body: Any) -> MT5Answer:
        """A state-changing request: never resent once it may have reached the server."""
        return await self._call("POST", command, params, body, idempotent=False)

    async def get_write(self, command: str, params: Params) -> MT5Answer:
        """A state-changing request that MT5 defines as GET (e.g. trade/balance)."""
        return await self._call("GET", command, params, None, idempotent=False)

    async def authenticate(self) -> None:
        async with self._lock:
            await self._authenticate()

    async def _call(
        self, method: str, command: str, params: Params | None, body: Any, *, idempotent: bool
    ) -> MT5Answer:
        async with self._lock:
            failures = 0
            reauthenticated = False
            while True:
                if not self._authenticated:
                    await self._authenticate()
                try:
                    result = await self._exchange(method, command, params, body, idempotent=idempotent)
                except _Retryable as exc:
                    failures += 1
                    if failures > self._retries:
                        raise PlatformUnavailable(
                            f"MT5 {command}: unavailable after {failures} attempts: {exc}"
                        ) from exc
                    await asyncio.sleep(self._backoff * 2 ** (failures - 1))
                    continue
                if result.retcode in retcodes.AUTH_LOST and not reauthenticated:
                    # Session gone (new connection or server restart): nothing was applied, resend.
                    self._authenticated = False
                    reauthenticated = True
                    continue
                if result.retcode in retcodes.TRANSIENT and idempotent and failures < self._retries:
                    failures += 1
                    await asyncio.sleep(self._backoff * 2 ** (failures - 1))
                    continue
                return result

    async def _exchange(
        self, method: str, command: str, params: Params | None, body: Any, *, idempotent: bool
    ) -> MT5Answer:
        url = f"/api/{command}"
        content = orjson.dumps(body) if body is not None else None
        try:
            response = await self._http.request(method, url, params=params, content=content)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # The request never reached the server: safe to resend whatever it was.
            self._authenticated = False
            raise _Retryable(str(exc) or type(exc).__name__) from exc
        except httpx.TransportError as exc:
            self._authenticated = False  # the connection is gone, and the session with it
            if not idempotent:
                raise OutcomeUnknown(f"MT5 {command}: answer lost ({type(exc).__name__})") from exc
            raise _Retryable(str(exc) or type(exc).__name__) from exc
        if response.status_code == 403:
            return MT5Answer(retcodes.MT_RET_ERR_PERMISSIONS, {})
        if response.status_code == 503:
            if idempotent:
                raise _Retryable("HTTP 503")
            # 503 means the request was refused before processing (by the server or its proxy).
            raise PlatformUnavailable(f"MT5 {command}: service unavailable (HTTP 503)")
        if response.status_code >= 500:
            if not idempotent:
                raise OutcomeUnknown(f"MT5 {command}: HTTP {response.status_code}, outcome unknown")
            raise _Retryable(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise PlatformProtocolError(f"MT5 {command}: unexpected HTTP {response.status_code}")
        return self._decode(command, response.content, idempotent=idempotent)

    @staticmethod
    def _decode(command: str, content: bytes, *, idempotent: bool) -> MT5Answer:
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            if not idempotent:
                raise OutcomeUnknown(f"MT5 {command}: unreadable answer, outcome unknown") from exc
            raise PlatformProtocolError(f"MT5 {command}: malformed JSON answer") from exc
        code = retcodes.parse_retcode(body.get("retcode")) if isinstance(body, dict) else None
        if code is None:
            if not idempotent:
                raise OutcomeUnknown(f"MT5 {command}: answer without retcode, outcome unknown")
            raise PlatformProtocolError(f"MT5 {command}: answer without a retcode")
        return MT5Answer(code, body)

    async def _authenticate(self) -> None:
        creds = self._credentials
        start = await self._auth_step(
            "auth/start",
            {"version": creds.version, "agent": creds.agent, "login": creds.login, "type": "manager"},
        )
        srv_rand = start.body.get("srv_rand")
        if not isinstance(srv_rand, str) or not _is_hex(srv_rand):
            raise PlatformProtocolError("MT5 auth/start: missing or invalid srv_rand")
        pw_hash = password_hash(creds.password)
        cli_rand = secrets.token_hex(16)
        answer = await self._auth_step(
            "auth/answer", {"srv_rand_answer": rand_answer(pw_hash, srv_rand), "cli_rand": cli_rand}
        )
        cli_rand_answer = answer.body.get("cli_rand_answer")
        if not isinstance(cli_rand_answer, str) or not answers_match(
            rand_answer(pw_hash, cli_rand), cli_rand_answer
        ):
            # The peer does not know the password: not our server (or a man in the middle).
            raise PlatformAuthFailed("MT5 server failed to prove it knows the manager password")
        self._authenticated = True

    async def _auth_step(self, command: str, params: Params) -> MT5Answer:
        failures = 0
        while True:
            try:
                result = await self._exchange("GET", command, params, None, idempotent=True)
            except _Retryable as exc:
                failures += 1
                if failures > self._retries:
                    raise PlatformUnavailable(f"MT5 {command}: unavailable: {exc}") from exc
                await asyncio.sleep(self._backoff * 2 ** (failures - 1))
                continue
            if result.ok:
                return result
            if result.retcode in retcodes.TRANSIENT and failures < self._retries:
                failures += 1
                await asyncio.sleep(self._backoff * 2 ** (failures - 1))
                continue
            raise PlatformAuthFailed(f"MT5 {command} refused: {retcodes.retcode_text(result.retcode)}")


class _Retryable(Exception):
    """Internal: the attempt failed in a way that is safe to repeat."""


def _is_hex(value: str) -> bool:
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return len(value) > 0
