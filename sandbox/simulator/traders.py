"""Simulated traders with behaviour profiles, attached to accounts of the simulated server.

Profiles (ground truth exported at /sim/ground-truth):
- ordinary: a few trades an hour, random symbol and side, holds minutes to an hour;
- scalper: many short trades (seconds to a minute);
- latency_arbitrage: trades only when the broker quote is stale (lagging the market by several
  spreads, e.g. during a feed gap or after news), in the market's direction; holds 1-3 s; wins;
- news_trader: trades in a window around scheduled news, in the direction of the news move; before
  some releases it also straddles the market with a buy stop above and a sell stop below on one
  symbol, placed within a minute of the release: the news move triggers one, the other is cancelled;
- hedger: two accounts opening opposite positions of equal size on one symbol within ~40 ms;
- flooder: an expert advisor firing bursts of 15-40 market requests in one millisecond, nearly all
  refused (off quotes, requotes), now and then one filled and held for minutes.

Every request lands in the order history with the price asked for. Fills slip a few points either
way for most traders, about symmetrically; the latency arbitrageur's fills slip in its favour (its
requests that would slip against it are refused instead). These draws use the engine's separate
`req_rng`, so they leave the traders' decisions, and so their deals, unchanged. Straddles draw from
`straddle_rng` for the same reason: only the news traders' own deals change.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from sandbox.simulator.engine import ORDER_BUY_STOP, ORDER_SELL_STOP, Engine, Pending, SimError
from sandbox.simulator.market import INSTRUMENTS, NEWS_SYMBOLS, last_news_ms, next_news_ms

PROFILES = ("ordinary", "scalper", "latency_arbitrage", "news_trader", "hedger", "flooder")
# Opens per simulated minute at activity 1.0 (each open later produces a closing deal).
BASE_OPENS_PER_MIN = {
    "ordinary": 0.5,
    "scalper": 6.0,
    "latency_arbitrage": 2.0,
    "news_trader": 1.0,
    "hedger": 0.4,
    "flooder": 1.5,  # bursts per minute; a fill is rare
}
REQUOTE_P = 0.03  # share of ordinary requests requoted once before they fill
FLOOD_REFUSALS = ("Off quotes", "Requote", "No prices")
_FX_MAJORS = {s for s, i in INSTRUMENTS.items() if i.path.startswith("Forex\\Majors")}
STRADDLE_P = 0.5  # share of releases a news trader straddles
STRADDLE_LEAD_MS = (5_000, 60_000)  # placed this long before the release
STRADDLE_SPREADS = (6, 10)  # each stop this many spreads from the quote: beyond the noise, within the jump
STRADDLE_EXPIRY_MS = 60_000  # after the release, a straddle no move reached is withdrawn
# Small FX stops: their margin seldom decides whether the trader's own news trades fit, so those (and
# the main random stream they draw from) stay as they were before straddles existed.
STRADDLE_SYMBOLS = tuple(s for s in NEWS_SYMBOLS if s in _FX_MAJORS)
STRADDLE_LOTS = ("0.1", "0.2", "0.3")
_FX = [s for s, i in INSTRUMENTS.items() if i.path.startswith("Forex")]
_SCALPER_SYMBOLS = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "US500"]


def attach(engine: Engine, login: int, profile: str, partner: int | None = None) -> None:
    if profile not in PROFILES:
        raise SimError(3, f"unknown profile {profile}")
    engine.account(login)
    trader: dict[str, Any] = {
        "login": login,
        "profile": profile,
        "partner": partner,
        "open": {},
        "leader": True,
    }
    if profile == "hedger":
        if partner is None or partner == login:
            raise SimError(3, "a hedger needs a partner login")
        engine.account(partner)
        follower = {"login": partner, "profile": "hedger", "partner": login, "open": {}, "leader": False}
        engine.traders[partner] = follower
        engine.store.put_trader(partner, follower)
    engine.traders[login] = trader
    engine.store.put_trader(login, trader)


def ground_truth(engine: Engine) -> dict[str, Any]:
    pairs = sorted(
        {
            tuple(sorted((t["login"], t["partner"])))
            for t in engine.traders.values()
            if t["profile"] == "hedger"
        }
    )
    return {
        "traders": {str(login): t["profile"] for login, t in sorted(engine.traders.items())},
        "hedge_pairs": [list(p) for p in pairs],
        "straddles": {str(login): t["straddles"] for login, t in sorted(engine.traders.items()) if t.get("straddles")},
    }


def expected_deals_per_second(engine: Engine) -> float:
    opens = sum(BASE_OPENS_PER_MIN[t["profile"]] for t in engine.traders.values()
                if t.get("leader", True) and t["profile"] != "flooder")  # fmt: skip
    return opens * 2 / 60  # every open is closed later; hedgers counted per account


def act_all(engine: Engine, rng: random.Random, now_ms: int, activity: float, dt_ms: int) -> None:
    dt_min = dt_ms / 60_000  # decisions are made once per step; probabilities scale with its length
    for login in sorted(engine.traders):
        trader = engine.traders[login]
        _close_due(engine, trader, now_ms)
        if not trader.get("leader", True):
            continue
        profile = trader["profile"]
        p_open = min(1.0, BASE_OPENS_PER_MIN[profile] * dt_min * activity)
        if profile == "ordinary":
            _ordinary(engine, trader, rng, now_ms, p_open)
        elif profile == "scalper":
            _scalper(engine, trader, rng, now_ms, p_open)
        elif profile == "latency_arbitrage":
            _arbitrage(engine, trader, rng, now_ms, activity)
        elif profile == "news_trader":
            _news(engine, trader, rng, now_ms, p_open)
            _straddle(engine, trader, now_ms)
        elif profile == "hedger":
            _hedger(engine, trader, rng, now_ms, p_open)
        elif profile == "flooder":
            _flooder(engine, trader, now_ms, p_open)


def _slip(engine: Engine, profile: str) -> int:
    """Points a fill slips in the client's favour (negative: against)."""
    r = engine.req_rng
    if profile == "latency_arbitrage":
        return r.choice((0, 1, 2, 2, 3, 4))  # adverse requests are refused, never filled worse
    return 0 if r.random() < 0.7 else r.choice((-3, -2, -1, 1, 2, 3))


