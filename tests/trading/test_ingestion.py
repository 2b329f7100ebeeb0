"""Deal ingestion against the real simulator over HTTP and real PostgreSQL."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from domain.platforms.port import DealEntry
from domain.trading.ingestion import TOPIC_DEALS_INGESTED, ingest_batch
from domain.trading.puller import pull_server
from tests.trading.conftest import all_sim_deals


async def _scalar(session_factory: Any, sql: str, **params: Any) -> Any:
    async with session_factory() as session:
        return await session.scalar(text(sql), params)


async def _events(session_factory: Any, server_id: int) -> int:
    return int(await _scalar(
        session_factory,
        "SELECT count(*) FROM outbox WHERE topic = :t AND (payload->>'server_id')::bigint = :s",
        t=TOPIC_DEALS_INGESTED, s=server_id,
    ))  # fmt: skip


async def test_pull_stores_every_simulator_deal_once_and_reingest_changes_nothing(
    session_factory: Any, server_id: int, platform: Any
) -> None:
    # given a simulator whose traders have produced 500+ deals
    sim_deals = await all_sim_deals(platform)
    assert len(sim_deals) >= 500

    # when the server is pulled in pages of 200
    result = await pull_server(session_factory, server_id, platform, page_size=200)

    # then every deal is stored exactly once, with one event per page that inserted something
    assert result.error is None and result.inserted == len(sim_deals)
    stored = await _scalar(session_factory, "SELECT array_agg(deal_id ORDER BY deal_id) FROM trading_deals "
                           "WHERE server_id = :s", s=server_id)
    assert stored == sorted(d.deal for d in sim_deals)
    assert await _events(session_factory, server_id) == result.events == result.pages
    deposits = sum(1 for d in sim_deals if d.action == 2)
    assert await _scalar(session_factory, "SELECT count(*) FROM trading_balance_operations WHERE server_id = :s "
                         "AND kind = 'DEPOSIT'", s=server_id) == deposits > 0
    # accounts opened outside the CRM were discovered, so no deal is flagged
    assert await _scalar(session_factory, "SELECT count(*) FROM trading_ingestion_errors WHERE server_id = :s",
                         s=server_id) == 0
    notional = await _scalar(session_factory, "SELECT min(notional_usd) FROM trading_deals WHERE server_id = :s "
                             "AND action IN (0, 1)", s=server_id)
    assert notional is not None and notional > 0

    # and positions match the simulator's open positions
    open_positions = {p.position: (p.volume, p.side.value) for p in await platform.open_positions()}
    async with session_factory() as session:
        rows = (await session.execute(text(
            "SELECT position_id, volume, side FROM trading_positions WHERE server_id = :s"), {"s": server_id})).all()
    assert {r[0]: (r[1], r[2]) for r in rows} == open_positions

    # when the same deals are ingested again, in one batch
    async with session_factory() as session, session.begin():
        again = await ingest_batch(session, server_id, sim_deals)

    # then nothing is inserted and no event is emitted
    assert (again.inserted, again.duplicates, again.conflicts, again.event_id) == (0, len(sim_deals), 0, None)
    assert await _events(session_factory, server_id) == result.events
    assert await _scalar(session_factory, "SELECT count(*) FROM trading_deals WHERE server_id = :s",
                         s=server_id) == len(sim_deals)

    # and a second pull finds nothing new
    second = await pull_server(session_factory, server_id, platform)
    assert second.inserted == 0 and second.events == 0


async def test_conflicting_duplicate_is_queued_and_never_overwrites(
    session_factory: Any, server_id: int, platform: Any
) -> None:
    deals = (await all_sim_deals(platform))[:50]
    async with session_factory() as session, session.begin():
        await ingest_batch(session, server_id, deals)
    events_before = await _events(session_factory, server_id)
    original = deals[10]
    altered = dataclasses.replace(original, profit=original.profit + Decimal("12.34"))

    async with session_factory() as session, session.begin():
        result = await ingest_batch(session, server_id, [altered, deals[11]])

    assert (result.inserted, result.conflicts, result.duplicates, result.event_id) == (0, 1, 2, None)
    assert await _scalar(session_factory, "SELECT profit FROM trading_deals WHERE server_id = :s AND deal_id = :d",
                         s=server_id, d=original.deal) == original.profit
    async with session_factory() as session:
        errors = (await session.execute(text(
            "SELECT deal_id, kind, raw->>'profit' FROM trading_ingestion_errors WHERE server_id = :s "
            "AND kind = 'conflicting_duplicate'"),
            {"s": server_id})).all()
    assert [(e[0], e[1]) for e in errors] == [(original.deal, "conflicting_duplicate")]
    assert Decimal(errors[0][2]) == altered.profit
    assert await _events(session_factory, server_id) == events_before

    # the same conflict seen again is not queued twice
    async with session_factory() as session, session.begin():
        await ingest_batch(session, server_id, [altered])
    assert await _scalar(session_factory, "SELECT count(*) FROM trading_ingestion_errors WHERE server_id = :s "
                         "AND kind = 'conflicting_duplicate'", s=server_id) == 1


async def test_unknown_login_and_symbol_are_stored_and_flagged(
    session_factory: Any, server_id: int, platform: Any
) -> None:
    template = next(d for d in await all_sim_deals(platform) if d.entry == DealEntry.IN and d.action == 0)
    async with session_factory() as session, session.begin():
        await ingest_batch(session, server_id, [template])  # an empty instrument list flags every symbol
        await session.execute(text(
            "INSERT INTO trading_instruments (server_id, symbol, canonical, asset_class, contract_size, "
            "base_currency, quote_currency, digits, pip_size) VALUES (:s, :sym, :sym, 'forex', 100000, "
            "'EUR', 'USD', 5, 0.0001)"), {"s": server_id, "sym": template.symbol})
        await session.execute(text(
            "INSERT INTO trading_accounts (server_id, login, \"group\", leverage, currency) "
            "VALUES (:s, :login, 'real\\standard', 100, 'USD')"), {"s": server_id, "login": template.login})
    stranger = dataclasses.replace(template, deal=9_000_001, login=424242, position_id=9_000_001)
    odd = dataclasses.replace(template, deal=9_000_002, symbol="NOSUCH", position_id=9_000_002)

    async with session_factory() as session, session.begin():
        result = await ingest_batch(session, server_id, [stranger, odd])

    assert (result.inserted, result.unknown_logins, result.unknown_symbols) == (2, 1, 1)
    assert result.event_id is not None
    async with session_factory() as session:
        errors = set((await session.execute(text(
            "SELECT deal_id, kind FROM trading_ingestion_errors WHERE server_id = :s AND deal_id > 9000000"),
            {"s": server_id})).all())
        stored = await session.scalar(text(
            "SELECT count(*) FROM trading_deals WHERE server_id = :s AND deal_id > 9000000"), {"s": server_id})
    assert errors == {(9_000_001, "unknown_login"), (9_000_002, "unknown_symbol")}
    assert stored == 2
