"""Toxic-flow detectors, run for the accounts a batch touched, over their running metrics and trade log.

- latency_arbitrage: most holds under a few seconds and consistently profitable (profit factor: the
  wins on stale quotes are large, the losses small, so the win rate alone says little), and, where
  the platform reports requested prices, slippage asymmetric in the client's favour (fills that
  would have slipped against it were refused instead);
- news: opens concentrated in the window around high-impact calendar releases, held beyond seconds;
  or pending-order straddles: a buy stop above and a sell stop below on one symbol, placed within
  `straddle_pair_ms` of each other and within `straddle_window_ms` before a high-impact release, at
  least `min_straddles` times (from the order history, domain/risk/requests.py);
- abnormal_execution: HFT-style short holds (under a minute) not explained by latency arbitrage,
  few-but-very-profitable deals, or equity doubling on deposits;
- request_flood: bursts of market requests (at least `min_requests_per_s` in one second, in at least
  `min_burst_seconds` seconds), from the order history the platform exposes (domain/risk/requests.py);
- hedging: repeated opposite positions on one symbol, opened close in time with similar size, in
  another account linked by user, shared sign-in IP or an explicit link (pairs matched batch by batch
  in risk_hedge_pairs, domain/risk/hedging.py).

Thresholds: `risk_thresholds` rows per detector, group and symbol ('*' = any), most specific first,
over the defaults below. A flag stores its evidence (deals, figures, thresholds in force); a new flag
is audited; an open one is refreshed with the latest evidence; a dismissed one is not re-raised.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.risk.errors import RiskThresholdInvalid, RiskThresholdNotFound
from domain.shared.actor import Actor

DEFAULTS: dict[str, dict[str, float]] = {
    "latency_arbitrage": {"min_trades": 8, "max_hold_ms": 5000, "min_short_share": 0.6, "min_profit_factor": 1.5,
                          "min_slipped_fills": 5, "min_favour_share": 0.75},
    "news": {"min_opens": 6, "min_news_share": 0.6, "max_short_share": 0.5,
             "straddle_window_ms": 60_000, "straddle_pair_ms": 5_000, "min_straddles": 2},
    "abnormal_execution": {"min_trades": 10, "min_sub_minute_share": 0.6, "max_arb_share": 0.5,
                           "few_trades": 5, "few_profit_vs_deposit": 0.5, "equity_multiple": 2.0},
    "hedging": {"window_ms": 500, "size_tolerance": 0.1, "min_pairs_linked": 3, "min_pairs_unlinked": 8},
    "request_flood": {"min_requests_per_s": 10, "min_burst_seconds": 3},
}  # fmt: skip
WEIGHTS = {"latency_arbitrage": 40, "hedging": 30, "news": 25, "abnormal_execution": 25, "request_flood": 20}
_EVIDENCE_DEALS = 20


@dataclass(frozen=True)
class Finding:
    account_id: int
    detector: str
    score: Decimal
    evidence: dict[str, Any]


class Thresholds:
    def __init__(self, rows: Sequence[Any]) -> None:
        self._rows = {(r.detector, r.grp, r.symbol): dict(r.params) for r in rows}

    def get(self, detector: str, group: str = "*", symbol: str = "*") -> dict[str, float]:
        merged = dict(DEFAULTS[detector])
        for key in ((detector, "*", "*"), (detector, "*", symbol), (detector, group, "*"), (detector, group, symbol)):
            merged.update({k: float(v) for k, v in self._rows.get(key, {}).items() if k in merged})
        return merged

    def lowest(self, detector: str, *params: str) -> float:
        """The smallest value any of these parameters takes for any group and symbol."""
        return min(self._values(detector, params))

    def highest(self, detector: str, *params: str) -> float:
        """The largest value any of these parameters takes for any group and symbol."""
        return max(self._values(detector, params))

    def _values(self, detector: str, params: Sequence[str]) -> list[float]:
        values = [DEFAULTS[detector][p] for p in params]
        for (d, _, _), row in self._rows.items():
            values += [float(row[p]) for p in params if d == detector and p in row]
        return values


async def load_thresholds(session: AsyncSession) -> Thresholds:
    return Thresholds((await session.execute(text("SELECT detector, grp, symbol, params FROM risk_thresholds"))).all())


# Every parameter is a count, a share, a multiple or milliseconds, never negative (a minimum share above 1
# switches its criterion off). Hedge pairing is bounded: a wider window rebuilds far more pairs.
_BOUNDS = {("hedging", "size_tolerance"): 1.0, ("hedging", "window_ms"): 60_000.0}
# Hedge pairs are matched once for every group and symbol (domain/risk/hedging.py): these two are global.
_GLOBAL_ONLY = {("hedging", "window_ms"), ("hedging", "size_tolerance")}
_MAX_VALUE = 1e12


def _check_scope(name: str, value: str) -> str:
    value = value.strip()
    if not value or len(value) > (64 if name == "group" else 32):
        raise RiskThresholdInvalid(f"{name} must be '*' or a name of at most {64 if name == 'group' else 32} "
                                   "characters", field=name)
    return value


def check_threshold(
    detector: str, params: dict[str, float], group: str = "*", symbol: str = "*"
) -> tuple[dict[str, float], str, str]:
    """The override as stored, or RiskThresholdInvalid (unknown detector or parameter, value out of range)."""
    if detector not in DEFAULTS:
        raise RiskThresholdInvalid(f"unknown detector {detector}; one of {', '.join(sorted(DEFAULTS))}",
                                   field="detector")
    group, symbol = _check_scope("group", group), _check_scope("symbol", symbol)
    if not params:
        raise RiskThresholdInvalid("give at least one parameter", field="params")
    unknown = sorted(set(params) - set(DEFAULTS[detector]))
    if unknown:
        raise RiskThresholdInvalid(f"unknown parameters for {detector}: {', '.join(unknown)}", field="params")
    out: dict[str, float] = {}
    for name, raw in sorted(params.items()):
        value = float(raw)
        if value != value or value < 0 or value > _MAX_VALUE:
            raise RiskThresholdInvalid(f"{name} must be a number from 0", field="params")
        bound = _BOUNDS.get((detector, name))
        if bound is not None and value > bound:
            raise RiskThresholdInvalid(f"{name} is at most {bound:g}", field="params")
        if (detector, name) in _GLOBAL_ONLY and (group, symbol) != ("*", "*"):
            raise RiskThresholdInvalid(f"{detector}.{name} applies to every group and symbol: set it for '*'",
                                       field="params")
        out[name] = int(value) if value.is_integer() else value
    return out, group, symbol


async def set_threshold(
    session: AsyncSession, actor: Actor, detector: str, params: dict[str, float], *, group: str = "*", symbol: str = "*"
) -> dict[str, float]:
    """Store the override of (detector, group, symbol), replacing the previous one; returns it."""
    params, group, symbol = check_threshold(detector, params, group, symbol)
    before = await session.scalar(text(
        "SELECT params FROM risk_thresholds WHERE detector = :d AND grp = :g AND symbol = :s FOR UPDATE"
    ), {"d": detector, "g": group, "s": symbol})  # fmt: skip
    await session.execute(text(
        "INSERT INTO risk_thresholds (detector, grp, symbol, params) VALUES (:d, :g, :s, CAST(:p AS jsonb)) "
        "ON CONFLICT (detector, grp, symbol) DO UPDATE SET params = excluded.params, updated_at = now()"
    ), {"d": detector, "g": group, "s": symbol, "p": json.dumps(params)})  # fmt: skip
    await record(session, actor, action="risk.threshold_set", entity_type="risk_threshold",
                 entity_id=f"{detector}:{group}:{symbol}", before=None if before is None else dict(before),
                 after=params)
    return params


async def clear_threshold(
    session: AsyncSession, actor: Actor, detector: str, *, group: str = "*", symbol: str = "*"
) -> dict[str, float]:
    """Remove an override (the next less specific one, or the defaults, apply again); returns it."""
    if detector not in DEFAULTS:
        raise RiskThresholdInvalid(f"unknown detector {detector}", field="detector")
    group, symbol = _check_scope("group", group), _check_scope("symbol", symbol)
    before = await session.scalar(text(
        "DELETE FROM risk_thresholds WHERE detector = :d AND grp = :g AND symbol = :s RETURNING params"
    ), {"d": detector, "g": group, "s": symbol})  # fmt: skip
    if before is None:
        raise RiskThresholdNotFound("no override for this detector, group and symbol", field="detector")
    await record(session, actor, action="risk.threshold_cleared", entity_type="risk_threshold",
                 entity_id=f"{detector}:{group}:{symbol}", before=dict(before), after=None)
    return {k: float(v) for k, v in dict(before).items()}


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


# Evidence deals for many accounts in one statement: per account its own threshold, newest first.
_SHORT_WINNERS = """
SELECT x.a AS account_id, ARRAY(
    SELECT open_deal FROM risk_trades WHERE account_id = x.a AND close_ms - open_ms < x.h AND profit > 0
    ORDER BY open_ms DESC LIMIT :n) AS deals