def _close_due(engine: Engine, trader: dict[str, Any], now_ms: int) -> None:
    due = [int(p) for p, close_at in trader["open"].items() if close_at <= now_ms]
    for position in sorted(due):
        del trader["open"][str(position)]
        if position in engine.positions:
            engine.close_position(position, time_ms=now_ms, slip_points=_slip(engine, trader["profile"]))
    if due:
        engine.store.put_trader(trader["login"], trader)


def _open(
    engine: Engine,
    trader: dict[str, Any],
    symbol: str,
    action: int,
    lots: str,
    close_at: int,
    now_ms: int,
    price: Decimal | None = None,
) -> bool:
    profile = trader["profile"]
    requote = REQUOTE_P if profile != "latency_arbitrage" else 0.15
    if engine.req_rng.random() < requote and trader["login"] in engine.accounts:
        engine.reject_request(trader["login"], symbol, action, Decimal(lots), now_ms, "Requote")
    try:
        pos = engine.open_position(
            trader["login"], symbol, action, Decimal(lots), time_ms=now_ms, price=price,
            slip_points=_slip(engine, profile),
        )
    except SimError:
        return False  # no money, trading disabled...: the trader just does not trade
    trader["open"][str(pos.position)] = close_at
    engine.store.put_trader(trader["login"], trader)
    return True


def _ordinary(engine: Engine, trader: dict[str, Any], rng: random.Random, now: int, p: float) -> None:
    if len(trader["open"]) < 3 and rng.random() < p:
        hold = rng.randint(5 * 60_000, 60 * 60_000)
        symbol = rng.choice(list(INSTRUMENTS))
        _open(
            engine,
            trader,
            symbol,
            rng.randint(0, 1),
            rng.choice(["0.01", "0.05", "0.1", "0.2", "0.5"]),
            now + hold,
            now,
        )


def _scalper(engine: Engine, trader: dict[str, Any], rng: random.Random, now: int, p: float) -> None:
    if len(trader["open"]) < 2 and rng.random() < p:
        hold = rng.randint(5_000, 60_000)
        symbol = rng.choice(_SCALPER_SYMBOLS)
        _open(engine, trader, symbol, rng.randint(0, 1), rng.choice(["0.5", "1", "2"]), now + hold, now)


def _arbitrage(engine: Engine, trader: dict[str, Any], rng: random.Random, now: int, activity: float) -> None:
    if trader["open"]:
        return
    edges = sorted(((abs(engine.feed.stale_edge(s)), s) for s in INSTRUMENTS), reverse=True)
    edge, symbol = edges[0]
    if edge < 2.0 or rng.random() > min(1.0, 0.8 * activity):
        return
    action = 0 if engine.feed.stale_edge(symbol) > 0 else 1  # buy the stale quote below the market
    _open(engine, trader, symbol, action, rng.choice(["1", "2", "5"]), now + rng.randint(1_000, 3_000), now)


def _news(engine: Engine, trader: dict[str, Any], rng: random.Random, now: int, p: float) -> None:
    since, until = now - last_news_ms(now), next_news_ms(now) - now
    if not (since <= 30_000 or until <= 10_000) or len(trader["open"]) >= 2:
        return
    if rng.random() < min(1.0, p * 30):  # very active inside the window, idle outside it
        symbol = rng.choice(NEWS_SYMBOLS)
        jump = engine.feed.symbols[symbol].news_jump
        action = (0 if jump > 0 else 1) if since <= 30_000 else rng.randint(0, 1)
        _open(
            engine,
            trader,
            symbol,
            action,
            rng.choice(["0.5", "1", "3"]),
            now + rng.randint(20_000, 180_000),
            now,
        )


