"""Detectors against the simulator's planted behaviour profiles: precision and recall per detector."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text

from domain.risk.calendar import import_calendar
from domain.shared.actor import system_actor
from domain.trading import accounts
from domain.trading.puller import pull_server
from tests.platforms.conftest import SimServer
from tests.risk.conftest import MINUTES, calendar_csv, process_pending
from tests.trading.conftest import new_server, sim_platform

# abnormal_execution is scored on its HFT sub-rule (short holds) against the planted scalpers.
EXPECTED = {"latency_arbitrage": "latency_arbitrage", "news": "news_trader", "abnormal_execution": "scalper",
            "hedging": "hedger"}  # fmt: skip
MIN_PRECISION = {"latency_arbitrage": 1.0, "news": 0.75, "abnormal_execution": 0.8, "hedging": 1.0}
MIN_RECALL = {"latency_arbitrage": 1.0, "news": 0.66, "abnormal_execution": 0.8, "hedging": 1.0}


_PULLED: dict[str, tuple[int, dict[int, str], dict[int, int]]] = {}


async def pulled(session_factory: Any, risk_sim: SimServer) -> tuple[int, dict[int, str], dict[int, int]]:
    """The simulator's deals pulled and run through the risk step once per test session."""
    if risk_sim.base_url not in _PULLED:
        _PULLED[risk_sim.base_url] = await _setup(session_factory, risk_sim)
        await process_pending(session_factory, _PULLED[risk_sim.base_url][0])
    return _PULLED[risk_sim.base_url]


async def _setup(session_factory: Any, risk_sim: SimServer) -> tuple[int, dict[int, str], dict[int, int]]:
    server_id = await new_server(session_factory, risk_sim.base_url, risk_sim.password)
    truth = {int(k): v for k, v in risk_sim.ok("GET", "ground-truth")["traders"].items()}
    pairs = risk_sim.ok("GET", "ground-truth")["hedge_pairs"]
    now_ms = int(risk_sim.ok("GET", "state")["now_ms"])
    platform = sim_platform(risk_sim)
    try:
        specs = await accounts.fetch_account_specs(platform, sorted(truth))
        async with session_factory() as s, s.begin():
            await accounts.register_accounts(s, server_id, specs)
            await import_calendar(s, system_actor("test"), calendar_csv(now_ms - (MINUTES + 5) * 60_000, now_ms))
            ids = {r.login: r.id for r in await s.execute(
                text("SELECT login, id FROM trading_accounts WHERE server_id = :s"), {"s": server_id})}
            # Link data: the hedger pairs share a payment method; two ordinary traders share an IP
            # (a household), which alone must not raise a flag.
            ordinary = [login for login, p in sorted(truth.items()) if p == "ordinary"][:2]
            for a, b in [*pairs, ordinary]:
                x, y = sorted((ids[a], ids[b]))
                await s.execute(text("INSERT INTO risk_account_links (account_a, account_b, kind) "
                                     "VALUES (:a, :b, 'payment')"), {"a": x, "b": y})
        result = await pull_server(session_factory, server_id, platform, page_size=500)
        assert result.error is None
    finally:
        await platform.aclose()
    return server_id, truth, ids


async def test_detectors_find_planted_profiles_and_leave_ordinary_traders_alone(
    session_factory: Any, risk_sim: SimServer
) -> None:
    server_id, truth, ids = await pulled(session_factory, risk_sim)
    async with session_factory() as s:
        assert await s.scalar(text("SELECT count(*) FROM risk_batches WHERE server_id = :s"), {"s": server_id})
    login_of = {v: k for k, v in ids.items()}
    async with session_factory() as s:
        flags = (await s.execute(text(
            "SELECT account_id, detector, evidence FROM risk_flags WHERE server_id = :s"), {"s": server_id})).all()
        audited = await s.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'risk.flag_raised' "
                                      "AND entity_id = ANY(:ids)"),
                                 {"ids": [str(i) for i in await s.scalars(text(
                                     "SELECT id FROM risk_flags WHERE server_id = :s"), {"s": server_id})]})
    assert audited == len(flags)
    figures = {}
    for detector, profile in EXPECTED.items():
        flagged = {login_of[f.account_id] for f in flags if f.detector == detector
                   and (detector != "abnormal_execution" or "hft_short_holds" in f.evidence["reasons"])}
        planted = {login for login, p in truth.items() if p == profile}
        hits = len(flagged & planted)
        precision = hits / len(flagged) if flagged else 0.0
        recall = hits / len(planted)
        figures[detector] = (round(precision, 3), round(recall, 3), len(flagged), len(planted))
        wrong = {login: truth[login] for login in flagged - planted}
        print(f"{detector}: precision={precision:.3f} recall={recall:.3f} flagged={len(flagged)} "
              f"planted={len(planted)} false_positives={wrong}")
    for detector, (precision, recall, _, _) in figures.items():
        assert precision >= MIN_PRECISION[detector], figures
        assert recall >= MIN_RECALL[detector], figures
    # Equity doubling is scored on its own: each such flag must sit on an account that did double.
    for f in flags:
        if f.detector == "abnormal_execution" and "equity_doubling" in f.evidence["reasons"]:
            fig = f.evidence["figures"]
            assert Decimal(fig["realised_pnl"]) >= Decimal(fig["deposits"]), fig
            print(f"equity_doubling: {truth[login_of[f.account_id]]} realised={fig['realised_pnl']}")
    ordinary = {ids[login] for login, p in truth.items() if p == "ordinary"}
    assert not [f for f in flags if f.account_id in ordinary]
    # Evidence names deals and the thresholds in force.
    sample = next(f for f in flags if f.detector == "latency_arbitrage")
    assert sample.evidence["deals"] and sample.evidence["thresholds"]["min_profit_factor"] == 1.5

    # The same batches again change nothing (idempotent per batch).
    assert await process_pending(session_factory, server_id) == []
