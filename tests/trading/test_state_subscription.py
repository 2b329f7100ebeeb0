"""tradingAccountStateUpdated over a real socket: the simulator trades on a client's account, the deal
pull stores the deals, and the owner hears the account's new balance/equity/margin (Money at the
currency's scale); another client subscribed at the same time hears nothing of it."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.trading.live import TOPIC_ACCOUNT_STATE
from domain.trading.puller import pull_server
from tests.conftest import GraphQLClient
from tests.identity.helpers import outbox_for, register
from tests.platforms.conftest import SimServer, new_funded_account
from tests.trading.conftest import new_server, sim_platform
from tests.wsclient import graphql_ws

SUBSCRIPTION = """subscription { tradingAccountStateUpdated { tradingAccountId login
  state { currency balance credit equity margin marginFree marginLevel floatingProfit asOf stale } } }"""


async def _client(http: httpx.AsyncClient, session_factory: Any) -> tuple[str, int]:
    reg = await register(GraphQLClient(http))
    async with session_factory() as session:
        uid = await session.scalar(text("SELECT id FROM users WHERE email_normalized = lower(:e)"), {"e": reg["email"]})
    return reg["accessToken"], int(uid)


async def _no_message(ws: Any, within_s: float) -> None:
    with pytest.raises(TimeoutError):
        await ws.receive(timeout=within_s)


async def test_the_owner_hears_its_account_change_and_nobody_else_does(
    http: httpx.AsyncClient, session_factory: Any, live_server: Any, relay: Any, trading_sim: SimServer,
) -> None:
    platform = sim_platform(trading_sim)
    try:
        server_id = await new_server(session_factory, trading_sim.base_url, trading_sim.password)
        login = await new_funded_account(platform, "2500")
        await pull_server(session_factory, server_id, platform)  # registers the account, funding deal stored
        owner_token, owner = await _client(http, session_factory)
        other_token, _ = await _client(http, session_factory)
        async with session_factory() as session, session.begin():
            account_id = await session.scalar(text(
                "UPDATE trading_accounts SET user_id = :u WHERE server_id = :s AND login = :l RETURNING id"),
                {"u": owner, "s": server_id, "l": login})
        before = len(await outbox_for(session_factory, TOPIC_ACCOUNT_STATE))

        async with graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {owner_token}"}) as mine, \
                graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {other_token}"}) as theirs:
            await mine.subscribe(SUBSCRIPTION)
            await theirs.subscribe(SUBSCRIPTION)
            await asyncio.sleep(0.5)
            # Pulling again with nothing new on the server announces nothing.
            await pull_server(session_factory, server_id, platform)
            assert len(await outbox_for(session_factory, TOPIC_ACCOUNT_STATE)) == before

            async with httpx.AsyncClient(base_url=trading_sim.base_url, timeout=20) as sim:
                traded = await sim.post("/sim/trade", json={"login": login, "symbol": "EURUSD", "side": "buy",
                                                            "lots": "0.1"})
                assert traded.status_code == 200, traded.text
            await pull_server(session_factory, server_id, platform)

            message = await mine.receive(timeout=15)
            assert message["type"] == "next" and not message["payload"].get("errors"), message
            update = message["payload"]["data"]["tradingAccountStateUpdated"]
            server_state = await platform.get_account_state(login)
            state = update["state"]
            assert update["login"] == login
            assert update["tradingAccountId"] == (await _global_id(http, owner_token, login))
            assert state["currency"] == "USD" and state["stale"] is False
            assert state["balance"] == "2500.00"  # the account's own scale, not 2500 or 2500.000000
            for field in ("balance", "credit", "equity", "margin", "marginFree", "floatingProfit"):
                assert len(state[field].split(".")[1]) == 2, (field, state[field])
            assert Decimal(state["margin"]) > 0  # the open position holds margin
            assert Decimal(state["margin"]) == server_state.margin.quantize(Decimal("0.01"))
            events = await outbox_for(session_factory, TOPIC_ACCOUNT_STATE)
            assert [e["trading_account_id"] for e in events[before:]] == [account_id]
            assert events[-1]["user_id"] == owner

            await _no_message(theirs, 2.0)
    finally:
        await platform.aclose()


async def _global_id(http: httpx.AsyncClient, token: str, login: int) -> str:
    body = await GraphQLClient(http, token)("{ myTradingAccounts(first: 10) { nodes { id login } } }")
    return str(next(a["id"] for a in body["data"]["myTradingAccounts"]["nodes"] if a["login"] == login))
