"""Instruments and a seeded price feed with spreads, volatility, news spikes, feed gaps and lag.

The broker quote lags the "true" market price by one step and freezes during feed gaps: that is
what latency-arbitrage traders exploit. Floats are used internally; quotes are rounded to the
symbol's digits and become Decimals at the API boundary, as MT5 does.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

VOL_BOOST = 3.0  # the simulated market is busier than the real one, so short tests see movement
NEWS_INTERVAL_MS = 300_000  # scheduled news every 5 simulated minutes
NEWS_SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "US500")


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    path: str
    digits: int
    contract_size: int
    base: str
    profit: str
    start: float
    spread_points: int
    daily_vol: float  # fraction of price
    swap_long: Decimal  # account currency per lot per night
    swap_short: Decimal
    calc_mode: int  # IMTConSymbol::EnCalcMode: 0 forex, 2 CFD

    @property
    def point(self) -> float:
        return 10.0**-self.digits


def _fx(sym: str, kind: str, start: float, digits: int, spread: int, sl: str, ss: str) -> Instrument:
    return Instrument(
        sym, f"Forex\\{kind}\\{sym}", digits, 100_000, sym[:3], sym[3:], start, spread, 0.006,
        Decimal(sl), Decimal(ss), 0,
    )  # fmt: skip


INSTRUMENTS: dict[str, Instrument] = {
    i.symbol: i
    for i in (
        _fx("EURUSD", "Majors", 1.08500, 5, 8, "-7.10", "2.30"),
        _fx("GBPUSD", "Majors", 1.27000, 5, 10, "-4.80", "0.90"),
        _fx("USDJPY", "Majors", 150.000, 3, 9, "11.20", "-24.50"),
        _fx("USDCHF", "Majors", 0.88000, 5, 12, "3.10", "-9.80"),
        _fx("AUDUSD", "Majors", 0.66000, 5, 9, "-3.20", "0.40"),
        _fx("USDCAD", "Majors", 1.36000, 5, 13, "1.10", "-6.70"),
        _fx("NZDUSD", "Majors", 0.61000, 5, 14, "-2.10", "-0.60"),
        _fx("EURGBP", "Minors", 0.85500, 5, 12, "-5.40", "0.80"),
        _fx("EURJPY", "Minors", 162.500, 3, 15, "6.30", "-19.70"),
        _fx("GBPJPY", "Minors", 190.500, 3, 22, "9.90", "-27.10"),
        Instrument("XAUUSD", "Metals\\XAUUSD", 2, 100, "XAU", "USD", 2350.00, 25, 0.009,
                   Decimal("-45.20"), Decimal("22.10"), 0),
        Instrument("US500", "Indices\\US500", 2, 1, "USD", "USD", 5200.00, 50, 0.010,
                   Decimal("-1.20"), Decimal("-0.40"), 2),
        Instrument("BTCUSD", "Crypto\\BTCUSD", 2, 1, "BTC", "USD", 65000.00, 2500, 0.030,
                   Decimal("-18.00"), Decimal("-12.00"), 0),
    )
}  # fmt: skip


def next_news_ms(now_ms: int) -> int:
    return (now_ms // NEWS_INTERVAL_MS + 1) * NEWS_INTERVAL_MS


def last_news_ms(now_ms: int) -> int:
    return (now_ms // NEWS_INTERVAL_MS) * NEWS_INTERVAL_MS


@dataclass(slots=True)
class SymbolFeed:
    true_mid: float
    quote_mid: float
    gap_steps_left: int = 0
    news_jump: float = 0.0  # signed size of the last news move, for news traders
    quote_time_ms: int = 0


class PriceFeed:
    def __init__(self, state: dict[str, Any] | None, now_ms: int) -> None:
        self.symbols: dict[str, SymbolFeed] = {}
        for name, inst in INSTRUMENTS.items():
            saved = (state or {}).get(name)
            if saved:
                self.symbols[name] = SymbolFeed(**saved)
            else:
                self.symbols[name] = SymbolFeed(inst.start, inst.start, quote_time_ms=now_ms)

    def snapshot(self) -> dict[str, Any]:
        return {
            name: {
                "true_mid": f.true_mid,
                "quote_mid": f.quote_mid,
                "gap_steps_left": f.gap_steps_left,
                "news_jump": f.news_jump,
                "quote_time_ms": f.quote_time_ms,
            }
            for name, f in self.symbols.items()
        }

    def advance(self, rng: random.Random, prev_ms: int, now_ms: int) -> None:
        dt_days = max(now_ms - prev_ms, 1) / 86_400_000
        news_now = next_news_ms(prev_ms) <= now_ms
        for name, inst in INSTRUMENTS.items():
            feed = self.symbols[name]
            sigma = inst.daily_vol * math.sqrt(dt_days) * VOL_BOOST
            if now_ms - last_news_ms(now_ms) < 60_000:
                sigma *= 4  # turbulence after the release
            move = rng.gauss(0.0, sigma)
            if news_now and name in NEWS_SYMBOLS:
                jump = (
                    rng.choice((-1, 1)) * rng.uniform(15, 40) * inst.spread_points * inst.point / inst.start
                )
                feed.news_jump = jump
                move += jump
            previous_true = feed.true_mid
            feed.true_mid = max(previous_true * math.exp(move), inst.point * 10)
            if feed.gap_steps_left > 0:
                feed.gap_steps_left -= 1  # feed frozen: the broker keeps quoting the old price
            elif rng.random() < 0.004:
                feed.gap_steps_left = rng.randint(3, 10)
            else:
                feed.quote_mid = previous_true  # one-step lag behind the market
                feed.quote_time_ms = now_ms

    def bid_ask(self, symbol: str) -> tuple[Decimal, Decimal]:
        inst = INSTRUMENTS[symbol]
        mid = self.symbols[symbol].quote_mid
        half = inst.spread_points * inst.point / 2
        return _round(mid - half, inst.digits), _round(mid + half, inst.digits)

    def stale_edge(self, symbol: str) -> float:
        """How far the broker quote lags the market, in spreads (signed: >0 market is higher)."""
        inst = INSTRUMENTS[symbol]
        feed = self.symbols[symbol]
        return (feed.true_mid - feed.quote_mid) / (inst.spread_points * inst.point)

    def to_usd(self, currency: str) -> Decimal:
        """Rate converting one unit of `currency` into USD, from current quotes."""
        if currency == "USD":
            return Decimal(1)
        direct = f"{currency}USD"
        if direct in self.symbols:
            return Decimal(repr(self.symbols[direct].quote_mid))
        inverse = f"USD{currency}"
        if inverse in self.symbols:
            return Decimal(1) / Decimal(repr(self.symbols[inverse].quote_mid))
        raise KeyError(currency)


def _round(value: float, digits: int) -> Decimal:
    return Decimal(f"{value:.{digits}f}")
