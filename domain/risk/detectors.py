"""Toxic-flow detectors, run for the accounts a batch touched, over their running metrics and trade log.

- latency_arbitrage: most holds under a few seconds and consistently profitable (profit factor: the
  wins on stale quotes are large, the losses small, so the win rate alone says little);
- news: opens concentrated in the window around high-impact calendar releases, held beyond seconds;
- abnormal_execution: HFT-style short holds (under a minute) not explained by latency arbitrage,
  few-but-very-profitable deals, or equity doubling on deposits;
- hedging: repeated opposite positions on one symbol, opened close in time with similar size, in
  another account linked by user, shared sign-in IP or an explicit link.

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
from domain.shared.actor import Actor

DEFAULTS: dict[str, dict[str, float]] = {
    "latency_arbitrage": {"min_trades": 8, "max_hold_ms": 5000, "min_short_share": 0.6, "min_profit_factor": 1.5},
    "news": {"min_opens": 6, "min_news_share": 0.6, "max_short_share": 0.5},
    "abnormal_execution": {"min_trades": 10, "min_sub_minute_share": 0.6, "max_arb_share": 0.5,
                           "few_trades": 5, "few_profit_vs_deposit": 0.5, "equity_multiple": 2.0},
    "hedging": {"window_ms": 500, "size_tolerance": 0.1, "min_pairs_linked": 3, "min_pairs_unlinked": 8},
}  # fmt: skip
WEIGHTS = {"latency_arbitrage": 40, "hedging": 30, "news": 25, "abnormal_execution": 25}
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


async def load_thresholds(session: AsyncSession) -> Thresholds:
    return Thresholds((await session.execute(text("SELECT detector, grp, symbol, params FROM risk_thresholds"))).all())


async def set_threshold(
    session: AsyncSession, actor: Actor, detector: str, params: dict[str, float], *, group: str = "*", symbol: str = "*"
) -> None:
    from domain.risk.errors import RiskLimitInvalid

    if detector not in DEFAULTS:
        raise RiskLimitInvalid(f"unknown detector {detector}", field="detector")
    unknown = sorted(set(params) - set(DEFAULTS[detector]))
    if unknown:
        raise RiskLimitInvalid(f"unknown parameters for {detector}: {', '.join(unknown)}", field="params")
    await session.execute(text(
        "INSERT INTO risk_thresholds (detector, grp, symbol, params) VALUES (:d, :g, :s, CAST(:p AS jsonb)) "
        "ON CONFLICT (detector, grp, symbol) DO UPDATE SET params = excluded.params, updated_at = now()"
    ), {"d": detector, "g": group, "s": symbol, "p": json.dumps(params)})  # fmt: skip
    await record(session, actor, action="risk.threshold_set", entity_type="risk_threshold",
                 entity_id=f"{detector}:{group}:{symbol}", after=params)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


async def _short_winners(session: AsyncSession, account_id: int, max_hold_ms: float) -> list[int]:
    return list(await session.scalars(text(
        "SELECT open_deal FROM risk_trades WHERE account_id = :a AND close_ms - open_ms < :h AND profit > 0 "
        "ORDER BY open_ms DESC LIMIT :n"), {"a": account_id, "h": max_hold_ms, "n": _EVIDENCE_DEALS}))


async def _account_findings(session: AsyncSession, th: Thresholds, accounts: list[int]) -> list[Finding]:
    rows = (await session.execute(text(
        "SELECT m.*, COALESCE(a.\"group\", '') AS grp FROM risk_account_metrics m "
        "LEFT JOIN trading_accounts a ON a.id = m.account_id WHERE m.account_id = ANY(:ids)"
    ), {"ids": accounts})).all()  # fmt: skip
    out: list[Finding] = []
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
                   "deposits": str(m.deposits)}  # fmt: skip
        t = th.get("latency_arbitrage", m.grp)
        if closed >= t["min_trades"] and short >= t["min_short_share"] and profit_factor >= t["min_profit_factor"]:
            deals = await _short_winners(session, m.account_id, t["max_hold_ms"])
            score = Decimal(round(100 * short * min(1.0, profit_factor / 3), 2))
            out.append(Finding(m.account_id, "latency_arbitrage", score,
                               {"figures": figures, "thresholds": t, "deals": deals}))
        t = th.get("news", m.grp)
        news_share = _share(int(m.news_opens), opens)
        if opens >= t["min_opens"] and news_share >= t["min_news_share"] and short < t["max_short_share"]:
            deals = list(await session.scalars(text(
                "SELECT r.open_deal FROM risk_trades r WHERE r.account_id = :a AND EXISTS (SELECT 1 FROM "
                "risk_calendar c WHERE c.impact = 'high' AND c.at BETWEEN to_timestamp(r.open_ms / 1000.0) - "
                "interval '45 seconds' AND to_timestamp(r.open_ms / 1000.0) + interval '15 seconds') "
                "ORDER BY r.open_ms DESC LIMIT :n"), {"a": m.account_id, "n": _EVIDENCE_DEALS}))  # fmt: skip
            out.append(Finding(m.account_id, "news", Decimal(round(100 * news_share, 2)),
                               {"figures": figures, "thresholds": t, "deals": deals}))
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
    return out


_HEDGE_PAIRS = """
SELECT a.account_id AS acc, b.account_id AS other, a.symbol, count(*) AS pairs,
    (array_agg(a.open_deal ORDER BY a.open_ms DESC))[1:20] AS deals,
    (array_agg(b.open_deal ORDER BY a.open_ms DESC))[1:20] AS other_deals,
    bool_or(ua.user_id IS NOT NULL AND ua.user_id = ub.user_id) AS same_user,
    bool_or(EXISTS (SELECT 1 FROM risk_account_links l WHERE l.account_a = least(a.account_id, b.account_id)
        AND l.account_b = greatest(a.account_id, b.account_id))) AS explicit_link,
    bool_or(EXISTS (SELECT 1 FROM auth_sessions sa JOIN auth_sessions sb ON sb.ip = sa.ip
        WHERE sa.user_id = ua.user_id AND sb.user_id = ub.user_id AND ua.user_id <> ub.user_id)) AS shared_ip
