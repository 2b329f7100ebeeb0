"""The ledger schema executed directly with a Context carrying a hand-built actor."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.ledger import wallets
from domain.ledger.accounts import wallet_for
from domain.shared.db import in_transaction
from schema.node import global_id
from schema.root import build_schema
from tests.fx.helpers import new_quote
from tests.graphql_exec import run_as
from tests.ledger.conftest import check_invariants, client, key, snapshot, staff


@pytest.fixture(scope="module")
def schema(settings: Any) -> Any:
    return build_schema(settings)



WALLETS = "{ myWallets { id currency balance held available } }"
TXNS = """query($w: ID!, $first: Int, $after: String) { walletTransactions(walletId: $w, first: $first, after: $after)
  { edges { node { amount kind } } pageInfo { hasNextPage endCursor } } }"""
EXCHANGE = """mutation($i: ExchangeInput!) { exchange(input: $i) { exchange { bought fee } errors { code field } } }"""
ADJUST = """mutation($i: AdjustBalanceInput!) { adjustBalance(input: $i) { wallet { balance } errors { code } } }"""


async def test_wallets_transactions_and_ownership(schema, runtime, session_factory, make_user):
    uid, other = await make_user(), await make_user()
    for amount in ("10", "20", "30"):
        await in_transaction(session_factory, lambda s, a=amount: wallets.deposit_to_wallet(  # type: ignore[misc]
            s, client(uid), user_id=uid, currency="EUR", amount=Decimal(a), idempotency_key=key()))
    wid = (await in_transaction(session_factory, lambda s: wallet_for(s, uid, "EUR"))).id

    mine = await run_as(schema, runtime, client(uid), WALLETS)
    page1 = await run_as(schema, runtime, client(uid), TXNS, w=str(wid), first=2)
    cursor = page1.data["walletTransactions"]["pageInfo"]["endCursor"]
    page2 = await run_as(schema, runtime, client(uid), TXNS, w=str(wid), first=2, after=cursor)
    foreign = await run_as(schema, runtime, client(other), TXNS, w=str(wid))

    assert mine.errors is None
    assert mine.data["myWallets"] == [{"id": global_id("Wallet", wid), "currency": "EUR", "balance": "60.00", "held": "0.00",
                                       "available": "60.00"}]
    assert [e["node"]["amount"] for e in page1.data["walletTransactions"]["edges"]] == ["30.00", "20.00"]
    assert page1.data["walletTransactions"]["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["amount"] for e in page2.data["walletTransactions"]["edges"]] == ["10.00"]
    assert foreign.data is None and foreign.errors[0].original_error.code == "WALLET_NOT_FOUND"


async def test_exchange_mutation_and_typed_errors(schema, runtime, session_factory, make_user):
    uid = await make_user()
    await in_transaction(session_factory, lambda s: wallets.deposit_to_wallet(
        s, client(uid), user_id=uid, currency="USD", amount=Decimal("100"), idempotency_key=key()))
    too_much, half = await new_quote(session_factory, uid, amount="100.01"), await new_quote(session_factory, uid,
                                                                                              amount="50")
    before = await snapshot(session_factory)
    refused = await run_as(schema, runtime, client(uid), EXCHANGE, i={"quoteId": too_much, "idempotencyKey": key()})
    assert refused.data["exchange"]["errors"] == [{"code": "INSUFFICIENT_FUNDS", "field": "amount"}]
    assert await snapshot(session_factory) == before

    done = await run_as(schema, runtime, client(uid), EXCHANGE, i={"quoteId": half, "idempotencyKey": key()})
    assert done.data["exchange"]["errors"] == [] and Decimal(done.data["exchange"]["exchange"]["bought"]) > 0
    await check_invariants(session_factory)


async def test_adjust_balance_requires_permission(schema, runtime, session_factory, make_user):
    uid, sid = await make_user(), await make_user(staff=True)
    wid = (await in_transaction(session_factory, lambda s: wallet_for(s, uid, "USD"))).id
    variables = {"walletId": str(wid), "amount": "12.50", "reason": "goodwill", "idempotencyKey": key()}

    denied = await run_as(schema, runtime, client(uid), ADJUST, i=variables)
    granted = await run_as(schema, runtime, staff(sid), ADJUST, i=variables)

    assert denied.errors[0].extensions["code"] == "FORBIDDEN"
    assert granted.data["adjustBalance"] == {"wallet": {"balance": "12.50"}, "errors": []}


OUTCOME = "query($k: String!) { operationByIdempotencyKey(key: $k) { idempotencyKey status result } }"


async def test_money_operations_can_be_looked_up_by_their_idempotency_key(schema, runtime, session_factory,
                                                                          make_user):
    uid, other, sid = await make_user(), await make_user(), await make_user(staff=True)
    await in_transaction(session_factory, lambda s: wallets.deposit_to_wallet(
        s, client(uid), user_id=uid, currency="USD", amount=Decimal("100"), idempotency_key=key()))
    refused_key, done_key, big_key = key(), key(), key()
    await run_as(schema, runtime, client(uid), EXCHANGE,
              i={"quoteId": await new_quote(session_factory, uid, amount="100.01"), "idempotencyKey": refused_key})
    done = await run_as(schema, runtime, client(uid), EXCHANGE,
                     i={"quoteId": await new_quote(session_factory, uid, amount="50"), "idempotencyKey": done_key})
    assert done.data["exchange"]["errors"] == []

    # applied: succeeded, with the entry it posted; refused: nothing was applied, so nothing is stored
    applied = (await run_as(schema, runtime, client(uid), OUTCOME, k=done_key)).data["operationByIdempotencyKey"]
    assert applied["status"] == "SUCCEEDED" and applied["idempotencyKey"] == done_key
    assert isinstance(applied["result"]["entry_id"], int)
    assert (await run_as(schema, runtime, client(uid), OUTCOME, k=refused_key)).data == {
        "operationByIdempotencyKey": None}
    # another caller does not see it
    assert (await run_as(schema, runtime, client(other), OUTCOME, k=done_key)).data == {
        "operationByIdempotencyKey": None}
    # a staff adjustment waiting for a second approver is in progress
    wid = (await in_transaction(session_factory, lambda s: wallet_for(s, uid, "USD"))).id
    pending = await run_as(schema, runtime, staff(sid), ADJUST, i={"walletId": str(wid), "amount": "5000",
                                                                "reason": "bonus", "idempotencyKey": big_key})
    assert pending.data["adjustBalance"]["errors"] == []
    waiting = (await run_as(schema, runtime, staff(sid), OUTCOME, k=big_key)).data["operationByIdempotencyKey"]
    assert waiting["status"] == "IN_PROGRESS" and waiting["result"]["request_status"] == "pending"
    bad = await run_as(schema, runtime, client(uid), OUTCOME, k="")
    assert bad.errors[0].original_error.code == "VALIDATION_FAILED"
