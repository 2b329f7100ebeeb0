"""Exposure kept by the triggers, limits and alerts, bad input, segmentation synced to the simulator."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.ledger.transfers import register_platform, unregister_platform
from domain.risk import exposure, limits, segmentation
from domain.risk.calendar import import_calendar
from domain.risk.errors import CalendarInvalid, GroupMappingMissing, RiskLimitInvalid
from domain.risk.exposure import Dimension
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.errors import InvalidFields
from domain.shared.pagination import PageRequest
from tests.platforms.conftest import SimServer
from tests.risk.test_detectors import pulled
from tests.trading.conftest import sim_platform

ACTOR = system_actor("risk.test")


async def _count(factory: Any, sql: str, **params: Any) -> int:
    async with factory() as s:
        return int(await s.scalar(text(sql), params) or 0)


async def test_exposure_cube_matches_a_full_scan_and_prices_breakdowns(
    session_factory: Any, risk_sim: SimServer
) -> None:
    server_id, _, _ = await pulled(session_factory, risk_sim)
    async with session_factory() as s:
        scan = {k: v for k, v in (await exposure.full_scan(s)).items() if v}
        cube = {k: v for k, v in (await exposure.cube_by_symbol(s)).items() if v}
        assert scan and cube == scan
        before = await exposure.exposure(s, Dimension.BOOK, server_id=server_id)
    assert [line.key for line in before.lines] == ["UNMAPPED"] and before.unmapped_groups
    async with session_factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO risk_group_books (server_id, grp, book, a_book_pct) VALUES "
            "(:s, 'real\\standard', 'B', 0), (:s, 'real\\raw', 'HYBRID', 50), (:s, 'real\\pro', 'A', 100)"
        ), {"s": server_id})  # fmt: skip
    async with session_factory() as s:
        by_book = await exposure.exposure(s, Dimension.BOOK, server_id=server_id)
        by_symbol = await exposure.exposure(s, Dimension.SYMBOL, server_id=server_id)
        by_class = await exposure.exposure(s, Dimension.ASSET_CLASS, server_id=server_id)
        by_region = await exposure.exposure(s, Dimension.REGION, server_id=server_id)
    assert {line.key for line in by_book.lines} <= {"A", "B", "HYBRID"} and not by_book.unmapped_groups
    assert by_symbol.unpriced == [] and all(line.notional_usd is not None for line in by_symbol.lines)
    # Every breakdown is a partition of the same positions.
    assert sum(x.net_lots for x in by_symbol.lines) == sum(x.net_lots for x in by_class.lines)
    assert sum(x.positions for x in by_book.lines) == sum(x.positions for x in by_symbol.lines)
    # Simulator accounts have no client record, so no country: one "Unknown" region holds them all.
    assert [x.key for x in by_region.lines] == ["Unknown"]
    assert by_region.lines[0].net_lots == sum(x.net_lots for x in by_symbol.lines)
    assert by_region.lines[0].positions == sum(x.positions for x in by_symbol.lines)
    eur = next((x for x in by_symbol.lines if x.key == "EURUSD"), None)
    if eur is not None:  # base units = lots x 100 000 EUR
        assert eur.base_units == (eur.net_lots * 100_000).quantize(Decimal("0.01"))

    # A symbol without a price is reported and the rest still priced.
    missing = by_symbol.lines[0].key
    async with session_factory() as s, s.begin():
        saved = (await s.execute(text("DELETE FROM risk_prices WHERE server_id = :s AND symbol = :y "
                                      "RETURNING price, price_time"), {"s": server_id, "y": missing})).one()
        partial = await exposure.exposure(s, Dimension.SYMBOL, server_id=server_id)
        await s.execute(text("INSERT INTO risk_prices VALUES (:s, :y, :p, :t)"),
                        {"s": server_id, "y": missing, "p": saved.price, "t": saved.price_time})
    # Its own line, and lines converted to USD through it (e.g. JPY crosses via USDJPY), lose money figures.
    assert missing in partial.unpriced and len(partial.unpriced) < len(partial.lines)
    assert all((x.notional_usd is None) == (x.key in partial.unpriced) for x in partial.lines)


async def test_limits_open_and_clear_alerts_and_refuse_bad_limits(session_factory: Any, risk_sim: SimServer) -> None:
    await pulled(session_factory, risk_sim)
    async with session_factory() as s:
        top = (await exposure.exposure(s, Dimension.SYMBOL)).lines[0]
    audit_before = await _count(session_factory, "SELECT count(*) FROM audit_events")
    with pytest.raises(RiskLimitInvalid) as bad:
        await in_transaction(session_factory, lambda s: limits.set_limit(s, ACTOR, "symbol", top.key, Decimal(-1), None))
    assert bad.value.code == "RISK_LIMIT_INVALID"
    assert await _count(session_factory, "SELECT count(*) FROM risk_limits WHERE key = :k", k=top.key) == 0
    assert await _count(session_factory, "SELECT count(*) FROM audit_events") == audit_before

    tight = abs(top.net_lots) / 2
    await in_transaction(session_factory, lambda s: limits.set_limit(s, ACTOR, "symbol", top.key, tight, None))
    opened = await in_transaction(session_factory, lambda s: limits.evaluate(s, ACTOR))
    assert [(a.key, a.measure) for a in opened] == [(top.key, "net_lots")]
    assert await in_transaction(session_factory, lambda s: limits.evaluate(s, ACTOR)) == []  # still one open alert
    # Far above any exposure here: in full-suite runs the symbol's exposure was seen past four times
    # the first reading by this point (cause not pinned down), so a small multiple made this flaky.
    roomy = Decimal(1_000_000)
    await in_transaction(session_factory, lambda s: limits.set_limit(s, ACTOR, "symbol", top.key, roomy, None))
    await in_transaction(session_factory, lambda s: limits.evaluate(s, ACTOR))
    async with session_factory() as s:
        # other tests open alerts on their own symbols meanwhile: only this limit's count
        assert [a for a in (await limits.list_alerts(s, PageRequest(size=100))).items if a.key == top.key] == []
    assert await _count(session_factory, "SELECT count(*) FROM audit_events WHERE action IN "
                        "('risk.limit_exceeded', 'risk.limit_cleared')") >= 2


async def test_a_calendar_that_does_not_parse_is_refused_whole(session_factory: Any) -> None:
    before = await _count(session_factory, "SELECT count(*) FROM risk_calendar")
    content = ("time_utc,currency,impact,title\n2024-01-05T13:30:00Z,USD,high,NFP\n"
               "yesterday,USD,high,Broken\n2024-01-05T15:00:00Z,USD,extreme,Bad impact\n")
    with pytest.raises(InvalidFields) as exc:
        await in_transaction(session_factory, lambda s: import_calendar(s, ACTOR, content))
    assert [(e.code, e.message.split(":")[0]) for e in exc.value.errors] == [
        ("RISK_CALENDAR_TIME_INVALID", "line 3"), ("RISK_CALENDAR_IMPACT_INVALID", "line 4")]
    assert await _count(session_factory, "SELECT count(*) FROM risk_calendar") == before
    with pytest.raises(CalendarInvalid):
        await in_transaction(session_factory, lambda s: import_calendar(s, ACTOR, "a,b\n1,2\n"))


async def test_segmentation_override_reaches_the_simulator_and_moves_exposure(
    session_factory: Any, risk_sim: SimServer
) -> None:
    server_id, truth, ids = await pulled(session_factory, risk_sim)
    arb = next(login for login, p in sorted(truth.items()) if p == "latency_arbitrage")
    account_id = ids[arb]
    # A rule that matches everything is refused; one over the flags is stored with its reach.
    with pytest.raises(Exception) as everything:
        await in_transaction(session_factory, lambda s: segmentation.add_rule(s, ACTOR, "all", 1, {}, "B", Decimal(0)))
    assert getattr(everything.value, "code", None) == "RISK_SEGMENT_RULE_INVALID"
    check = await in_transaction(session_factory, lambda s: segmentation.add_rule(
        s, ACTOR, "toxic to A-book", 10, {"any_flag": ["latency_arbitrage"]}, "A", Decimal(100)))
    # The worker's database may hold other pulls' accounts too: the reach counts every flagged account,
    # this simulator's three latency arbitrageurs among them.
    flagged = await _count(session_factory, "SELECT count(DISTINCT f.account_id) FROM risk_flags f "
                           "JOIN risk_account_metrics m USING (account_id) "
                           "WHERE f.detector = 'latency_arbitrage' AND f.status <> 'dismissed'")
    mine = await _count(session_factory, "SELECT count(DISTINCT f.account_id) FROM risk_flags f "
                        "JOIN trading_accounts a ON a.id = f.account_id WHERE a.server_id = :s "
                        "AND f.detector = 'latency_arbitrage' AND f.status <> 'dismissed'", s=server_id)
    assert mine == 3 and check.matched == flagged and check.warning is None

    async with session_factory() as s, s.begin():
        await s.execute(text("INSERT INTO risk_group_books VALUES (:s, 'real\\standard', 'B', 0), "
                             "(:s, 'real\\raw', 'HYBRID', 50) ON CONFLICT DO NOTHING"), {"s": server_id})
        await s.execute(text("DELETE FROM risk_group_books WHERE server_id = :s AND book = 'A'"), {"s": server_id})
    with pytest.raises(GroupMappingMissing):
        await in_transaction(session_factory, lambda s: segmentation.override(
            s, ACTOR, account_id, "A", Decimal(100), "desk decision"))
    async with session_factory() as s, s.begin():
        await s.execute(text("INSERT INTO risk_group_books VALUES (:s, 'real\\pro', 'A', 100)"), {"s": server_id})

    changed = await in_transaction(session_factory, lambda s: segmentation.classify(s, ACTOR, [account_id]))
    assert [(c.book, c.target_group, c.sync_status) for c in changed] == [("A", "real\\pro", "pending")]
    platform = sim_platform(risk_sim)
    register_platform(str(server_id), platform)
    try:
        assert await segmentation.sync_pending(session_factory, ACTOR) >= 1
        assert (await platform.get_account(arb)).group == "real\\pro"
        assert await segmentation.sync_pending(session_factory, ACTOR) == 0  # nothing left: idempotent
        drift = await segmentation.drift_report(session_factory, server_id)
        assert account_id not in {d.account_id for d in drift}
        # The server is changed behind our back: the drift report shows it.
        await platform.update_account(arb, group="real\\standard")
        drift = await segmentation.drift_report(session_factory, server_id)
        assert [(d.expected_group, d.crm_group, d.server_group) for d in drift if d.account_id == account_id] == [
            ("real\\pro", "real\\pro", "real\\standard")]
        # An override with a reason wins over rules and is synced the same way.
        await in_transaction(session_factory, lambda s: segmentation.override(
            s, ACTOR, account_id, "B", Decimal(0), "client complained, desk decision"))
        await segmentation.sync_pending(session_factory, ACTOR)
        assert (await platform.get_account(arb)).group == "real\\standard"
        assert await in_transaction(session_factory, lambda s: segmentation.classify(s, ACTOR, [account_id])) == []
    finally:
        unregister_platform(str(server_id))
        await platform.aclose()
    async with session_factory() as s:
        scan = {k: v for k, v in (await exposure.full_scan(s)).items() if v}
        cube = {k: v for k, v in (await exposure.cube_by_symbol(s)).items() if v}
        assert cube == scan
        by_group = await exposure.exposure(s, Dimension.GROUP, server_id=server_id)
        assert sum(x.positions for x in by_group.lines) == await s.scalar(
            text("SELECT count(*) FROM trading_positions WHERE server_id = :s AND volume <> 0"), {"s": server_id})
