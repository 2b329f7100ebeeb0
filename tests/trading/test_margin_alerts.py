"""Margin alerts from ingested account states: one notification per crossing below the warning level (and one
for the stop-out), nothing more while the level stays below, again after a recovery; duplicate and concurrent
ingestion of the same state notify once (and the deal pull evaluates the server's figures); only the owner hears of it. Staff set the levels (audited); bad levels
are refused with a typed error and change nothing."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import strawberry
from sqlalchemy import text

from domain.platforms.port import AccountState
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import utcnow
from domain.trading import margin_alerts
from domain.trading.live import LiveState, OwnedAccount
from domain.trading.puller import pull_server
from schema.node import global_id
from tests.graphql_exec import run_as
from tests.platforms.conftest import SimServer, new_funded_account
from tests.trading.conftest import new_client_user, new_server, sim_platform


async def _account(session_factory: Any, server_id: int, user_id: int, login: int) -> OwnedAccount:
    async with session_factory() as session, session.begin():
        aid = await session.scalar(text(
            "INSERT INTO trading_accounts (server_id, login, user_id, \"group\", leverage, currency) "
            "VALUES (:s, :l, :u, 'real', 100, 'USD') RETURNING id"), {"s": server_id, "l": login, "u": user_id})
    return OwnedAccount(int(aid), user_id, server_id, login)


def _state(login: int, equity: str, margin: str) -> LiveState:
    e, m = Decimal(equity), Decimal(margin)
    return LiveState(AccountState(login, "USD", e, Decimal(0), e, m, e - m, Decimal(0), Decimal(0)), utcnow(), False)


async def _ingest(session_factory: Any, account: OwnedAccount, equity: str, margin: str) -> int:
    async with session_factory() as session, session.begin():
        return await margin_alerts.evaluate(session, account.server_id, [account], [_state(account.login, equity,
                                                                                            margin)])


async def _notes(session_factory: Any, user_id: int) -> list[tuple[str, dict[str, str]]]:
    async with session_factory() as s:
        rows = (await s.execute(text(
            "SELECT kind, details FROM notifications WHERE user_id = :u ORDER BY id"), {"u": user_id})).all()
    return [(r.kind, r.details) for r in rows]


async def _events(session_factory: Any, user_id: int) -> int:
    async with session_factory() as s:
        return int(await s.scalar(text(
            "SELECT count(*) FROM outbox WHERE topic = 'user.notification' AND (payload->>'user_id')::bigint = :u "
            "AND payload->>'kind' LIKE 'trading.margin%'"), {"u": user_id}) or 0)


async def test_one_alert_per_crossing_and_only_to_the_owner(session_factory: Any) -> None:
    server_id = await new_server(session_factory, "http://127.0.0.1:9", "pw-unused-1A!")
    owner, other = await new_client_user(session_factory), await new_client_user(session_factory)
    account = await _account(session_factory, server_id, owner, 7001)
    await _account(session_factory, server_id, other, 7002)

    assert await _ingest(session_factory, account, "1500", "1000") == 0  # 150%: healthy
    assert await _ingest(session_factory, account, "0", "0") == 0  # no margin in use: no level
    assert await _ingest(session_factory, account, "900.5", "1000") == 1  # 90.05%: below the warning level
    notes = await _notes(session_factory, owner)
    assert [k for k, _ in notes] == [margin_alerts.MARGIN_WARNING]
    assert notes[0][1] == {"login": "7001", "margin_level": "90.05", "threshold": "100", "equity": "900.50",
                           "margin": "1000.00", "currency": "USD"}
    # Staying below (even lower, above the stop-out level) raises nothing more.
    assert await _ingest(session_factory, account, "800", "1000") == 0
    assert await _ingest(session_factory, account, "800", "1000") == 0
    # Below the stop-out level: the stop-out, once.
    assert await _ingest(session_factory, account, "400", "1000") == 1
    assert await _ingest(session_factory, account, "300", "1000") == 0
    assert await _ingest(session_factory, account, "700", "1000") == 0  # back between the levels: still the episode
    assert [k for k, _ in await _notes(session_factory, owner)] == [margin_alerts.MARGIN_WARNING,
                                                                    margin_alerts.MARGIN_STOP_OUT]
    # Recovered, then down again: alerted again; straight below the stop-out: the stop-out alone.
    assert await _ingest(session_factory, account, "1000", "1000") == 0  # exactly 100%: recovered
    assert await _ingest(session_factory, account, "990", "1000") == 1
    assert await _ingest(session_factory, account, "2000", "1000") == 0
    assert await _ingest(session_factory, account, "100", "1000") == 1
    kinds = [k for k, _ in await _notes(session_factory, owner)]
    assert kinds == [margin_alerts.MARGIN_WARNING, margin_alerts.MARGIN_STOP_OUT, margin_alerts.MARGIN_WARNING,
                     margin_alerts.MARGIN_STOP_OUT]
    assert await _events(session_factory, owner) == 4  # each announced (live, and to push) through the outbox
    # The other client, on the same server, heard nothing.
    assert await _notes(session_factory, other) == [] and await _events(session_factory, other) == 0


async def test_duplicate_and_concurrent_ingestion_alert_once(session_factory: Any) -> None:
    server_id = await new_server(session_factory, "http://127.0.0.1:9", "pw-unused-1A!")
    owner = await new_client_user(session_factory)
    account = await _account(session_factory, server_id, owner, 7101)
    # The same state in one batch twice, then in eight concurrent transactions.
    async with session_factory() as session, session.begin():
        twice = await margin_alerts.evaluate(session, server_id, [account, account],
                                             [_state(7101, "500", "1000")] * 2)
    assert twice == 1
    raised = await asyncio.gather(*(_ingest(session_factory, account, "500", "1000") for _ in range(8)))
    assert sum(raised) == 0
    await _ingest(session_factory, account, "1500", "1000")  # recovered
    raised = await asyncio.gather(*(_ingest(session_factory, account, "400", "1000") for _ in range(8)))
    assert sum(raised) == 1
    assert [k for k, _ in await _notes(session_factory, owner)] == [margin_alerts.MARGIN_WARNING,  # 50% is not below 50
                                                                    margin_alerts.MARGIN_STOP_OUT]


SET = """mutation($s: ID!, $w: Decimal!, $o: Decimal!) { setMarginAlertLevels(serverId: $s, warningLevel: $w,
  stopOutLevel: $o) { marginAlertLevels { serverId warningLevel stopOutLevel } errors { code field } } }"""
GET = "query($s: ID!) { marginAlertLevels(serverId: $s) { warningLevel stopOutLevel } }"


async def test_staff_set_levels_and_bad_levels_change_nothing(
    trading_schema: strawberry.Schema, runtime: Any, session_factory: Any,
) -> None:
    server_id = await new_server(session_factory, "http://127.0.0.1:9", "pw-unused-1A!")
    sid = global_id("TradingServer", server_id)
    staff = Actor(ActorKind.STAFF, user_id=await new_client_user(session_factory),
                  permissions=frozenset({"trading.manage", "trading.read"}))
    got = await run_as(trading_schema, runtime, staff, GET, s=sid)
    assert got.errors is None and got.data["marginAlertLevels"] == {"warningLevel": "100", "stopOutLevel": "50"}

    async def audits() -> int:
        async with session_factory() as s:
            return int(await s.scalar(text(
                "SELECT count(*) FROM audit_events WHERE entity_type = 'trading_server' AND entity_id = :i "
                "AND action = 'trading_server.margin_levels_set'"), {"i": str(server_id)}) or 0)

    for w, o, field in (("80", "90", "stopOutLevel"), ("80", "80", "stopOutLevel"), ("0", "0", "warningLevel"),
                        ("120", "-5", "stopOutLevel"), ("120.001", "50", "warningLevel"),
                        ("20000", "50", "warningLevel")):
        refused = await run_as(trading_schema, runtime, staff, SET, s=sid, w=w, o=o)
        assert refused.errors is None, refused.errors
        payload = refused.data["setMarginAlertLevels"]
        assert payload == {"marginAlertLevels": None,
                           "errors": [{"code": "TRADING_INVALID_MARGIN_LEVELS", "field": field}]}, (w, o)
    missing = await run_as(trading_schema, runtime, staff, SET, s=global_id("TradingServer", 987654321), w="120", o="60")
    assert missing.data["setMarginAlertLevels"]["errors"][0]["code"] == "TRADING_SERVER_NOT_FOUND"
    client = Actor(ActorKind.CLIENT, user_id=staff.user_id)
    forbidden = await run_as(trading_schema, runtime, client, SET, s=sid, w="120", o="60")
    assert forbidden.data is None and forbidden.errors[0].extensions == {"code": "FORBIDDEN"}
    assert (await run_as(trading_schema, runtime, client, GET, s=sid)).data is None
    assert await audits() == 0
    assert (await run_as(trading_schema, runtime, staff, GET, s=sid)).data["marginAlertLevels"]["warningLevel"] == "100"

    done = await run_as(trading_schema, runtime, staff, SET, s=sid, w="120", o="60.5")
    assert done.errors is None and done.data["setMarginAlertLevels"] == {
        "marginAlertLevels": {"serverId": sid, "warningLevel": "120", "stopOutLevel": "60.5"}, "errors": []}
    assert await audits() == 1
    # The new levels apply to the next ingestion: 110% is now below the warning level.
    owner = await new_client_user(session_factory)
    account = await _account(session_factory, server_id, owner, 7201)
    assert await _ingest(session_factory, account, "1100", "1000") == 1
    assert (await _notes(session_factory, owner))[0][1]["threshold"] == "120"


async def test_the_deal_pull_alerts_from_the_servers_figures(session_factory: Any, trading_sim: SimServer) -> None:
    """End to end: a trade on the simulator, the pull stores its deal and evaluates the account's fresh figures."""
    platform = sim_platform(trading_sim)
    try:
        server_id = await new_server(session_factory, trading_sim.base_url, trading_sim.password)
        login = await new_funded_account(platform, "2500")
        await pull_server(session_factory, server_id, platform)  # registers the account
        owner = await new_client_user(session_factory)
        async with session_factory() as session, session.begin():
            await session.execute(text("UPDATE trading_accounts SET user_id = :u WHERE server_id = :s AND login = :l"),
                                  {"u": owner, "s": server_id, "l": login})
            # A level no open position can meet: the first margin in use is below the warning level.
            await margin_alerts.set_levels(session, system_actor("test"), server_id, warning=Decimal(10_000),
                                           stop_out=Decimal(50))
        async with httpx.AsyncClient(base_url=trading_sim.base_url, timeout=20) as sim:
            traded = await sim.post("/sim/trade", json={"login": login, "symbol": "EURUSD", "side": "buy",
                                                        "lots": "0.1"})
            assert traded.status_code == 200, traded.text
        await pull_server(session_factory, server_id, platform)
        await pull_server(session_factory, server_id, platform)  # nothing new: nothing more
        state = await platform.get_account_state(login)
        notes = await _notes(session_factory, owner)
        assert [k for k, _ in notes] == [margin_alerts.MARGIN_WARNING]
        assert notes[0][1]["login"] == str(login) and notes[0][1]["threshold"] == "10000"
        assert notes[0][1]["margin"] == str(state.margin.quantize(Decimal("0.01")))
    finally:
        await platform.aclose()