FROM unnest(CAST(:ids AS bigint[]), CAST(:hs AS float8[])) AS x(a, h)
"""
_NEWS_DEALS = """
SELECT x.a AS account_id, ARRAY(
    SELECT r.open_deal FROM risk_trades r WHERE r.account_id = x.a AND EXISTS (SELECT 1 FROM risk_calendar c
        WHERE c.impact = 'high' AND c.at BETWEEN to_timestamp(r.open_ms / 1000.0) - interval '45 seconds'
        AND to_timestamp(r.open_ms / 1000.0) + interval '15 seconds')
    ORDER BY r.open_ms DESC LIMIT :n) AS deals
FROM unnest(CAST(:ids AS bigint[])) AS x(a)
"""


async def _evidence_deals(session: AsyncSession, sql: str, params: dict[str, Any]) -> dict[int, list[int]]:
    if not params["ids"]:
        return {}
    rows = await session.execute(text(sql), {**params, "n": _EVIDENCE_DEALS})
    return {int(r.account_id): list(r.deals) for r in rows}


def _slippage_figures(m: Any) -> dict[str, Any]:
    slipped = int(m.slip_favour) + int(m.slip_against)
    return {"order_requests": int(m.requests), "rejected_requests": int(m.rejected_requests),
            "slipped_fills": slipped, "favour_share": round(_share(int(m.slip_favour), slipped), 4),
            "avg_slippage_points": str(round(Decimal(m.slip_points_sum) / m.slip_fills, 2)) if m.slip_fills else None}


async def _account_findings(session: AsyncSession, th: Thresholds, accounts: list[int]) -> list[Finding]:
    rows = (await session.execute(text(
        "SELECT m.*, COALESCE(a.\"group\", '') AS grp FROM risk_account_metrics m "
        "LEFT JOIN trading_accounts a ON a.id = m.account_id WHERE m.account_id = ANY(:ids)"
    ), {"ids": accounts})).all()  # fmt: skip
    straddles = await _straddles(session, th, {m.account_id: m.grp for m in rows})
    out: list[Finding] = []
    arb: list[tuple[int, int, float]] = []  # (finding index, account, max hold) awaiting evidence deals
    news: list[tuple[int, int]] = []
    for m in rows:
        closed, opens = int(m.closed), int(m.opens)
        short = _share(int(m.hold_lt_5s), closed)
        sub_minute = _share(int(m.hold_lt_5s) + int(m.hold_lt_1m), closed)
        win_rate = _share(int(m.wins), closed)
        realised = Decimal(m.gross_profit) - Decimal(m.gross_loss)
        profit_factor = float(m.gross_profit / m.gross_loss) if m.gross_loss else (99.0 if m.gross_profit else 0.0)
        figures = {"closed_trades": closed, "opens": opens, "win_rate": round(win_rate, 4),
                   "profit_factor": round(profit_factor, 3),
                   "short_hold_share": round(short, 4), "sub_minute_share": round(sub_minute, 4),
                   "news_share": round(_share(int(m.news_opens), opens), 4), "realised_pnl": str(realised),
                   "deposits": str(m.deposits), **_slippage_figures(m)}  # fmt: skip
        t = th.get("latency_arbitrage", m.grp)
        slipped = int(m.slip_favour) + int(m.slip_against)
        # Without enough slipped fills (or no requested prices at all) slippage is no evidence either way.
        asymmetric = slipped < t["min_slipped_fills"] or _share(int(m.slip_favour), slipped) >= t["min_favour_share"]
        if (closed >= t["min_trades"] and short >= t["min_short_share"] and profit_factor >= t["min_profit_factor"]
                and asymmetric):
            score = Decimal(round(100 * short * min(1.0, profit_factor / 3), 2))
            arb.append((len(out), m.account_id, t["max_hold_ms"]))
            out.append(Finding(m.account_id, "latency_arbitrage", score,
                               {"figures": figures, "thresholds": t, "deals": []}))
        finding = _news_finding(m, th.get("news", m.grp), figures, short, straddles.get(m.account_id, []))
        if finding is not None:
            news.append((len(out), m.account_id))
            out.append(finding)
        t = th.get("abnormal_execution", m.grp)
        reasons: list[str] = []
        if closed >= t["min_trades"] and sub_minute >= t["min_sub_minute_share"] and short < t["max_arb_share"]:
            reasons.append("hft_short_holds")
        deposits = Decimal(m.deposits)
        few = 0 < closed <= t["few_trades"]
        if deposits > 0 and few and realised >= deposits * Decimal(str(t["few_profit_vs_deposit"])):
            reasons.append("few_very_profitable_deals")
        if deposits > 0 and deposits + realised >= deposits * Decimal(str(t["equity_multiple"])):
            reasons.append("equity_doubling")
        if reasons:
            out.append(Finding(m.account_id, "abnormal_execution", Decimal(round(100 * max(sub_minute, 0.5), 2)),
                               {"figures": figures, "thresholds": t, "reasons": reasons}))
    arb_deals = await _evidence_deals(session, _SHORT_WINNERS, {"ids": [a for _, a, _ in arb],
                                                                "hs": [h for _, _, h in arb]})  # fmt: skip
    news_deals = await _evidence_deals(session, _NEWS_DEALS, {"ids": [a for _, a in news]})
    for i, account in [(i, a) for i, a, _ in arb]:
        out[i].evidence["deals"] = arb_deals.get(account, [])
    for i, account in news:
        out[i].evidence["deals"] = news_deals.get(account, [])
    return out


def _news_finding(
    m: Any, t: dict[str, float], figures: dict[str, Any], short: float, straddles: list[dict[str, Any]]
) -> Finding | None:
    """Trading concentrated around releases, or repeated straddles before them (or both)."""
    opens = int(m.opens)
    news_share = _share(int(m.news_opens), opens)
    reasons: list[str] = []
    score = 0.0
    if opens >= t["min_opens"] and news_share >= t["min_news_share"] and short < t["max_short_share"]:
        reasons.append("trading_around_releases")
        score = 100 * news_share
    if len(straddles) >= t["min_straddles"]:
        reasons.append("pending_straddles")
        score = max(score, min(100.0, 25.0 * len(straddles)))
    if not reasons:
        return None
    return Finding(m.account_id, "news", Decimal(round(score, 2)), {
        "figures": {**figures, "straddles": len(straddles)}, "thresholds": t, "reasons": reasons, "deals": [],
        "straddles": straddles[:_EVIDENCE_DEALS]})  # fmt: skip


# Candidate straddles: each buy stop with the nearest sell stop of the account on the same symbol below
# it, and the first high-impact release after both were placed, within the widest thresholds any group
# or symbol has; the thresholds in force for each are applied in `_straddles`.
_STRADDLES = """
SELECT b.account_id, b.symbol, b.order_id AS buy_order, s.order_id AS sell_order, b.time_ms AS buy_ms,
    s.time_ms AS sell_ms, b.requested_price AS buy_stop, s.requested_price AS sell_stop, b.state AS buy_state,
    s.state AS sell_state, r.at AS release, (extract(epoch FROM r.at) * 1000)::bigint AS release_ms
