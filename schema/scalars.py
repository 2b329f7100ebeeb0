"""Custom scalars. Money is a decimal string: exact, finite, never a float."""

from __future__ import annotations

from decimal import Decimal
from typing import NewType

import strawberry

from domain.shared.errors import InvalidAmount
from domain.shared.money import parse_decimal


def _parse_money(value: object) -> Decimal:
    if not isinstance(value, str):
        # A JSON number may already have lost precision in the client: refuse it.
        raise InvalidAmount("Money must be sent as a decimal string such as \"12.34\"")
    return parse_decimal(value)


def _serialize_money(value: Decimal) -> str:
    return format(value, "f")


Money = strawberry.scalar(
    NewType("Money", Decimal),
    serialize=_serialize_money,
    parse_value=_parse_money,
    description=(
        "A decimal amount as a string (e.g. \"1250.00\"). No exponent, NaN or infinity; the number of "
        "decimal places may not exceed the currency's minor unit."
    ),
)
