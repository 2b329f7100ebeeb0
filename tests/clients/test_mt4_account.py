"""A newcomer's MT4 server through the API: staff add it (platform "mt4": the sidecar's URL, its manager and
signing secret), an account type places clients on it, and a client's live account opens on MT4 through
the sidecar; the worker's pull ingests its deals like any platform's."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.platforms.port import AccountRights, BalanceOpKind
from domain.trading.puller import pull_server
from tests.clients.flow import DECIDE, SUBMIT, to_documents
from tests.conftest import unique
from tests.identity.staff import make_staff
from tests.platforms.conftest import MANAGER_LOGIN, SimServer

UPSERT = """mutation($i: TradingServerInput!) { upsertTradingServer(input: $i) {
  tradingServer { id databaseId name platform } errors { code field } } }"""
CREATE_TYPE = """mutation($i: AccountTypeInput!) { createAccountType(input: $i) { accountType { code serverId }
  errors { code field } } }"""
OPEN = """mutation($i: OpenMyLiveAccountInput!) { openMyLiveAccount(input: $i) {
  account { id login group leverage currency } status errors { code field } } }"""


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    server = SimServer(tmp_path_factory.mktemp("mt4-sidecar"), password=secrets.token_hex(24), seed=9, kind="mt4")
    server.start()
    yield server
    server.stop()


async def _servers(session_factory: Any, name: str) -> int:
    async with session_factory() as s:
        return int(await s.scalar(text("SELECT count(*) FROM trading_servers WHERE name = :n"), {"n": name}) or 0)


async def test_an_mt4_server_added_through_the_api_opens_accounts(
        http: httpx.AsyncClient, session_factory: Any, settings: Any, upload_url: str, brokerage: int,
        sidecar: SimServer) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    name = unique("mt4")
    server = {"name": name, "platform": "mt4", "baseUrl": sidecar.base_url, "managerLogin": MANAGER_LOGIN,
              "password": sidecar.password}

    wrong = await admin.client(UPSERT, {"i": {**server, "password": "not-the-secret"}})
    assert wrong["data"]["upsertTradingServer"] == {"tradingServer": None, "errors": [
        {"code": "TRADING_SERVER_AUTH_FAILED", "field": "password"}]}, wrong
    assert await _servers(session_factory, name) == 0
    added = await admin.client(UPSERT, {"i": server})
    payload = added["data"]["upsertTradingServer"]
    assert payload["errors"] == [] and payload["tradingServer"]["platform"] == "mt4", added
    server_id = payload["tradingServer"]["databaseId"]

    code = "mt4_" + uuid.uuid4().hex[:8]
    made = await admin.client(CREATE_TYPE, {"i": {"code": code, "name": "MT4 Raw", "currencies": ["USD"],
                                                  "serverId": str(server_id), "groupName": "real\\raw",
                                                  "defaultLeverage": 20, "maxLeverage": 30}})
    assert made["data"]["createAccountType"]["errors"] == [], made
    client, _, client_id = await to_documents(http, session_factory, upload_url)
    await client(SUBMIT)
    compliance = await make_staff(http, session_factory, settings, ["compliance"])
    await compliance.client(DECIDE, {"c": client_id, "d": "APPROVE", "r": "ok"})

    opened = await client(OPEN, {"i": {"accountType": code, "currency": "USD", "idempotencyKey": "mt4"}})
    account = opened["data"]["openMyLiveAccount"]
    assert account["errors"] == [] and account["status"] == "created", opened
    assert (account["account"]["group"], account["account"]["leverage"]) == ("real\\raw", 20)
    again = await client(OPEN, {"i": {"accountType": code, "currency": "USD", "idempotencyKey": "mt4"}})
    assert again["data"]["openMyLiveAccount"]["account"]["id"] == account["account"]["id"]  # one account

    login = int(account["account"]["login"])
    platform = sidecar.adapter()
    try:
        info = await platform.get_account(login)  # on the MT4 server, behind its sidecar
        assert (info.group, info.leverage, info.rights) == ("real\\raw", 20, AccountRights.ENABLED)
    finally:
        await platform.aclose()

    # Its deals come in through the same pull as any platform's.
    platform = sidecar.adapter()
    try:
        await platform.balance_operation(login, BalanceOpKind.DEPOSIT, Decimal("5000"), "test funds", unique("dep"))
        [position] = sidecar.ok("POST", "trade", {"login": login, "symbol": "EURUSD", "lots": "0.1"})["positions"]
        closing = sidecar.ok("POST", "close", {"position": position})["deal"]
        pulled = await pull_server(session_factory, int(server_id), platform)
    finally:
        await platform.aclose()
    assert pulled.error is None and pulled.inserted >= 3, pulled
    async with session_factory() as s:
        rows = (await s.execute(text("SELECT deal_id, position_id, entry FROM trading_deals WHERE server_id = :s "
                                     "AND login = :l AND symbol = 'EURUSD' ORDER BY deal_id"),
                                {"s": int(server_id), "l": login})).all()
    assert [tuple(r) for r in rows] == [(closing - 1, position, 0), (closing, position, 1)]
