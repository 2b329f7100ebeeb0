"""Exchange-rate sources for internal exchange. A protocol, plus a fixed-rates stand-in."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol, runtime_checkable

from domain.ledger.errors import RateUnavailable

PIVOT = "USD"


@runtime_checkable
class RateSource(Protocol):
    async def mid_rate(self, base: str, quote: str) -> Decimal:
        """Units of `quote` for one unit of `base` (mid market)."""
        ...


class FixedRates:
    """Configured rates; inverses and crosses through USD are derived."""

    def __init__(self, rates: Mapping[tuple[str, str], Decimal]) -> None:
        self._rates = {(b.upper(), q.upper()): Decimal(r) for (b, q), r in rates.items()}

    def _direct(self, base: str, quote: str) -> Decimal | None:
        if base == quote:
            return Decimal(1)
        if (base, quote) in self._rates:
            return self._rates[(base, quote)]
        if (quote, base) in self._rates:
            return Decimal(1) / self._rates[(quote, base)]
        return None

    async def mid_rate(self, base: str, quote: str) -> Decimal:
        base, quote = base.upper(), quote.upper()
        direct = self._direct(base, quote)
        if direct is not None:
            return direct
        to_pivot, from_pivot = self._direct(base, PIVOT), self._direct(PIVOT, quote)
        if to_pivot is None or from_pivot is None:
            raise RateUnavailable(f"no rate for {base}/{quote}", field="toCurrency")
        return to_pivot * from_pivot


DEFAULT_RATES = FixedRates({
    ("EUR", "USD"): Decimal("1.0850"),
    ("GBP", "USD"): Decimal("1.2700"),
    ("USD", "JPY"): Decimal("151.20"),
    ("USD", "CHF"): Decimal("0.8800"),
    ("BTC", "USD"): Decimal("65000"),
})
