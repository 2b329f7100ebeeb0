"""Desk scoping (issue 15, item 6): support staff see their own desk's clients' payments, trading
accounts and deals, and answer "not found" for another desk's, by sequential id as by any other;
staff without a desk see none; back office (finance here) sees every desk."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text

from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.identity.staff import make_staff
from tests.tenancy.cases import Env
from tests.tenancy.cases_money import _owned_account
from tests.tenancy.cases_payments import _withdrawal

PAYMENT = "query($i: ID!) { payment(id: $i) { reference } }"
ACCOUNT = "query($i: ID!) { tradingAccount(id: $i) { login } }"
DEALS = "query($i: ID!) { deals(accountId: $i) { nodes { dealId } } }"


async def _deal(session_factory: Any, server_id: int, login: int, account_id: int) -> int:
    deal_id = int(uuid.uuid4().int % 1_000_000_000)
    async with session_factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, account_id, order_id, position_id, "
            "action, entry, symbol, price, volume, profit, commission, storage, fee, reason, contract_size, "
            "rate_profit, rate_margin, comment, batch_id) VALUES (:s, :d, now(), 0, :l, :a, 1, 1, 0, 0, 'EURUSD', "
            "1.1, 1, 5, 0, 0, 0, 0, 100000, 1, 1, '', gen_random_uuid())"),
            {"s": server_id, "d": deal_id, "l": login, "a": account_id})
    return deal_id


async def test_support_sees_only_its_own_desks_objects(http: httpx.AsyncClient, session_factory: Any,
                                                       settings: Any) -> None:
    owner = await register(GraphQLClient(http))
    home, away = f"home-{uuid.uuid4().hex[:8]}", f"away-{uuid.uuid4().hex[:8]}"
    env = Env(owner=GraphQLClient(http, owner["accessToken"]), owner_id=int(owner["viewer"]["id"]),
              owner_email=owner["email"], admin=GraphQLClient(http), session_factory=session_factory,
              settings=settings, http=http)
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE clients SET desk = :d WHERE user_id = :u"), {"d": home, "u": env.owner_id})
    payment_id, reference = await _withdrawal(env)
    server_id, login, account_id = await _owned_account(env)
    deal_id = await _deal(session_factory, server_id, login, account_id)
    probes = [(PAYMENT, payment_id, "payment", {"reference": reference}),
              (ACCOUNT, account_id, "tradingAccount", {"login": login}),
              (DEALS, account_id, "deals", {"nodes": [{"dealId": str(deal_id)}]})]

    same_desk = (await make_staff(http, session_factory, settings, ["support"], desk=home)).client
    finance = (await make_staff(http, session_factory, settings, ["finance"])).client
    for staff in (same_desk, finance):
        for query, oid, field, seen in probes[:1] if staff is finance else probes:
            body = await staff(query, {"i": str(oid)})
            assert body["data"] == {field: seen}, body

    other_desk = (await make_staff(http, session_factory, settings, ["support"], desk=away)).client
    no_desk = (await make_staff(http, session_factory, settings, ["support"])).client
    for staff in (other_desk, no_desk):
        for query, oid, _, _ in probes:
            body = await staff(query, {"i": str(oid)})
            assert body["data"] is None, body
            assert body["errors"][0]["extensions"]["code"].endswith("NOT_FOUND"), body
            assert reference not in str(body) and str(login) not in str(body)
        # Neighbouring sequential ids answer the same way: nothing to enumerate.
        for oid in (payment_id + 1, account_id + 1):
            assert (await staff(PAYMENT, {"i": str(oid)}))["data"] is None
