"""The error model at the edge.

Expected failures are data: mutations return payloads with `errors: [UserError!]!`. Domain
errors are converted here and nowhere else. Authorisation failures are top-level GraphQL errors
with a stable `extensions.code`; every other exception is masked and logged with the request id.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
import structlog
from graphql import GraphQLError
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.types.field import StrawberryField

from domain.shared.errors import KNOWN_CODES, DomainError, InvalidFields

log = structlog.get_logger(__name__)
T = TypeVar("T")


class PublicError(GraphQLError):
    """A top-level GraphQL error whose message is safe to show; `code` goes to extensions."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})
        self.code = code


def build_error_code_enum() -> type[enum.Enum]:
    """ErrorCode is built from every code the domain declares (imported before the schema)."""
    members = {code: code for code in sorted(KNOWN_CODES)}
    codes = enum.Enum("ErrorCode", members)  # type: ignore[misc]
    return strawberry.enum(codes, description="Stable machine-readable error codes.")  # type: ignore[no-any-return]


def _import_domain_errors() -> None:
    """Register every error code the domain declares, before the ErrorCode enum is built."""
    import domain
    from domain.shared.discovery import import_all

    # Codes may be declared next to the code that raises them: import the whole domain first.
    import_all(domain)


_import_domain_errors()
ErrorCode = build_error_code_enum()


DECLARED_ERRORS = re.compile(r"Error codes: (none|`[A-Z0-9_]+`(?:, `[A-Z0-9_]+`)*)\.$")


def declares_errors(*codes: str) -> Callable[[StrawberryField], StrawberryField]:
    """The error codes a mutation's payload can carry in `errors`, written into its schema
    description ("Error codes: `A`, `B`." or "Error codes: none.") so generated clients can switch on
    them. Goes above `@strawberry.mutation`. Every mutation declares (tests/platform/test_declared_errors.py)
    and the test suite fails when a mutation returns a code it did not declare (tests/conftest.py)."""
    unknown = sorted(set(codes) - KNOWN_CODES)
    if unknown:
        raise ValueError(f"undeclared error code(s) {unknown}: declare them in domain/<context>/errors.py")
    listed = ", ".join(f"`{code}`" for code in sorted(set(codes))) or "none"

    def declare(field: StrawberryField) -> StrawberryField:
        note = f"Error codes: {listed}."
        field.description = f"{field.description}\n\n{note}" if field.description else note
        return field

    return declare


def declared_errors(description: str | None) -> frozenset[str] | None:
    """The codes a mutation's description declares (None: it declares nothing)."""
    found = DECLARED_ERRORS.search(description or "")
    if found is None:
        return None
    return frozenset() if found[1] == "none" else frozenset(code.strip("`") for code in found[1].split(", "))


@strawberry.type(description="An expected failure: which input field, what happened, a stable code.")
class UserError:
    field: str | None
    message: str
    code: ErrorCode  # type: ignore[valid-type]
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="RATE_LIMITED: seconds until the next attempt will be heard.")


def user_errors(exc: DomainError) -> list[UserError]:
    """A form's several field errors (InvalidFields) each on its own, or the one error."""
    return [user_error(e) for e in exc.errors] if isinstance(exc, InvalidFields) else [user_error(exc)]


def user_error(exc: DomainError) -> UserError:
    try:
        code = ErrorCode[exc.code]
    except KeyError:  # a code declared outside domain/<context>/errors.py: a bug, but not a 500
        log.error("error_code.undeclared", code=exc.code)
        code = ErrorCode["DOMAIN_ERROR"]
    return UserError(field=exc.field, message=exc.message, code=code,
                     retry_after_seconds=getattr(exc, "retry_after_s", None))


async def payload_or_errors(
    work: Callable[[], Awaitable[T]], on_error: Callable[[list[UserError]], T]
) -> T:
    """Run the mutation body; a DomainError becomes the payload's `errors` (nothing committed)."""
    try:
        return await work()
    except DomainError as exc:
        return on_error(user_errors(exc))


def should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:
        return False  # syntax and validation errors are the client's own, safe to show
    # Raised on purpose with a safe message (permissions, limits, domain rules), or graphql-core's
    # own account of a variable that does not fit its type (a null for a required one, say): shown.
    return not isinstance(original, PublicError | DomainError | StrawberryGraphQLError | GraphQLError)


INTERNAL_MESSAGE = "Unexpected error."


def internal_error(error: GraphQLError, request_id: str | None) -> GraphQLError:
    """What a caller sees of a failure we did not expect: its own code, and the request id to
    quote (the log line carries the same id). The operation may have been applied all the same:
    a money mutation's outcome can be looked up by its idempotency key."""
    extensions = {"code": "INTERNAL_SERVER_ERROR"}
    if request_id:
        extensions["requestId"] = request_id
    return GraphQLError(INTERNAL_MESSAGE, nodes=error.nodes, source=error.source, positions=error.positions,
                        path=error.path, original_error=None, extensions=extensions)


def with_input_code(error: GraphQLError) -> GraphQLError:
    """graphql-core's refusal of a variable value (wrong type, null for a required one) gets the
    BAD_USER_INPUT code; its message names the variable and the field."""
    if (error.extensions or {}).get("code") or not isinstance(error.original_error, GraphQLError):
        return error
    # graphql-core speaks Python ("not to be None"); callers send JSON.
    message = error.message.replace("not to be None", "not to be null")
    return GraphQLError(message, nodes=error.nodes, source=error.source, positions=error.positions,
                        path=error.path, original_error=error.original_error,
                        extensions={**(error.extensions or {}), "code": "BAD_USER_INPUT"})


def public_extensions_for(exc: Any) -> dict[str, str]:
    if isinstance(exc, DomainError):
        return {"code": exc.code}
    return {"code": "INTERNAL_SERVER_ERROR"}
