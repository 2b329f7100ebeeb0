"""Transfers name the trading account by its id (tradingAccount.id); another client's account is not found."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from domain.ledger import wallets
from domain.ledger.accounts import link_trading_account, wallet_for
from domain.ledger.transfers import register_platform, unregister_platform
from domain.platforms.port import NewAccount
from domain.shared.db import in_transaction
from domain.trading.accounts import AccountSpec, register_accounts
from domain.trading.models import TradingAccount
from domain.trading.servers import ServerConfig, upsert_server
from schema.context import Context
from schema.node import global_id
from schema.root import build_schema
from tests.ledger.conftest import client, key, snapshot
from tests.platforms.conftest import SimServer

TO = """mutation($i: TransferToTradingAccountInput!) { transferToTradingAccount(input: $i) {
  transfer { status amount tradingAccountId tradingAccountLogin } errors { code field } } }"""


@pytest.fixture(scope="module")
def schema(settings: Any) -> Any:
    return build_schema(settings)


async def run(schema: Any, runtime: Any, uid: int, query: str, **variables: Any) -> Any:
    ctx = Context(services=runtime.services, request=None, response=None, request_id="t",  # type: ignore[arg-type]
                  actor=client(uid))
    return await schema.execute(query, variable_values=variables, context_value=ctx)


@pytest.fixture
async def setup(session_factory, settings, make_user, sim: SimServer) -> Any:
    platform = sim.platform(timeout=1.0)
    uid = await make_user()
    login = (await platform.create_account(NewAccount(group="real\\standard", leverage=100, name="T"))).login
    currency = (await platform.get_account_state(login)).currency

    async def prepare(s: Any) -> tuple[int, int, int]:
        server_id = await upsert_server(s, settings.secret_key.get_secret_value(), ServerConfig(
            f"xfer-{uuid.uuid4().hex[:8]}", sim.base_url, 1000, "pw"))
        await register_accounts(s, server_id, [AccountSpec(login, "real\\standard", 100, currency, user_id=uid)])
        await link_trading_account(s, user_id=uid, server_id=str(server_id), login=login, currency=currency)
        await wallets.deposit_to_wallet(s, client(uid), user_id=uid, currency=currency, amount=Decimal("500"),
                                        idempotency_key=key())
        account_id = await s.scalar(select(TradingAccount.id).where(TradingAccount.server_id == server_id,
                                                                    TradingAccount.login == login))
        return server_id, int(account_id or 0), (await wallet_for(s, uid, currency)).id

    server_id, account_id, wid = await in_transaction(session_factory, prepare)
    register_platform(str(server_id), platform)
    yield uid, wid, account_id, login
    unregister_platform(str(server_id))
    await platform.aclose()


async def test_transfer_by_account_id(schema, runtime, setup):
    uid, wid, account_id, login = setup
    out = await run(schema, runtime, uid, TO, i={"walletId": str(wid), "tradingAccountId": str(account_id),
                                                 "amount": "120.00", "idempotencyKey": key()})
    assert out.errors is None, out.errors
    assert out.data["transferToTradingAccount"] == {"transfer": {
        "status": "DONE", "amount": "120.00", "tradingAccountId": global_id("TradingAccount", account_id), "tradingAccountLogin": login},
        "errors": []}


@pytest.mark.parametrize(("bad", "code"), [("0", "TRADING_ACCOUNT_NOT_FOUND"), ("not-a-number", "INVALID_ID"),
                                         ("999999999999", "TRADING_ACCOUNT_NOT_FOUND"),
                                         (global_id("TradingAccount", 999999999999), "TRADING_ACCOUNT_NOT_FOUND"),
                                         (global_id("Wallet", 1), "INVALID_ID")])
async def test_unknown_account_id_refused_and_nothing_changed(schema, runtime, session_factory, setup, bad, code):
    uid, wid, _, _ = setup
    before = await snapshot(session_factory)
    out = await run(schema, runtime, uid, TO, i={"walletId": str(wid), "tradingAccountId": bad, "amount": "1.00",
                                                 "idempotencyKey": key()})
    assert out.data["transferToTradingAccount"] == {"transfer": None, "errors": [
        {"code": code, "field": "tradingAccountId"}]}
    assert await snapshot(session_factory) == before


async def test_another_clients_account_is_not_found(schema, runtime, session_factory, make_user, setup):
    _, _, account_id, _ = setup
    other = await make_user()
    await in_transaction(session_factory, lambda s: wallets.deposit_to_wallet(
        s, client(other), user_id=other, currency="USD", amount=Decimal("50"), idempotency_key=key()))
    other_wallet = (await in_transaction(session_factory, lambda s: wallet_for(s, other, "USD"))).id
    before = await snapshot(session_factory)
    out = await run(schema, runtime, other, TO, i={"walletId": str(other_wallet), "tradingAccountId": str(account_id),
                                                   "amount": "1.00", "idempotencyKey": key()})
    assert out.data["transferToTradingAccount"]["errors"] == [
        {"code": "TRADING_ACCOUNT_NOT_FOUND", "field": "tradingAccountId"}]
    assert await snapshot(session_factory) == before
