"""GraphQL reads: keyset pagination of deals, ownership and staff permissions."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from sqlalchemy import text
from strawberry.extensions import MaskErrors
from strawberry.tools import merge_types

from domain.shared.actor import Actor, ActorKind
from domain.trading.puller import pull_server
from schema.errors import should_mask
from schema.trading.resolvers import QUERIES
from tests.conftest import unique
from tests.graphql_exec import run_as

DEALS = """query($id: ID!, $after: String, $symbol: String) {
  deals(accountId: $id, first: 7, after: $after, filter: {symbol: $symbol}) {
    edges { node { dealId time symbol profit notionalUsd } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture(scope="module")
def schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=merge_types("Query", QUERIES), extensions=[MaskErrors(should_mask_error=should_mask)],  # type: ignore[list-item]
    )



async def _user(session_factory: Any) -> int:
    async with session_factory() as session, session.begin():
        uid = await session.scalar(text(
            "INSERT INTO users (email, email_normalized, is_client) VALUES (:e, :e, true) RETURNING id"),
            {"e": unique("u") + "@example.com"})
    return int(uid)


async def test_owner_pages_through_deals_and_others_see_nothing(
    schema: strawberry.Schema, runtime: Any, session_factory: Any, server_id: int, platform: Any
) -> None:
    await pull_server(session_factory, server_id, platform)
    owner, other = await _user(session_factory), await _user(session_factory)
    async with session_factory() as session, session.begin():
        account_id, login = (await session.execute(text(
            "UPDATE trading_accounts SET user_id = :u WHERE id = (SELECT a.id FROM trading_accounts a "
            "JOIN trading_deals d ON d.server_id = a.server_id AND d.login = a.login WHERE a.server_id = :s "
            "GROUP BY a.id ORDER BY count(*) DESC LIMIT 1) RETURNING id, login"),
            {"u": owner, "s": server_id})).one()
        expected = list(await session.scalars(text(
            "SELECT deal_id FROM trading_deals WHERE server_id = :s AND login = :l ORDER BY time DESC, deal_id DESC"),
            {"s": server_id, "l": login}))
    assert len(expected) > 7
    client = Actor(ActorKind.CLIENT, user_id=owner)

    # the owner walks every page
    seen: list[int] = []
    after = None
    while True:
        result = await run_as(schema, runtime, client, DEALS, id=str(account_id), after=after)
        assert result.errors is None, result.errors
        conn = result.data["deals"]
        seen += [int(e["node"]["dealId"]) for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert seen == expected
    # a filter matching nothing: the owner's empty page, someone else's "not found" all the same
    empty = await run_as(schema, runtime, client, DEALS, id=str(account_id), symbol="NO.SUCH")
    assert empty.errors is None and empty.data["deals"]["edges"] == []
    hidden = await run_as(schema, runtime, Actor(ActorKind.CLIENT, user_id=other), DEALS, id=str(account_id),
                          symbol="NO.SUCH")
    assert hidden.data is None and hidden.errors[0].extensions == {"code": "NOT_FOUND"}

    # another client, and staff without trading.read, get "not found" and no data
    for stranger in (Actor(ActorKind.CLIENT, user_id=other), Actor(ActorKind.STAFF, user_id=other)):
        refused = await run_as(schema, runtime, stranger, DEALS, id=str(account_id))
        assert refused.data is None
        assert refused.errors[0].extensions == {"code": "NOT_FOUND"}
    missing = await run_as(schema, runtime, client, DEALS, id="987654321")
    assert missing.errors[0].extensions == {"code": "NOT_FOUND"}

    # desk staff with trading.read but not on the owner's desk (here: no client record, so no desk) do
    # not; dealing staff (back office: every desk) see it, and positions answer too
    support = Actor(ActorKind.STAFF, user_id=other, permissions=frozenset({"trading.read"}), desk="emea")
    assert (await run_as(schema, runtime, support, DEALS, id=str(account_id))).errors[0].extensions == {
        "code": "NOT_FOUND"}
    staff = Actor(ActorKind.STAFF, user_id=other, permissions=frozenset({"trading.read", "trading.manage"}))
    ok = await run_as(schema, runtime, staff, DEALS, id=str(account_id))
    assert ok.errors is None and len(ok.data["deals"]["edges"]) == 7
    pos = await run_as(schema, runtime, client, "query($id: ID!) { positions(accountId: $id) { nodes { positionId volume } } }",
                     id=str(account_id))
    assert pos.errors is None


async def test_staff_queries_require_trading_read(
    schema: strawberry.Schema, runtime: Any, session_factory: Any, server_id: int, platform: Any
) -> None:
    await pull_server(session_factory, server_id, platform)
    query = ("query($s: ID!) { tradingServers { databaseId name lastError lagSeconds } "
             "instruments(serverId: $s) { symbol assetClass } ingestionErrors(first: 5) { edges { node { kind } } } }")
    refused = await run_as(schema, runtime, Actor(ActorKind.STAFF, user_id=1), query, s=str(server_id))
    assert refused.data is None and refused.errors[0].extensions == {"code": "FORBIDDEN"}
    staff = Actor(ActorKind.STAFF, user_id=1, permissions=frozenset({"trading.read"}))
    ok = await run_as(schema, runtime, staff, query, s=str(server_id))
    assert ok.errors is None
    assert str(server_id) in [s["databaseId"] for s in ok.data["tradingServers"]]
    assert {"symbol": "EURUSD", "assetClass": "forex"} in ok.data["instruments"]
