"""The MT5 return codes the simulator answers with (same numbers as the real server)."""

from __future__ import annotations

OK = 0
PARAMS = 3
PERMISSIONS = 8
NOTFOUND = 13
AUTH_ACCOUNT_INVALID = 1001
USR_LOGIN_EXIST = 3004
USR_INVALID_PASSWORD = 3006
REQUEST_DONE = 10009
REQUEST_INVALID = 10013
REQUEST_INVALID_VOLUME = 10014
REQUEST_TRADE_DISABLED = 10017
REQUEST_NO_MONEY = 10019

_TEXTS = {
    OK: "Done",
    PARAMS: "Invalid parameters",
    PERMISSIONS: "Not enough permissions",
    NOTFOUND: "Not found",
    AUTH_ACCOUNT_INVALID: "Invalid account",
    USR_LOGIN_EXIST: "Account already exists",
    USR_INVALID_PASSWORD: "Invalid account password",
    REQUEST_DONE: "Request executed",
    REQUEST_INVALID: "Invalid request",
    REQUEST_INVALID_VOLUME: "Invalid volume",
    REQUEST_TRADE_DISABLED: "Trade disabled",
    REQUEST_NO_MONEY: "Not enough money",
}


def text(code: int) -> str:
    return _TEXTS.get(code, "Common error")


def retcode(code: int) -> str:
    return f"{code} {text(code)}"
