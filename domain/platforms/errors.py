"""Errors raised by trading-platform adapters, with stable codes callers can switch on."""

from __future__ import annotations

from domain.shared.errors import Conflict, DomainError, ExternalServiceUnavailable, NotFound, ValidationFailed


class PlatformUnavailable(ExternalServiceUnavailable):
    """The trading server could not be reached, timed out or answered 5xx (after bounded retries)."""

    code = "PLATFORM_UNAVAILABLE"


class OutcomeUnknown(PlatformUnavailable):
    """A state-changing request was sent but its answer was lost: it may or may not have been applied.

    Callers must look the operation up (e.g. by external id) before deciding; never retry blindly.
    """

    code = "PLATFORM_OUTCOME_UNKNOWN"


class PlatformAuthFailed(DomainError):
    code = "PLATFORM_AUTH_FAILED"


class PlatformProtocolError(DomainError):
    """The server answered something we cannot understand (malformed JSON, missing fields)."""

    code = "PLATFORM_PROTOCOL_ERROR"


class PlatformRejected(DomainError):
    """The server refused the request with a retcode we have no more specific error for."""

    code = "PLATFORM_REJECTED"

    def __init__(self, message: str, *, retcode: int | None = None, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retcode = retcode


class AccountNotFound(NotFound):
    code = "PLATFORM_ACCOUNT_NOT_FOUND"


class AccountAlreadyExists(Conflict):
    code = "PLATFORM_ACCOUNT_EXISTS"


class NotEnoughMoney(DomainError):
    code = "PLATFORM_NOT_ENOUGH_MONEY"


class InvalidGroup(ValidationFailed):
    code = "PLATFORM_INVALID_GROUP"


class InvalidPlatformRequest(ValidationFailed):
    code = "PLATFORM_INVALID_REQUEST"


class UnknownPlatform(ValidationFailed):
    """A server names a platform no adapter package registered."""

    code = "TRADING_UNKNOWN_PLATFORM"