FROM risk_order_requests b
JOIN LATERAL (
    SELECT * FROM risk_order_requests s WHERE s.account_id = b.account_id AND s.order_kind = 'STOP'
        AND s.side = 'SELL' AND s.symbol = b.symbol AND s.requested_price < b.requested_price
        AND s.time_ms BETWEEN b.time_ms - :pair AND b.time_ms + :pair
    ORDER BY abs(s.time_ms - b.time_ms), s.order_id LIMIT 1
) s ON true
JOIN LATERAL (
    SELECT c.at FROM risk_calendar c WHERE c.impact = 'high'
        AND c.at > to_timestamp(greatest(b.time_ms, s.time_ms) / 1000.0)
        AND c.at <= to_timestamp((least(b.time_ms, s.time_ms) + :window) / 1000.0)
    ORDER BY c.at LIMIT 1
) r ON true
WHERE b.account_id = ANY(:ids) AND b.order_kind = 'STOP' AND b.side = 'BUY'
ORDER BY b.account_id, b.time_ms DESC, b.order_id DESC
"""


async def _straddles(session: AsyncSession, th: Thresholds, groups: dict[int, str]) -> dict[int, list[dict[str, Any]]]:
    """Per account, its straddles under the thresholds of its group and the symbol, newest first."""
    if not groups:
        return {}
    rows = (await session.execute(text(_STRADDLES), {
        "ids": list(groups), "pair": int(th.highest("news", "straddle_pair_ms")),
        "window": int(th.highest("news", "straddle_window_ms"))})).all()  # fmt: skip
    out: dict[int, list[dict[str, Any]]] = {}
    used: set[int] = set()  # a sell stop belongs to one straddle
    for r in rows:
        t = th.get("news", groups[r.account_id], r.symbol)
        placed = min(r.buy_ms, r.sell_ms)
        too_far = abs(r.buy_ms - r.sell_ms) > t["straddle_pair_ms"] or r.release_ms - placed > t["straddle_window_ms"]
        if too_far or r.sell_order in used:
            continue
        used.add(r.sell_order)
        filled = "BUY" if r.buy_state == "FILLED" else "SELL" if r.sell_state == "FILLED" else None
        out.setdefault(r.account_id, []).append({
            "symbol": r.symbol, "buy_stop_order": r.buy_order, "sell_stop_order": r.sell_order,
            "buy_stop": str(r.buy_stop), "sell_stop": str(r.sell_stop), "placed_ms": [r.buy_ms, r.sell_ms],
            "release": r.release.isoformat(), "lead_ms": r.release_ms - placed, "filled": filled})  # fmt: skip
    return out


# Pairs come from risk_hedge_pairs (kept per batch by domain/risk/hedging.py); links are read now.
# Account pairs with fewer matches than any hedging threshold in force could ask for are skipped.
_HEDGE_PAIRS = """
SELECT p.acc, p.other, p.symbol, p.pairs, p.deals, p.other_deals,
    ua.user_id IS NOT NULL AND ua.user_id = ub.user_id AS same_user,
    ARRAY(SELECT l.kind FROM risk_account_links l WHERE l.account_a = least(p.acc, p.other)
        AND l.account_b = greatest(p.acc, p.other) ORDER BY l.kind) AS link_kinds,
    EXISTS (SELECT 1 FROM auth_sessions sa JOIN auth_sessions sb ON sb.ip = sa.ip
        WHERE sa.user_id = ua.user_id AND sb.user_id = ub.user_id AND ua.user_id <> ub.user_id) AS shared_ip
