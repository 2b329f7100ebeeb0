"""Typed errors of the trading context."""

from __future__ import annotations

from domain.shared.errors import Conflict, NotFound, ValidationFailed


class TradingServerNotFound(NotFound):
    code = "TRADING_SERVER_NOT_FOUND"


class TradingAccountNotFound(NotFound):
    code = "TRADING_ACCOUNT_NOT_FOUND"


class TradingServerExists(Conflict):
    code = "TRADING_SERVER_EXISTS"


class InvalidSymbolMapping(ValidationFailed):
    code = "TRADING_INVALID_SYMBOL_MAPPING"


class InvalidTradingServer(ValidationFailed):
    code = "TRADING_INVALID_SERVER"


class TradingServerAuthFailed(ValidationFailed):
    """The server refused the manager login and password (nothing was saved)."""

    code = "TRADING_SERVER_AUTH_FAILED"


class TradingServerUnreachable(ValidationFailed):
    """The server could not be reached, or did not speak the platform's protocol (nothing was saved)."""

    code = "TRADING_SERVER_UNREACHABLE"


class IngestionErrorNotFound(NotFound):
    code = "TRADING_INGESTION_ERROR_NOT_FOUND"


class IngestionErrorResolved(Conflict):
    code = "TRADING_INGESTION_ERROR_RESOLVED"


class InvalidMarginLevels(ValidationFailed):
    """Margin alert levels out of range, or a stop-out level not below the warning level (nothing was saved)."""

    code = "TRADING_INVALID_MARGIN_LEVELS"
