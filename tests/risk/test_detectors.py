"""Detectors against the simulator's planted behaviour profiles: precision and recall per detector."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.platforms.errors import PlatformProtocolError
from domain.platforms.mt5 import wire
from domain.platforms.port import OrderKind
from domain.risk import links, metrics
from domain.risk.calendar import import_calendar
from domain.risk.detectors import DEFAULTS, _account_findings, load_thresholds, set_threshold
from domain.risk.errors import RiskThresholdInvalid
from domain.risk.requests import pull_requests
from domain.shared.actor import system_actor
from domain.trading import accounts
from domain.trading.puller import pull_server
from tests.platforms.conftest import SimServer
from tests.risk.conftest import MINUTES, calendar_csv, process_pending
from tests.trading.conftest import new_server, sim_platform

# abnormal_execution is scored on its HFT sub-rule (short holds) against the planted scalpers.
EXPECTED = {"latency_arbitrage": "latency_arbitrage", "news": "news_trader", "abnormal_execution": "scalper",
            "hedging": "hedger", "request_flood": "flooder"}  # fmt: skip
MIN_PRECISION = {"latency_arbitrage": 1.0, "news": 0.75, "abnormal_execution": 0.8, "hedging": 1.0,
                 "request_flood": 1.0}  # fmt: skip
MIN_RECALL = {"latency_arbitrage": 1.0, "news": 0.66, "abnormal_execution": 0.8, "hedging": 1.0,
              "request_flood": 1.0}  # fmt: skip


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
                await links.link(s, system_actor("test"), ids[a], ids[b], "payment", "shared card")
        result = await pull_server(session_factory, server_id, platform, page_size=500)
        assert result.error is None
        # Order requests first, as their job may well run before the deals' risk step.
        requests = await pull_requests(session_factory, server_id, platform, system_actor("test"), page_size=500)
        assert requests.supported and requests.fetched > result.fetched / 2
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


async def test_slippage_is_asymmetric_for_latency_arbitrage_only(session_factory: Any, risk_sim: SimServer) -> None:
    _, truth, ids = await pulled(session_factory, risk_sim)
    async with session_factory() as s:
        figures = {login: await metrics.account_metrics(s, ids[login]) for login in truth}
    arb = [m for login, m in figures.items() if truth[login] == "latency_arbitrage" and m is not None]
    ordinary = [m for login, m in figures.items() if truth[login] == "ordinary" and m is not None]
    assert arb and ordinary
    for m in arb:  # fills slip their way, never against them
        assert m.slippage_points is not None and m.slippage_points > 0
        assert m.positive_slippage_share == 1.0 and m.order_requests > m.closed_trades
    # Ordinary fills slip both ways about equally: pooled, neither side dominates.
    async with session_factory() as s:
        favour, against = (await s.execute(text(
            "SELECT sum(slip_favour), sum(slip_against) FROM risk_account_metrics WHERE account_id = ANY(:ids)"
        ), {"ids": [ids[login] for login, p in truth.items() if p == "ordinary"]})).one()  # fmt: skip
    assert favour + against >= 20 and 0.3 <= favour / (favour + against) <= 0.7
    assert all(m.rejected_request_share is not None and m.rejected_request_share < 0.3 for m in ordinary)


async def test_request_pull_is_idempotent_and_flood_flags_carry_evidence(
    session_factory: Any, risk_sim: SimServer
) -> None:
    server_id, _, _ = await pulled(session_factory, risk_sim)
    platform = sim_platform(risk_sim)
    try:
        again = await pull_requests(session_factory, server_id, platform, system_actor("test"))
    finally:
        await platform.aclose()
    assert again.fetched == 0 and again.flags == 0
    async with session_factory() as s:
        flags = (await s.execute(text(
            "SELECT account_id, evidence FROM risk_flags WHERE server_id = :s AND detector = 'request_flood'"
        ), {"s": server_id})).all()  # fmt: skip
        audited = await s.scalar(text(
            "SELECT count(*) FROM audit_events WHERE action = 'risk.flag_raised' AND entity_id = ANY(CAST(:ids AS text[]))"
        ), {"ids": [str(i) for i in await s.scalars(text(
            "SELECT id FROM risk_flags WHERE server_id = :s AND detector = 'request_flood'"), {"s": server_id})]})
    assert flags and audited == len(flags)
    for f in flags:
        ev = f.evidence
        assert ev["figures"]["burst_seconds"] >= ev["thresholds"]["min_burst_seconds"]
        assert ev["bursts"][0][1] >= ev["thresholds"]["min_requests_per_s"] and ev["peak_second_orders"]


async def test_latency_arbitrage_needs_asymmetric_slippage_where_it_is_known(
    session_factory: Any, risk_sim: SimServer
) -> None:
    _, truth, ids = await pulled(session_factory, risk_sim)
    arb = [ids[login] for login, p in truth.items() if p == "latency_arbitrage"]
    actor = system_actor("test")
    async with session_factory() as s, s.begin():
        # given a favour share no account can reach, the arbitrageurs' fills no longer count as asymmetric
        await set_threshold(s, actor, "latency_arbitrage", {"min_favour_share": 1.01})
        found = await _account_findings(s, await load_thresholds(s), arb)
        assert not [f for f in found if f.detector == "latency_arbitrage"]
        # given too few slipped fills to judge, slippage is no evidence either way and they are found again
        await set_threshold(s, actor, "latency_arbitrage", {"min_favour_share": 1.01, "min_slipped_fills": 10_000})
        found = await _account_findings(s, await load_thresholds(s), arb)
        assert {f.account_id for f in found if f.detector == "latency_arbitrage"} == set(arb)
        await s.rollback()


async def test_news_detector_finds_pending_straddles_of_news_traders_only(
    session_factory: Any, risk_sim: SimServer
) -> None:
    server_id, truth, ids = await pulled(session_factory, risk_sim)
    login_of = {v: k for k, v in ids.items()}
    planted = {int(k): n for k, n in risk_sim.ok("GET", "ground-truth")["straddles"].items()}
    assert planted and {truth[login] for login in planted} == {"news_trader"}
    async with session_factory() as s:
        stops = dict((await s.execute(text(
            "SELECT account_id, count(*) FROM risk_order_requests WHERE server_id = :s AND order_kind = 'STOP' "
            "GROUP BY 1"), {"s": server_id})).all())  # fmt: skip
        flags = (await s.execute(text(
            "SELECT id, account_id, evidence FROM risk_flags WHERE server_id = :s AND detector = 'news'"
        ), {"s": server_id})).all()  # fmt: skip
        audited = set(await s.scalars(text(
            "SELECT entity_id FROM audit_events WHERE action = 'risk.flag_raised' AND entity_id = ANY(:ids)"
        ), {"ids": [str(f.id) for f in flags]}))  # fmt: skip
    # Stop orders reach the CRM with their kind: two per straddle, from the news traders alone.
    assert {login_of[a]: n for a, n in stops.items()} == {login: 2 * n for login, n in planted.items()}
    found = {login_of[f.account_id]: f.evidence for f in flags if "pending_straddles" in f.evidence["reasons"]}
    expected = {login for login, n in planted.items() if n >= DEFAULTS["news"]["min_straddles"]}
    print(f"straddles: planted={planted} flagged={ {login: e['figures']['straddles'] for login, e in found.items()} }")
    assert expected and set(found) == expected
    assert audited == {str(f.id) for f in flags}
    for login, ev in found.items():
        t = ev["thresholds"]
        assert ev["figures"]["straddles"] == planted[login] == len(ev["straddles"])  # every one recognised
        for st in ev["straddles"]:
            assert 0 < st["lead_ms"] <= t["straddle_window_ms"] and Decimal(st["buy_stop"]) > Decimal(st["sell_stop"])
            assert abs(st["placed_ms"][0] - st["placed_ms"][1]) <= t["straddle_pair_ms"]
        assert any(st["filled"] for st in ev["straddles"])  # the news move triggered one leg

    # Thresholds decide: placed earlier than a 1 s window allows, they are no straddles any more;
    # one symbol's own window narrows only that symbol's straddles.
    news_ids = [ids[login] for login in expected]
    actor = system_actor("test")
    async with session_factory() as s, s.begin():
        await set_threshold(s, actor, "news", {"straddle_window_ms": 1000})
        found_now = await _account_findings(s, await load_thresholds(s), news_ids)
        assert not [f for f in found_now if "pending_straddles" in f.evidence["reasons"]]
        await set_threshold(s, actor, "news", {"straddle_window_ms": 60_000})
        symbol = found[min(expected)]["straddles"][0]["symbol"]
        await set_threshold(s, actor, "news", {"straddle_window_ms": 1000}, symbol=symbol)
        narrowed = {f.account_id: f.evidence for f in await _account_findings(s, await load_thresholds(s), news_ids)
                    if f.detector == "news"}  # fmt: skip
        kept = [st for login in sorted(expected, key=lambda x: ids[x]) for st in found[login]["straddles"]
                if st["symbol"] != symbol]  # fmt: skip
        assert [st for ev in narrowed.values() for st in ev["straddles"]] == kept
        await s.rollback()


def test_order_kinds_from_the_history_and_bad_input() -> None:
    base = {"Order": "7", "Login": "100", "Symbol": "EURUSD", "State": "2", "TimeSetupMsc": "1000",
            "TimeDoneMsc": "61000", "PriceOrder": "1.1", "VolumeInitialExt": "10000000"}  # fmt: skip
    sell_stop = wire.order_request({**base, "Type": "5"})
    assert (sell_stop.kind, sell_stop.action, sell_stop.time_msc, sell_stop.done_msc) == (OrderKind.STOP, 1, 1000, 61000)
    market = wire.order_request({k: v for k, v in base.items() if k != "TimeDoneMsc"})  # no Type: a market buy
    assert (market.kind, market.action, market.done_msc) == (OrderKind.MARKET, 0, None)
    close_by = wire.order_request({**base, "Type": "8"})  # close-by and unknown types: no kind of ours, no side
    assert (close_by.kind, close_by.action) == (OrderKind.OTHER, 0)
    assert wire.order_request({**base, "Type": "42"}).kind is OrderKind.OTHER
    with pytest.raises(PlatformProtocolError):
        wire.order_request({**base, "Type": "stop"})


async def test_straddle_thresholds_refuse_unknown_parameters(session_factory: Any) -> None:
    count = "SELECT (SELECT count(*) FROM risk_thresholds) + (SELECT count(*) FROM audit_events)"
    async with session_factory() as s, s.begin():
        before = await s.scalar(text(count))
        with pytest.raises(RiskThresholdInvalid) as err:
            await set_threshold(s, system_actor("test"), "news", {"straddle_window": 1000})
        assert err.value.code == "RISK_THRESHOLD_INVALID"
        assert await s.scalar(text(count)) == before  # refused: no threshold stored, nothing audited
        await s.rollback()