def _straddle(engine: Engine, trader: dict[str, Any], now: int) -> None:
    """Bracket the market with pending stops before some releases (news traders only)."""
    r = engine.straddle_rng
    _close_straddle_fills(engine, trader, now)
    if trader.get("straddle"):
        _resolve_straddle(engine, trader, now)
        return
    release = next_news_ms(now)
    plan = trader.get("straddle_plan") or {}
    if plan.get("release") != release:
        # One draw per release, whatever the step length: whether to straddle it, and when to place.
        at = release - r.randint(*STRADDLE_LEAD_MS) if r.random() < STRADDLE_P else None
        plan = trader["straddle_plan"] = {"release": release, "at": at}
        engine.store.put_trader(trader["login"], trader)
    if plan["at"] is not None and plan["at"] <= now:
        plan["at"] = None  # once per release, placed or not
        _place_straddle(engine, trader, now, release)
        engine.store.put_trader(trader["login"], trader)


def _place_straddle(engine: Engine, trader: dict[str, Any], now: int, release: int) -> None:
    r = engine.straddle_rng
    symbol = r.choice(STRADDLE_SYMBOLS)
    inst = INSTRUMENTS[symbol]
    bid, ask = engine.feed.bid_ask(symbol)
    gap = Decimal(r.randint(*STRADDLE_SPREADS) * inst.spread_points).scaleb(-inst.digits)
    lots = Decimal(r.choice(STRADDLE_LOTS))
    lag = r.randint(50, 900)  # the second order leaves the terminal a moment after the first
    try:
        buy = engine.place_stop(trader["login"], symbol, ORDER_BUY_STOP, lots, ask + gap, now)
        sell = engine.place_stop(trader["login"], symbol, ORDER_SELL_STOP, lots, bid - gap, now + lag)
    except SimError:
        return
    trader["straddle"] = {"buy": buy.to_json(), "sell": sell.to_json(), "release": release}


def _resolve_straddle(engine: Engine, trader: dict[str, Any], now: int) -> None:
    """One-cancels-other: the first stop the quote reaches is filled, the other cancelled."""
    state = trader["straddle"]
    buy, sell = Pending.from_json(state["buy"]), Pending.from_json(state["sell"])
    if now < sell.setup_ms:
        return
    bid, ask = engine.feed.bid_ask(buy.symbol)
    hit = buy if ask >= buy.price else sell if bid <= sell.price else None
    if hit is None:
        if now >= state["release"] + STRADDLE_EXPIRY_MS:
            engine.end_pending(buy, now)
            engine.end_pending(sell, now)
            _straddle_ended(engine, trader)
        return
    hold = engine.straddle_rng.randint(20_000, 180_000)
    try:
        pos = engine.trigger_stop(hit, now)
        trader.setdefault("straddle_open", {})[str(pos.position)] = now + hold
    except SimError:
        pass  # rejected on activation (no margin): already in the history as such
    engine.end_pending(sell if hit is buy else buy, now)
    _straddle_ended(engine, trader)


def _straddle_ended(engine: Engine, trader: dict[str, Any]) -> None:
    # Ground truth counts straddles once in the order history, i.e. ended: that is what a CRM can see.
    trader["straddle"] = None
    trader["straddles"] = trader.get("straddles", 0) + 1
    engine.store.put_trader(trader["login"], trader)


def _close_straddle_fills(engine: Engine, trader: dict[str, Any], now: int) -> None:
    held = trader.get("straddle_open", {})
    due = sorted(int(p) for p, close_at in held.items() if close_at <= now)
    for position in due:
        del held[str(position)]
        if position in engine.positions:
            engine.close_position(position, time_ms=now)  # no slippage draw: req_rng stays as it was
    if due:
        engine.store.put_trader(trader["login"], trader)


def _hedger(engine: Engine, trader: dict[str, Any], rng: random.Random, now: int, p: float) -> None:
    partner = engine.traders.get(trader["partner"] or 0)
    if partner is None or trader["open"] or partner["open"] or rng.random() >= p:
        return
    symbol = rng.choice([*_FX, "XAUUSD"])
    lots = rng.choice(["0.5", "1", "2"])
    action = rng.randint(0, 1)
    close_at = now + rng.randint(60_000, 10 * 60_000)
    if _open(engine, trader, symbol, action, lots, close_at, now):
        lag = rng.randint(1, 40)  # the partner's terminal fires a few milliseconds later
        _open(engine, partner, symbol, 1 - action, lots, close_at + lag, now + lag)


def _flooder(engine: Engine, trader: dict[str, Any], now: int, p: float) -> None:
    r = engine.req_rng
    if r.random() >= p:
        return
    symbol = r.choice(_SCALPER_SYMBOLS)
    action = r.randint(0, 1)
    burst = r.randint(15, 40)
    fill = not trader["open"] and r.random() < 0.3
    for _ in range(burst - 1 if fill else burst):
        engine.reject_request(trader["login"], symbol, action, Decimal("0.1"), now, r.choice(FLOOD_REFUSALS))
    if fill:
        _open(engine, trader, symbol, action, "0.1", now + r.randint(5 * 60_000, 20 * 60_000), now)
