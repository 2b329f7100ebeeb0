"""Typed domain errors.

Domain code raises these; one mapper at the GraphQL edge turns them into payload errors
`{field, message, code}`. Codes are stable strings (SCREAMING_SNAKE) that frontends switch on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Every code a DomainError can carry; the schema's ErrorCode enum is built from it, so a code
# used anywhere must be declared (class attribute or declare_codes) before the schema is built.
KNOWN_CODES: set[str] = set()


def declare_codes(*codes: str) -> None:
    KNOWN_CODES.update(codes)


class DomainError(Exception):
    """An expected failure that callers can show to the user.

    `code` is stable and documented in the schema's `ErrorCode` enum; `field` names the input
    field at fault (dotted path) when there is one.
    """

    code: str = "DOMAIN_ERROR"

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        KNOWN_CODES.add(cls.code)

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            if code not in KNOWN_CODES:
                raise ValueError(f"undeclared error code {code!r}: declare it with declare_codes()")
            self.code = code


class ValidationFailed(DomainError):
    code = "VALIDATION_FAILED"


class NotFound(DomainError):
    code = "NOT_FOUND"


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Conflict(DomainError):
    code = "CONFLICT"


class RateLimited(DomainError):
    """Too many attempts; `retry_after_s` says when the next one will be heard."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, *, field: str | None = None, retry_after_s: int | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


class InvalidAmount(DomainError):
    code = "INVALID_AMOUNT"


class UnknownCurrency(DomainError):
    code = "UNKNOWN_CURRENCY"


class ExternalServiceUnavailable(DomainError):
    """A third party (trading server, PSP, KYC provider) could not be reached or timed out."""

    code = "EXTERNAL_SERVICE_UNAVAILABLE"


class InvalidFields(ValidationFailed):
    """Several fields of one form are wrong: `errors` holds each field's own error, so the form
    can show all of them at once (the GraphQL edge turns each into a payload error)."""

    def __init__(self, errors: list[DomainError]) -> None:
        super().__init__("; ".join(f"{e.field or '-'}: {e.message}" for e in errors), field=None)
        self.errors = errors


class FieldErrors:
    """Collects a form's field errors instead of stopping at the first one.

        form = FieldErrors()
        name = form.take(lambda: required(data.name, "name"))  # None when it failed
        if age < 18: form.add(UnderAge("...", field="dateOfBirth"))
        form.raise_if_any()  # one error as it is, several as InvalidFields
    """

    def __init__(self) -> None:
        self.errors: list[DomainError] = []

    def add(self, error: DomainError) -> None:
        self.errors.extend(error.errors if isinstance(error, InvalidFields) else [error])

    def take(self, check: Callable[[], T]) -> T | None:
        try:
            return check()
        except DomainError as exc:
            self.add(exc)
            return None

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise InvalidFields(list(self.errors))


KNOWN_CODES.add(DomainError.code)
declare_codes("AMOUNT_PRECISION")


class InvalidId(DomainError):
    """An id argument that is neither a global id of the expected type nor a database id."""

    code = "INVALID_ID"


class TooManyIds(DomainError):
    code = "TOO_MANY_IDS"
