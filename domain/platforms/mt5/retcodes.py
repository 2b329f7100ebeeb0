"""MT5 return codes (MTRetCode) and their mapping to domain errors.

Web API answers carry `"retcode": "<number> <text>"`, e.g. "0 Done" or "13 Not found".
"""

from __future__ import annotations

from domain.platforms.errors import (
    AccountAlreadyExists,
    AccountNotFound,
    InvalidPlatformRequest,
    NotEnoughMoney,
    PlatformAuthFailed,
    PlatformRejected,
    PlatformUnavailable,
)
from domain.shared.errors import DomainError

MT_RET_OK = 0
MT_RET_OK_NONE = 1
MT_RET_ERROR = 2
MT_RET_ERR_PARAMS = 3
MT_RET_ERR_DATA = 4
MT_RET_ERR_NETWORK = 7
MT_RET_ERR_PERMISSIONS = 8
MT_RET_ERR_TIMEOUT = 9
MT_RET_ERR_CONNECTION = 10
MT_RET_ERR_NOSERVICE = 11
MT_RET_ERR_FREQUENT = 12
MT_RET_ERR_NOTFOUND = 13
MT_RET_ERR_SHUTDOWN = 15
MT_RET_ERR_DUPLICATE = 17
MT_RET_AUTH_ACCOUNT_INVALID = 1001
MT_RET_AUTH_ACCOUNT_DISABLED = 1002
MT_RET_AUTH_SERVER_BUSY = 1018
MT_RET_USR_LOGIN_EXHAUSTED = 3002
MT_RET_USR_LOGIN_EXIST = 3004
MT_RET_USR_INVALID_PASSWORD = 3006
MT_RET_USR_HAS_TRADES = 3008
MT_RET_USR_DIFFERENT_CURRENCY = 3010
MT_RET_USR_IMPORT_GROUP = 3012
MT_RET_TRADE_MAX_MONEY = 4005
MT_RET_REQUEST_DONE = 10009
MT_RET_REQUEST_INVALID = 10013
MT_RET_REQUEST_INVALID_VOLUME = 10014
MT_RET_REQUEST_TRADE_DISABLED = 10017
MT_RET_REQUEST_NO_MONEY = 10019

TEXTS: dict[int, str] = {
    MT_RET_OK: "Done",
    MT_RET_OK_NONE: "OK, no data",
    MT_RET_ERROR: "Common error",
    MT_RET_ERR_PARAMS: "Invalid parameters",
    MT_RET_ERR_DATA: "Invalid data",
    MT_RET_ERR_PERMISSIONS: "Not enough permissions",
    MT_RET_ERR_TIMEOUT: "Operation timeout",
    MT_RET_ERR_NOSERVICE: "Service is not available",
    MT_RET_ERR_FREQUENT: "Too frequent requests",
    MT_RET_ERR_NOTFOUND: "Not found",
    MT_RET_ERR_DUPLICATE: "Duplicate data",
    MT_RET_AUTH_ACCOUNT_INVALID: "Invalid account",
    MT_RET_AUTH_ACCOUNT_DISABLED: "Account disabled",
    MT_RET_USR_LOGIN_EXIST: "Account already exists",
    MT_RET_USR_INVALID_PASSWORD: "Invalid account password",
    MT_RET_USR_IMPORT_GROUP: "Account import with invalid group",
    MT_RET_TRADE_MAX_MONEY: "Money limit reached",
    MT_RET_REQUEST_DONE: "Request executed",
    MT_RET_REQUEST_INVALID: "Invalid request",
    MT_RET_REQUEST_INVALID_VOLUME: "Invalid volume",
    MT_RET_REQUEST_TRADE_DISABLED: "Trade disabled",
    MT_RET_REQUEST_NO_MONEY: "Not enough money",
}

# Codes after which the same request may succeed later (the server did not apply it).
TRANSIENT = frozenset(
    {
        MT_RET_ERR_NETWORK,
        MT_RET_ERR_TIMEOUT,
        MT_RET_ERR_CONNECTION,
        MT_RET_ERR_NOSERVICE,
        MT_RET_ERR_FREQUENT,
        MT_RET_ERR_SHUTDOWN,
        MT_RET_AUTH_SERVER_BUSY,
    }
)
AUTH_LOST = frozenset({MT_RET_ERR_PERMISSIONS})
AUTH_REFUSED = frozenset(
    {MT_RET_AUTH_ACCOUNT_INVALID, MT_RET_AUTH_ACCOUNT_DISABLED, MT_RET_USR_INVALID_PASSWORD}
)
SUCCESS = frozenset({MT_RET_OK, MT_RET_REQUEST_DONE})


def retcode_text(code: int) -> str:
    return f"{code} {TEXTS.get(code, 'Unknown error')}"


def parse_retcode(value: object) -> int | None:
    """'0 Done' -> 0; None when the value is not a retcode string."""
    if not isinstance(value, str):
        return None
    head = value.strip().split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def error_for(code: int, command: str, *, login: int | None = None) -> DomainError:
    """The domain error for a non-success retcode answered to `command`."""
    what = f"MT5 {command} failed: {retcode_text(code)}"
    if code == MT_RET_ERR_NOTFOUND:
        return AccountNotFound(f"MT5 account {login} not found" if login is not None else what, field="login")
    if code in (MT_RET_REQUEST_NO_MONEY, MT_RET_TRADE_MAX_MONEY):
        return NotEnoughMoney(what, field="amount")
    if code == MT_RET_USR_LOGIN_EXIST:
        return AccountAlreadyExists(what, field="login")
    if code in (MT_RET_ERR_PARAMS, MT_RET_ERR_DATA, MT_RET_REQUEST_INVALID, MT_RET_REQUEST_INVALID_VOLUME):
        return InvalidPlatformRequest(what)
    if code in AUTH_REFUSED or code in AUTH_LOST:
        return PlatformAuthFailed(what)
    if code in TRANSIENT:
        return PlatformUnavailable(what)
    return PlatformRejected(what, retcode=code)
