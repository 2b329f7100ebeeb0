"""The Money scalar and currency scales: strict decimal strings, no float, no excess digits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strawberry.exceptions import StrawberryGraphQLError

from domain.shared.errors import InvalidAmount, UnknownCurrency
from domain.shared.money import currency, parse_decimal, quantize_exact, round_to
from schema.scalars import _parse_money, _serialize_money

BAD = ["1e3", "NaN", "nan", "Infinity", "-inf", "1.2.3", " 1", "1,00", "", "+1", "01", "0x10"]


@pytest.mark.parametrize("text", BAD)
def test_bad_money_strings_are_refused(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_decimal(text)


def test_json_numbers_are_refused_by_the_scalar() -> None:
    for number in (12.5, 12, float("nan")):
        with pytest.raises(StrawberryGraphQLError) as exc:
            _parse_money(number)
        assert exc.value.extensions == {"code": "INVALID_AMOUNT"}


def test_excess_digits_for_the_currency_are_refused() -> None:
    with pytest.raises(InvalidAmount) as exc:
        quantize_exact(Decimal("0.001"), "USD")
    assert exc.value.code == "AMOUNT_PRECISION"
    assert quantize_exact(Decimal("0.1"), "USD") == Decimal("0.10")
    assert quantize_exact(Decimal("5"), "JPY") == Decimal("5")
    with pytest.raises(InvalidAmount):
        quantize_exact(Decimal("5.5"), "JPY")
    assert quantize_exact(Decimal("0.001"), "KWD") == Decimal("0.001")
    assert quantize_exact(Decimal("0.00000001"), "BTC") == Decimal("0.00000001")


def test_unknown_currencies_are_refused() -> None:
    for code in ("ABC", "US", "XXX", ""):
        with pytest.raises(UnknownCurrency):
            currency(code)
    assert currency("eur").code == "EUR" and currency("EUR").scale == 2


@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2, allow_nan=False))
def test_money_round_trips_exactly(value: Decimal) -> None:
    text = _serialize_money(value)
    assert "E" not in text and "e" not in text
    assert _parse_money(text) == value


@given(st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=6, allow_nan=False))
def test_round_to_never_adds_digits(value: Decimal) -> None:
    rounded = round_to(value, "USD")
    assert rounded.as_tuple().exponent == -2
    assert abs(rounded - value) <= Decimal("0.005")


@pytest.mark.parametrize("text", ["10.00\n", "10.00 ", "\t1", "1e-9", "1e999", "1０", "0." + "1" * 19, "1" * 21])
def test_whitespace_exponents_and_excess_digits_are_refused(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_decimal(text)


def test_more_places_than_any_currency_is_a_precision_error() -> None:
    with pytest.raises(InvalidAmount) as exc:
        parse_decimal("0." + "0" * 18 + "1")
    assert exc.value.code == "AMOUNT_PRECISION"


def test_eighteen_places_and_twenty_integer_digits_are_exact() -> None:
    # Past Python's default 28 significant digits: quantize raised InvalidOperation (an internal error).
    big = Decimal("12345678901234567890.123456789012345678")
    assert quantize_exact(big, "ETH") == big
    assert big + Decimal("1e-18") - big == Decimal("1e-18")  # sums are not rounded either


def test_outputs_are_canonical() -> None:
    from domain.shared.money import at_scale, decimal_text, money_text
    from schema.scalars import DECIMAL_OVERRIDE

    assert money_text(at_scale(Decimal("0E-18"), "USD")) == "0.00"
    assert money_text(at_scale(Decimal("12.500000000000000000"), "USD")) == "12.50"
    assert money_text(at_scale(Decimal("-0E-8"), "BTC")) == "0.00000000"
    assert money_text(at_scale(Decimal("7"), "JPY")) == "7"
    assert money_text(at_scale(Decimal("1E-18"), "ETH")) == "0.000000000000000001"
    assert _serialize_money(Decimal("1E+3")) == "1000"
    assert decimal_text(Decimal("0E-8")) == "0" and decimal_text(Decimal("0.10000000")) == "0.1"
    assert DECIMAL_OVERRIDE.serialize is not None and DECIMAL_OVERRIDE.serialize(Decimal("0E-8")) == "0"
    assert DECIMAL_OVERRIDE.serialize(Decimal("1E+2")) == "100"