FROM risk_trades a
JOIN risk_trades b ON b.server_id = a.server_id AND b.symbol = a.symbol AND b.side <> a.side
    AND b.open_ms BETWEEN a.open_ms - :w AND a.open_ms + :w AND b.account_id <> a.account_id
    AND abs(b.lots - a.lots) <= :tol * greatest(a.lots, b.lots)
LEFT JOIN trading_accounts ua ON ua.id = a.account_id
LEFT JOIN trading_accounts ub ON ub.id = b.account_id
WHERE a.account_id = ANY(:ids) AND a.open_ms IS NOT NULL
GROUP BY 1, 2, 3
"""


async def _hedge_findings(session: AsyncSession, th: Thresholds, accounts: list[int]) -> list[Finding]:
    base = th.get("hedging")
    rows = (await session.execute(text(_HEDGE_PAIRS), {
        "ids": accounts, "w": base["window_ms"], "tol": base["size_tolerance"]})).all()  # fmt: skip
    by_pair: dict[tuple[int, int], dict[str, Any]] = {}
    for r in rows:
        entry = by_pair.setdefault((r.acc, r.other), {"pairs": 0, "symbols": {}, "deals": [], "links": set()})
        entry["pairs"] += int(r.pairs)
        entry["symbols"][r.symbol] = int(r.pairs)
        entry["deals"] += [[d, o] for d, o in zip(r.deals, r.other_deals, strict=False)]
        for kind, on in (("same_user", r.same_user), ("manual_link", r.explicit_link), ("shared_ip", r.shared_ip)):
            if on:
                entry["links"].add(kind)
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


async def store(session: AsyncSession, actor: Actor, finding: Finding) -> bool:
    """Insert or refresh the flag; True when a new flag was raised."""
    dismissed = await session.scalar(text(
        "SELECT 1 FROM risk_flags WHERE account_id = :a AND detector = :d AND status = 'dismissed' LIMIT 1"
    ), {"a": finding.account_id, "d": finding.detector})  # fmt: skip
    if dismissed:
        return False
    row = (await session.execute(text(
        "INSERT INTO risk_flags (account_id, server_id, login, user_id, detector, score, evidence) "
        "SELECT a.id, a.server_id, a.login, a.user_id, :d, :score, CAST(:ev AS jsonb) FROM trading_accounts a "
        "WHERE a.id = :a ON CONFLICT (account_id, detector) WHERE status <> 'dismissed' DO UPDATE SET "
        "score = excluded.score, evidence = excluded.evidence, updated_at = now() "
        "RETURNING id, (xmax = 0) AS created"
    ), {"a": finding.account_id, "d": finding.detector, "score": finding.score,
        "ev": json.dumps(finding.evidence, default=str)})).first()  # fmt: skip
    if row is None or not row.created:
        return False
    await record(session, actor, action="risk.flag_raised", entity_type="risk_flag", entity_id=row.id,
                 after={"account_id": finding.account_id, "detector": finding.detector, "score": str(finding.score),
                        "evidence": finding.evidence})  # fmt: skip
    return True


async def run(session: AsyncSession, actor: Actor, accounts: list[int]) -> int:
    """Evaluate every detector for these accounts; returns the number of new flags."""
    if not accounts:
        return 0
    th = await load_thresholds(session)
    findings = await _account_findings(session, th, accounts) + await _hedge_findings(session, th, accounts)
    new = 0
    for f in findings:
        new += await store(session, actor, f)
    return new
