"""Money: Decimal amounts at their currency's minor unit, never float, never rounded on input.

Fiat currencies come from ISO 4217 (names from pycountry, minor units from CLDR via babel);
crypto assets are configured with their own scale. The ledger's columns hold MAX_SCALE places
(migration 0022), the finest configured scale, so every currency is stored exactly.

Input: `parse_decimal` (strict text) then `quantize_exact` (refuses digits beyond the currency's
scale with AMOUNT_PRECISION). Computed amounts (fees, FX): `round_to`. Output: `at_scale` /
`money_text`, the one serialisation (fixed to the currency's scale: USD "0.00", ETH 18 places).
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact, InvalidOperation
from functools import lru_cache

import pycountry
from babel.numbers import get_currency_precision

from domain.shared.errors import InvalidAmount, UnknownCurrency

MAX_SCALE = 18  # the ledger's NUMERIC(38, 18): the finest scale a configured currency may have
MAX_INTEGER_DIGITS = 20

# Plain decimal notation only: no exponent, no sign other than a leading minus, no spaces and no
# trailing newline (matched with fullmatch: `$` would let "10.00\n" through).
_DECIMAL_RE = re.compile(rf"-?(?:0|[1-9]\d{{0,{MAX_INTEGER_DIGITS - 1}}})(?:\.\d{{1,{MAX_SCALE}}})?", re.ASCII)
_TOO_FINE_RE = re.compile(rf"-?(?:0|[1-9]\d{{0,{MAX_INTEGER_DIGITS - 1}}})\.\d{{{MAX_SCALE + 1},}}", re.ASCII)

CRYPTO_SCALES: dict[str, int] = {"BTC": 8, "ETH": 18, "USDT": 6, "USDC": 6, "LTC": 8, "XRP": 6}
assert max(CRYPTO_SCALES.values()) <= MAX_SCALE, "widen the ledger's columns before configuring a finer scale"

# Python's default context keeps 28 significant digits: an 18-place ETH amount of 10^10 or more
# would be rounded by any sum or product (or make quantize raise). Money arithmetic needs the
# ledger's 38 digits and headroom for products (amount x rate): every context in this process,
# the main thread's and every thread's or task's derived from it, gets 50.
MONEY_PRECISION = 50
decimal.DefaultContext.prec = MONEY_PRECISION
decimal.getcontext().prec = MONEY_PRECISION
# Quantizing input exactly: dropping a non-zero digit is an error, never silently applied.
_EXACT = Context(prec=MONEY_PRECISION, traps=[InvalidOperation, Inexact])


@dataclass(frozen=True)
class Currency:
    code: str
    name: str
    scale: int
    is_crypto: bool = False

    @property
    def quantum(self) -> Decimal:
        return _quantum(self.scale)


@lru_cache(maxsize=64)
def _quantum(scale: int) -> Decimal:
    """10^-scale, built once per scale: every amount shown is quantized to it (a list page of wallets
    asks about 200 times; building it each time was a third of `at_scale`)."""
    return Decimal(1).scaleb(-scale)


@lru_cache(maxsize=512)
def currency(code: str) -> Currency:
    """Look a currency up by code; raises UnknownCurrency for anything not ISO 4217 or configured crypto."""
    upper = code.upper() if isinstance(code, str) else ""
    if upper in CRYPTO_SCALES:
        return Currency(upper, upper, CRYPTO_SCALES[upper], is_crypto=True)
    entry = pycountry.currencies.get(alpha_3=upper) if len(upper) == 3 else None
    if entry is None or (upper.startswith("X") and upper not in {"XAU", "XAG"}):
        raise UnknownCurrency(f"unknown currency {code!r}", field="currency")
    return Currency(upper, entry.name, get_currency_precision(upper))


def parse_decimal(text: object, *, field: str | None = None) -> Decimal:
    """Parse a plain decimal string strictly: rejects exponents, NaN, infinities, whitespace and junk,
    more than 20 integer digits or more than MAX_SCALE places."""
    if isinstance(text, str) and _TOO_FINE_RE.fullmatch(text):
        raise InvalidAmount(f"amounts have at most {MAX_SCALE} decimal places", field=field, code="AMOUNT_PRECISION")
    if not isinstance(text, str) or not _DECIMAL_RE.fullmatch(text):
        raise InvalidAmount(f"{text!r} is not a plain decimal amount such as 12.34", field=field)
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already excludes these
        raise InvalidAmount(f"{text!r} is not a decimal amount", field=field) from exc
    return value if value else abs(value)  # "-0" is 0


def wire_amount(value: object, *, field: str | None = "amount") -> Decimal:
    """An amount from a third party's JSON: a decimal string, or a JSON number written plainly
    (PSPs send both); parsed strictly like any input (no NaN, exponent or junk: INVALID_AMOUNT)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidAmount(f"{value!r} is not an amount", field=field)
    return parse_decimal(value if isinstance(value, str) else repr(value), field=field)


def quantize_exact(amount: Decimal, code: str, *, field: str | None = None) -> Decimal:
    """The amount at its currency's scale; refuses (AMOUNT_PRECISION) amounts with more digits than the
    currency has, or more integer digits than the ledger holds: never rounds."""
    cur = currency(code)
    return exact_places(amount, cur.scale, field=field, what=f"{cur.code} amounts")


def exact_places(value: Decimal, places: int, *, field: str | None = None, what: str = "amounts",
                 integer_digits: int = MAX_INTEGER_DIGITS) -> Decimal:
    """`value` at exactly `places` decimal places, refused (AMOUNT_PRECISION) if that would drop a
    digit, or INVALID_AMOUNT if it has more than `integer_digits` integer digits."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidAmount("amount must be a finite decimal", field=field)
    try:
        q = value.quantize(Decimal(1).scaleb(-places), context=_EXACT)
    except (Inexact, InvalidOperation):
        q = None
    if q is None or q != value:
        raise InvalidAmount(f"{what} have at most {places} decimal places", field=field, code="AMOUNT_PRECISION")
    if q and q.adjusted() >= integer_digits:
        raise InvalidAmount(f"{what} have at most {integer_digits} integer digits", field=field)
    return q if q else abs(q)


def round_to(amount: Decimal, code: str) -> Decimal:
    """Round a computed amount (commission, FX) to the currency's scale, banker's rounding."""
    return amount.quantize(currency(code).quantum, rounding=ROUND_HALF_EVEN)


def at_scale(amount: Decimal, code: str) -> Decimal:
    """A stored amount for output: fixed to its currency's scale (USD 12.5 -> 12.50, 0E-18 -> 0.00).
    Stored amounts are exact at that scale, so this only drops the ledger's trailing zeros."""
    q = round_to(amount, code)
    return q if q else abs(q)  # never "-0.00"


def money_text(amount: Decimal) -> str:
    """The one text form of an amount: plain notation (no exponent), no negative zero. Amounts
    reach it at their currency's scale (`at_scale`), so USD reads "0.00" and ETH has 18 places."""
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {amount}")
    return format(amount if amount else abs(amount), "f")


def decimal_text(value: Decimal) -> str:
    """The text form of a decimal that is not an amount in a currency (lots, percentages, rates):
    plain notation without trailing zeros ("0", never "0E-8"; "0.1", never "0.10000000")."""
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value}")
    normal = value.normalize()
    return format(normal if normal else abs(normal), "f")