FROM (
    SELECT account_id AS acc, other_account AS other, symbol, count(*) AS pairs,
        (array_agg(open_deal ORDER BY open_ms DESC))[1:20] AS deals,
        (array_agg(other_deal ORDER BY open_ms DESC))[1:20] AS other_deals
    FROM risk_hedge_pairs
    WHERE (account_id, other_account) IN (
        SELECT account_id, other_account FROM risk_hedge_pairs WHERE account_id = ANY(:ids)
        GROUP BY 1, 2 HAVING count(*) >= :floor)
    GROUP BY 1, 2, 3
) p
LEFT JOIN trading_accounts ua ON ua.id = p.acc
LEFT JOIN trading_accounts ub ON ub.id = p.other
"""


async def _hedge_findings(session: AsyncSession, th: Thresholds, accounts: list[int]) -> list[Finding]:
    floor = th.lowest("hedging", "min_pairs_linked", "min_pairs_unlinked")
    rows = (await session.execute(text(_HEDGE_PAIRS), {"ids": accounts, "floor": floor})).all()
    by_pair: dict[tuple[int, int], dict[str, Any]] = {}
    for r in rows:
        entry = by_pair.setdefault((r.acc, r.other), {"pairs": 0, "symbols": {}, "deals": [], "links": set()})
        entry["pairs"] += int(r.pairs)
        entry["symbols"][r.symbol] = int(r.pairs)
        entry["deals"] += [[d, o] for d, o in zip(r.deals, r.other_deals, strict=False)]
        for kind, on in (("same_user", r.same_user), ("shared_ip", r.shared_ip)):
            if on:
                entry["links"].add(kind)
        entry["links"].update(f"declared_{kind}" for kind in r.link_kinds or ())  # staff links (domain/risk/links.py)
    out: list[Finding] = []
    for (acc, other), e in by_pair.items():
        symbol = max(e["symbols"], key=e["symbols"].get)
        t = th.get("hedging", "*", symbol)
        needed = t["min_pairs_linked"] if e["links"] else t["min_pairs_unlinked"]
        if e["pairs"] >= needed:
            evidence = {"counterparty_account": other, "matched_pairs": e["pairs"], "by_symbol": e["symbols"],
                        "links": sorted(e["links"]), "deals": e["deals"][:_EVIDENCE_DEALS],
                        "thresholds": t}  # fmt: skip
            out.append(Finding(acc, "hedging", Decimal(min(100, 10 * e["pairs"])), evidence))
    return out


# All findings of a batch in one statement: a dismissed flag is never re-raised, an active one is
# refreshed with the latest evidence, a new one is created (and audited below).
_STORE = """
INSERT INTO risk_flags AS f (account_id, server_id, login, user_id, detector, score, evidence)
SELECT a.id, a.server_id, a.login, a.user_id, x.d, x.score, CAST(x.ev AS jsonb)
FROM unnest(CAST(:accounts AS bigint[]), CAST(:detectors AS text[]), CAST(:scores AS numeric[]),
    CAST(:evidence AS text[])) AS x(a, d, score, ev)
