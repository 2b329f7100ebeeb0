"""Money: Decimal amounts quantized to their currency's minor unit, never float.

Fiat currencies come from ISO 4217 (names from pycountry, minor units from CLDR via babel);
crypto assets are configured with their own scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache

import pycountry
from babel.numbers import get_currency_precision

from domain.shared.errors import InvalidAmount, UnknownCurrency

# Plain decimal notation only: no exponent, no sign other than a leading minus, no spaces.
_DECIMAL_RE = re.compile(r"^-?(?:0|[1-9]\d{0,19})(?:\.\d{1,18})?$")
MAX_SCALE = 18

CRYPTO_SCALES: dict[str, int] = {"BTC": 8, "ETH": 18, "USDT": 6, "USDC": 6, "LTC": 8, "XRP": 6}


@dataclass(frozen=True)
class Currency:
    code: str
    name: str
    scale: int
    is_crypto: bool = False

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.scale)


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


def parse_decimal(text: str, *, field: str | None = None) -> Decimal:
    """Parse a plain decimal string strictly: rejects exponents, NaN, infinities and junk."""
    if not isinstance(text, str) or not _DECIMAL_RE.match(text):
        raise InvalidAmount(f"{text!r} is not a plain decimal amount such as 12.34", field=field)
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already excludes these
        raise InvalidAmount(f"{text!r} is not a decimal amount", field=field) from exc
    return value


def quantize_exact(amount: Decimal, code: str, *, field: str | None = None) -> Decimal:
    """The amount at its currency's scale; refuses amounts with more digits than the currency has."""
    cur = currency(code)
    if not amount.is_finite():
        raise InvalidAmount("amount must be finite", field=field)
    q = amount.quantize(cur.quantum)
    if q != amount:
        raise InvalidAmount(
            f"{cur.code} amounts have at most {cur.scale} decimal places", field=field, code="AMOUNT_PRECISION"
        )
    return q


def round_to(amount: Decimal, code: str) -> Decimal:
    """Round a computed amount (commission, FX) to the currency's scale, banker's rounding."""
    return amount.quantize(currency(code).quantum, rounding=ROUND_HALF_EVEN)
