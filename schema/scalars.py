"""Custom scalars. Money is a decimal string: exact, finite, never a float.

Decimal (strawberry's built-in, used for lots, percentages and rates) is replaced by a strict one
(`DECIMAL_OVERRIDE`, installed by schema.root): the built-in accepted JSON floats, "NaN", "1e999"
and whitespace, and wrote "0E-8". Both parse with domain.shared.money.parse_decimal and write
plain notation only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NewType

import strawberry
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.types.scalar import ScalarDefinition

from domain.shared.errors import InvalidAmount
from domain.shared.money import decimal_text, money_text, parse_decimal


def _typed(exc: InvalidAmount) -> StrawberryGraphQLError:
    # graphql-core keeps a GraphQLError raised by a parser (and its extensions) but turns any other
    # exception into an untyped message: this carries the domain code (INVALID_AMOUNT,
    # AMOUNT_PRECISION) to the client, and is not masked.
    return StrawberryGraphQLError(exc.message, original_error=exc, extensions={"code": exc.code})


def _parse_money(value: object) -> Decimal:
    try:
        if not isinstance(value, str):
            # A JSON number may already have lost precision in the client: refuse it.
            raise InvalidAmount("Money must be sent as a decimal string such as \"12.34\"")
        return parse_decimal(value)
    except InvalidAmount as exc:
        raise _typed(exc) from exc


def _serialize_money(value: Decimal) -> str:
    # Resolvers hand amounts at their currency's scale (domain.shared.money.at_scale).
    return money_text(value)


Money = strawberry.scalar(
    NewType("Money", Decimal),
    serialize=_serialize_money,
    parse_value=_parse_money,
    description=(
        "A decimal amount as a string (e.g. \"1250.00\"), written with exactly its currency's decimal places. "
        "No exponent, NaN, infinity, sign other than a leading minus, or whitespace; the number of decimal "
        "places may not exceed the currency's minor unit (AMOUNT_PRECISION)."
    ),
)


def _parse_decimal(value: object) -> Decimal:
    try:
        if not isinstance(value, str):
            raise InvalidAmount("Decimal must be sent as a string such as \"12.5\"")
        return parse_decimal(value)
    except InvalidAmount as exc:
        raise _typed(exc) from exc


DECIMAL_OVERRIDE = ScalarDefinition(
    name="Decimal",
    description="A decimal number as a plain string such as \"12.5\" (no exponent, NaN or infinity).",
    specified_by_url=None,
    serialize=decimal_text,
    parse_value=_parse_decimal,
    parse_literal=None,
    origin=Decimal,
)