JOIN trading_accounts a ON a.id = x.a
WHERE NOT EXISTS (SELECT 1 FROM risk_flags r WHERE r.account_id = x.a AND r.detector = x.d AND r.status = 'dismissed')
ORDER BY x.a, x.d
ON CONFLICT (account_id, detector) WHERE status <> 'dismissed' DO UPDATE SET
    score = excluded.score, evidence = excluded.evidence, updated_at = now()
RETURNING f.id, f.account_id, f.detector, (f.xmax = 0) AS created
"""


async def store(session: AsyncSession, actor: Actor, findings: Sequence[Finding]) -> int:
    """Insert or refresh the flags of these findings; returns the number of new flags.

    Several findings for one (account, detector) (hedging against several counterparties) act as if
    stored one after the other: the first raises the flag (and is audited), the last one's evidence stays.
    """
    first: dict[tuple[int, str], Finding] = {}
    last: dict[tuple[int, str], Finding] = {}
    for f in findings:
        first.setdefault((f.account_id, f.detector), f)
        last[(f.account_id, f.detector)] = f
    if not last:
        return 0
    rows = (await session.execute(text(_STORE), {
        "accounts": [k[0] for k in last], "detectors": [k[1] for k in last],
        "scores": [f.score for f in last.values()],
        "evidence": [json.dumps(f.evidence, default=str) for f in last.values()],
    })).all()  # fmt: skip
    created = sorted((r for r in rows if r.created), key=lambda r: r.id)
    for r in created:
        f = first[(r.account_id, r.detector)]
        await record(session, actor, action="risk.flag_raised", entity_type="risk_flag", entity_id=r.id,
                     after={"account_id": f.account_id, "detector": f.detector, "score": str(f.score),
                            "evidence": f.evidence})  # fmt: skip
    return len(created)


async def run(session: AsyncSession, actor: Actor, accounts: list[int], th: Thresholds | None = None) -> int:
    """Evaluate every detector for these accounts; returns the number of new flags."""
    if not accounts:
        return 0
    th = th or await load_thresholds(session)
    findings = await _account_findings(session, th, accounts) + await _hedge_findings(session, th, accounts)
    return await store(session, actor, findings)


# Seconds in which an account sent many requests, busiest first; only counts any threshold could use.
_BURSTS = """
SELECT s.account_id, COALESCE(a."group", '') AS grp, m.requests, m.rejected_requests,
    array_agg(s.requests ORDER BY s.requests DESC, s.second DESC) AS counts,
    array_agg(s.second ORDER BY s.requests DESC, s.second DESC) AS seconds
