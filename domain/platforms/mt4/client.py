"""HTTP client of the MT4 sidecar contract (docs/platforms/mt4-sidecar.md): HMAC-signed JSON requests,
bounded retries, the contract's error codes as the port's typed errors.

Retry policy: reads, PATCHes (they set values) and requests refused with 503 (never applied) are retried;
a balance operation whose answer is lost is resent with the same external id, which the sidecar answers
with the first operation (`replayed`); any other write whose answer is lost raises OutcomeUnknown.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from domain.platforms.errors import (
    AccountAlreadyExists,
    AccountNotFound,
    InvalidGroup,
    InvalidPlatformRequest,
    NotEnoughMoney,
    OutcomeUnknown,
    PlatformAuthFailed,
    PlatformProtocolError,
    PlatformRejected,
    PlatformUnavailable,
)
from domain.shared.errors import DomainError

Params = Mapping[str, str | int]


@dataclass(frozen=True, slots=True)
class SidecarCredentials:
    base_url: str
    login: int  # the manager login the sidecar holds its MT4 session with
    secret: str = field(repr=False)  # the HMAC key (the trading server's password in the CRM)


def sign(secret: str, timestamp_ms: str, method: str, target: str, body: bytes) -> str:
    message = "\n".join((timestamp_ms, method.upper(), target, hashlib.sha256(body).hexdigest()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class OperationNotFound(PlatformRejected):
    """No balance operation carries the external id asked for (OPERATION_NOT_FOUND)."""


def _error_for(status: int, code: str, message: str) -> DomainError:
    text = f"MT4 sidecar: {message or code}"
    if status == 401 or code == "AUTH_FAILED":
        return PlatformAuthFailed(text)
    match code:
        case "ACCOUNT_NOT_FOUND":
            return AccountNotFound(text, field="login")
        case "ACCOUNT_EXISTS":
            return AccountAlreadyExists(text, field="login")
        case "INVALID_GROUP":
            return InvalidGroup(text, field="group")
        case "NOT_ENOUGH_MONEY":
            return NotEnoughMoney(text, field="amount")
        case "INVALID_REQUEST":
            return InvalidPlatformRequest(text)
        case "OPERATION_NOT_FOUND":
            return OperationNotFound(text)
    return PlatformRejected(f"{text} ({code}, HTTP {status})")


class _Retryable(Exception):
    pass


class SidecarClient:
    def __init__(self, credentials: SidecarCredentials, *, timeout: float = 15.0, connect_timeout: float = 5.0,
                 retries: int = 3, backoff: float = 0.1, verify_tls: bool = True) -> None:
        self._credentials = credentials
        self._retries = retries
        self._backoff = backoff
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        # Stateless requests: a few pooled connections, used concurrently.
        self._http = httpx.AsyncClient(base_url=credentials.base_url, timeout=self._timeout, verify=verify_tls,
                                       limits=httpx.Limits(max_connections=4, max_keepalive_connections=4))

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self, method: str, target: str, body: bytes) -> dict[str, str]:
        stamp = str(int(time.time() * 1000))
        return {"X-Manager-Login": str(self._credentials.login), "X-Timestamp": stamp,
                "X-Signature": sign(self._credentials.secret, stamp, method, target, body),
                "Content-Type": "application/json"}

    @staticmethod
    def _target(path: str, params: Params | None) -> str:
        return f"{path}?{urlencode(dict(params))}" if params else path

    async def call(self, method: str, path: str, params: Params | None = None, body: Any = None, *,
                   resend: bool) -> dict[str, Any]:
        """One request; `resend`: safe to send again when its answer is lost (a read, a PATCH, a balance
        operation carrying its external id)."""
        target = self._target(path, params)
        content = orjson.dumps(body) if body is not None else b""
        failures = 0
        while True:
            try:
                return await self._exchange(method, target, content, resend=resend)
            except _Retryable as exc:
                failures += 1
                if failures > self._retries:
                    raise PlatformUnavailable(f"MT4 sidecar {method} {path}: unavailable after {failures} "
                                              f"attempts: {exc}") from exc
                await asyncio.sleep(self._backoff * 2 ** (failures - 1))

    async def _exchange(self, method: str, target: str, content: bytes, *, resend: bool) -> dict[str, Any]:
        headers = self._headers(method, target, content)
        try:
            response = await self._http.request(method, target, content=content or None, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise _Retryable(str(exc) or type(exc).__name__) from exc  # never reached the sidecar
        except httpx.TransportError as exc:
            if not resend:
                raise OutcomeUnknown(f"MT4 sidecar {method} {target}: answer lost ({type(exc).__name__})") from exc
            raise _Retryable(str(exc) or type(exc).__name__) from exc
        if response.status_code == 503:
            raise _Retryable("HTTP 503")  # refused before it was applied, whatever it was
        if response.status_code >= 500:
            if not resend:
                raise OutcomeUnknown(f"MT4 sidecar {method} {target}: HTTP {response.status_code}, outcome unknown")
            raise _Retryable(f"HTTP {response.status_code}")
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise PlatformProtocolError(f"MT4 sidecar {method} {target}: malformed JSON") from exc
        if not isinstance(data, dict):
            raise PlatformProtocolError(f"MT4 sidecar {method} {target}: expected a JSON object")
        if response.status_code >= 400:
            error = data.get("error")
            if not isinstance(error, dict) or not isinstance(error.get("code"), str):
                raise PlatformProtocolError(f"MT4 sidecar: HTTP {response.status_code} without an error code")
            raise _error_for(response.status_code, error["code"], str(error.get("message", "")))
        return data

    async def stream(self, path: str, params: Params) -> AsyncIterator[dict[str, Any]]:
        """The data of each `deal` event of a server-sent event stream; raises PlatformUnavailable when
        the stream ends or breaks (a stream never ends by itself)."""
        target = self._target(path, params)
        headers = {**self._headers("GET", target, b""), "Accept": "text/event-stream"}
        timeout = httpx.Timeout(None, connect=self._timeout.connect)
        try:
            async with self._http.stream("GET", target, headers=headers, timeout=timeout) as response:
                if response.status_code != 200:
                    body = await response.aread()
                    error = orjson.loads(body).get("error", {}) if body.startswith(b"{") else {}
                    if response.status_code == 503:
                        raise PlatformUnavailable("MT4 sidecar: deal stream unavailable")
                    raise _error_for(response.status_code, str(error.get("code", "")), str(error.get("message", "")))
                event, data = "", ""
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data += line[5:].strip()
                    elif not line and data:
                        if event == "deal":
                            decoded = orjson.loads(data)
                            if not isinstance(decoded, dict):
                                raise PlatformProtocolError("MT4 sidecar: a deal event is not an object")
                            yield decoded
                        event, data = "", ""
        except httpx.HTTPError as exc:
            raise PlatformUnavailable(f"MT4 sidecar deal stream broke: {type(exc).__name__}") from exc
        except orjson.JSONDecodeError as exc:
            raise PlatformProtocolError("MT4 sidecar: malformed deal event") from exc
        raise PlatformUnavailable("MT4 sidecar deal stream ended")
