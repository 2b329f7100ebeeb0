"""BalanceAdjustment.requestedByName / decidedByName / client: the four eyes by name and the client
whose wallet it adjusts, for staff with ledger.adjust (and clients.read for the client) only."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from domain.ledger.accounts import wallet_for
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import in_transaction
from schema.node import global_id
from schema.root import build_schema
from tests.graphql_exec import run_as
from tests.ledger.conftest import client, key
from tests.payments.conftest import onboarded

ADJUST = """mutation($i: AdjustBalanceInput!) { adjustBalance(input: $i) {
  pending adjustment { id requestedByName decidedByName } errors { code field } } }"""
APPROVE = """mutation($i: ID!) { approveBalanceAdjustment(id: $i) {
  adjustment { status requestedByName decidedByName } errors { code field } } }"""
NODE = """query($i: ID!) { node(id: $i) { ... on BalanceAdjustment { id requestedByName
  client { userId } } } }"""


@pytest.fixture(scope="module")
def schema(settings: Any) -> Any:
    return build_schema(settings)


def finance(uid: int, *extra: str) -> Actor:
    return Actor(ActorKind.STAFF, user_id=uid, permissions=frozenset({"ledger.adjust", *extra}))


async def named(factory: Any, uid: int, name: str) -> None:
    async with factory() as s, s.begin():
        await s.execute(text("UPDATE users SET display_name = :n WHERE id = :u"), {"n": name, "u": uid})


async def test_four_eyes_by_name_and_the_client(schema, runtime, session_factory, make_user):
    uid, first, second = await make_user(), await make_user(staff=True), await make_user(staff=True)
    await onboarded(session_factory, uid)
    await named(session_factory, first, "Fay Requester")
    await named(session_factory, second, "Gus Approver")
    wid = (await in_transaction(session_factory, lambda s: wallet_for(s, uid, "USD"))).id

    asked = await run_as(schema, runtime, finance(first), ADJUST, i={
        "walletId": global_id("Wallet", wid), "amount": "1500.00", "reason": "goodwill", "idempotencyKey": key()})
    assert asked.errors is None, asked.errors
    made = asked.data["adjustBalance"]
    assert made["pending"] is True and made["errors"] == []
    assert made["adjustment"]["requestedByName"] == "Fay Requester" and made["adjustment"]["decidedByName"] is None
    rid = made["adjustment"]["id"]

    seen = await run_as(schema, runtime, finance(second, "clients.read"), NODE, i=rid)
    assert seen.errors is None, seen.errors
    assert seen.data["node"] == {"id": rid, "requestedByName": "Fay Requester",
                                 "client": {"userId": str(uid)}}

    # ledger.adjust without clients.read: the approver's name, not the client
    partial = await run_as(schema, runtime, finance(second), NODE, i=rid)
    assert partial.data["node"]["requestedByName"] == "Fay Requester" and partial.data["node"]["client"] is None
    assert [e.extensions["code"] for e in partial.errors] == ["FORBIDDEN"]
    # a client, or staff without ledger.adjust, cannot reach the request at all
    for outsider in (client(uid), Actor(ActorKind.STAFF, user_id=second, permissions=frozenset({"clients.read"}))):
        hidden = await run_as(schema, runtime, outsider, NODE, i=rid)
        assert hidden.data == {"node": None}, hidden

    decided = await run_as(schema, runtime, finance(second), APPROVE, i=rid)
    assert decided.errors is None, decided.errors
    assert decided.data["approveBalanceAdjustment"]["adjustment"] == {
        "status": "APPROVED", "requestedByName": "Fay Requester", "decidedByName": "Gus Approver"}