FROM risk_request_seconds s
JOIN risk_account_metrics m ON m.account_id = s.account_id
LEFT JOIN trading_accounts a ON a.id = s.account_id
WHERE s.account_id = ANY(:ids) AND s.requests >= :floor
GROUP BY 1, 2, 3, 4
"""
_BURST_ORDERS = """
SELECT x.a AS account_id, ARRAY(
    SELECT order_id FROM risk_order_requests WHERE account_id = x.a AND time_ms >= x.sec * 1000
      AND time_ms < x.sec * 1000 + 1000 ORDER BY order_id LIMIT :n) AS deals
FROM unnest(CAST(:ids AS bigint[]), CAST(:secs AS bigint[])) AS x(a, sec)
"""


async def _flood_findings(session: AsyncSession, th: Thresholds, accounts: list[int]) -> list[Finding]:
    floor = th.lowest("request_flood", "min_requests_per_s")
    rows = (await session.execute(text(_BURSTS), {"ids": accounts, "floor": floor})).all()
    out: list[Finding] = []
    for r in rows:
        t = th.get("request_flood", r.grp)
        bursts = [(sec, n) for sec, n in zip(r.seconds, r.counts, strict=True) if n >= t["min_requests_per_s"]]
        if len(bursts) < t["min_burst_seconds"]:
            continue
        figures = {"order_requests": int(r.requests), "rejected_share": round(_share(int(r.rejected_requests),
                   int(r.requests)), 4), "burst_seconds": len(bursts), "peak_requests_per_s": bursts[0][1]}  # fmt: skip
        score = Decimal(min(100, 10 * len(bursts)))
        out.append(Finding(r.account_id, "request_flood", score, {
            "figures": figures, "thresholds": t, "bursts": [[sec, n] for sec, n in bursts[:_EVIDENCE_DEALS]],
            "peak_second_orders": []}))  # fmt: skip
    orders = await _evidence_deals(session, _BURST_ORDERS, {"ids": [f.account_id for f in out],
                                                            "secs": [f.evidence["bursts"][0][0] for f in out]})
    for f in out:
        f.evidence["peak_second_orders"] = orders.get(f.account_id, [])
    return out


async def run_requests(session: AsyncSession, actor: Actor, accounts: list[int], th: Thresholds | None = None) -> int:
    """The detectors that read the order history (request floods; the news detector, for its straddles)
    for accounts whose order requests were just stored; returns the number of new flags."""
    if not accounts:
        return 0
    th = th or await load_thresholds(session)
    news = [f for f in await _account_findings(session, th, accounts) if f.detector == "news"]
    return await store(session, actor, await _flood_findings(session, th, accounts) + news)
