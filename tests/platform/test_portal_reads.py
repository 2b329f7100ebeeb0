"""Portal reads cost a fixed number of SQL statements and one pooled connection per operation,
whatever the size of the page (no N+1): the client-portal page and the staff client list, the
documents `bench portal_read` measures, counted on the live API."""

from __future__ import annotations

import contextlib
import gc
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from bench.scenarios.portal_read import PORTAL_QUERY, STAFF_QUERY
from domain.ledger import wallets
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.identity.staff import make_staff


@contextlib.contextmanager
def counting() -> Iterator[dict[str, int]]:
    """Statements sent and pooled connections checked out, by every engine in this process (the
    live API runs in the test's event loop). Hot reads run straight on asyncpg (`domain.shared.db.driver`),
    where SQLAlchemy's events do not see them: those are counted at asyncpg's `Connection._execute`
    (which SQLAlchemy's own prepared statements do not pass through, so nothing counts twice), and
    statements planned per run (`db.fetch_planned`: asyncpg's unnamed statement, which SQLAlchemy never
    uses) at their run."""
    seen = {"statements": 0, "checkouts": 0}

    def statement(*_: Any) -> None:
        seen["statements"] += 1

    def checkout(*_: Any) -> None:
        seen["checkouts"] += 1

    raw_execute = asyncpg.Connection._execute

    async def counted(self: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
        seen["statements"] += 1
        return await raw_execute(self, *args, **kwargs)

    statement_class = asyncpg.prepared_stmt.PreparedStatement
    raw_fetch, raw_fetchval = statement_class.fetch, statement_class.fetchval

    async def fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._state.name == "":
            seen["statements"] += 1
        return await raw_fetch(self, *args, **kwargs)

    async def fetchval(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._state.name == "":
            seen["statements"] += 1
        return await raw_fetchval(self, *args, **kwargs)

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Pool, "checkout", checkout)
    asyncpg.Connection._execute = counted  # type: ignore[method-assign]
    statement_class.fetch, statement_class.fetchval = fetch, fetchval  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        asyncpg.Connection._execute = raw_execute  # type: ignore[method-assign]
        statement_class.fetch, statement_class.fetchval = raw_fetch, raw_fetchval  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", statement)
        event.remove(Pool, "checkout", checkout)


async def _client_with_deals(gql: GraphQLClient, session_factory: Any, deals: int) -> tuple[GraphQLClient, int]:
    reg = await register(gql)
    uid = int(await _scalar(session_factory, "SELECT id FROM users WHERE email = :e", e=reg["email"]))
    async with session_factory() as s, s.begin():
        server = await s.scalar(text(
            "INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc) "
            "VALUES (:n, 'mt5', 'http://127.0.0.1:9', 1000, 'x') RETURNING id"), {"n": uuid.uuid4().hex[:12]})
        account = await s.scalar(text(
            'INSERT INTO trading_accounts (server_id, login, user_id, "group", leverage, currency) '
            "VALUES (:s, 7001, :u, 'real', 100, 'USD') RETURNING id"), {"s": server, "u": uid})
        await s.execute(text(
            "INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, order_id, position_id, action, "
            "entry, symbol, price, volume, profit, commission, storage, fee, reason, contract_size, rate_profit, "
            "rate_margin, comment, batch_id) SELECT :s, g, now() - make_interval(secs => g), 0, 7001, g, g, 0, 0, "
            "'EURUSD', 1.1, 0.1, 0, 0, 0, 0, 0, 100000, 1, 1, '', gen_random_uuid() FROM generate_series(1, :n) g"),
            {"s": server, "n": deals})
    for currency in ("USD", "EUR"):
        async def fund(s: Any, c: str = currency) -> Any:
            return await wallets.deposit_to_wallet(s, system_actor("test"), user_id=uid, currency=c,
                                                   amount=Decimal("10"), idempotency_key=uuid.uuid4().hex)

        await in_transaction(session_factory, fund)
    return GraphQLClient(gql.http, reg["accessToken"]), int(account)


async def _scalar(session_factory: Any, sql: str, **params: Any) -> Any:
    async with session_factory() as s:
        return await s.scalar(text(sql), params)


async def _portal_cost(client: GraphQLClient, account_id: str) -> dict[str, int]:
    """The page's cost: the least of two counts, since the counters see every engine in the process and
    a background statement (a cached principal re-read on a loaded machine) can land in one of them."""
    await client(PORTAL_QUERY, {"accountId": account_id})  # warm: the caller's principal is cached
    costs = []
    for _ in range(2):
        with counting() as seen:
            body = await client(PORTAL_QUERY, {"accountId": account_id})
        assert "errors" not in body, body
        assert body["data"]["deals"]["nodes"] and body["data"]["myWallets"], body
        costs.append(dict(seen))
    return min(costs, key=lambda c: (c["statements"], c["checkouts"]))


async def test_portal_page_costs_the_same_statements_and_one_connection_at_any_size(
        gql: GraphQLClient, session_factory: Any) -> None:
    small, small_account = await _client_with_deals(gql, session_factory, 3)
    large, large_account = await _client_with_deals(gql, session_factory, 60)
    ids = []
    for client in (small, large):
        ids.append((await client("{ myTradingAccounts(first: 1) { nodes { id } } }"))
                   ["data"]["myTradingAccounts"]["nodes"][0]["id"])
    cost_small = await _portal_cost(small, ids[0])
    cost_large = await _portal_cost(large, ids[1])
    assert cost_small == cost_large
    # accounts, wallets, and the account's deals with its ownership inside: one statement each, one connection.
    assert cost_large["statements"] == 3, cost_large
    assert cost_large["checkouts"] == 1, cost_large
    assert small_account != large_account


async def test_staff_list_reads_every_row_s_wallets_in_one_statement(
        http: Any, gql: GraphQLClient, session_factory: Any, settings: Any) -> None:
    for _ in range(3):
        await _client_with_deals(gql, session_factory, 1)
    staff = await make_staff(http, session_factory, settings, ["compliance"])
    few = STAFF_QUERY.replace("first: 50", "first: 1")
    costs = []
    for document in (few, STAFF_QUERY):
        await staff.client(document)
        # The counters see every engine of this process, and background work earlier tests of this worker
        # left running can put a statement of its own in the window (seen once in CI: 2 instead of 1). It
        # only ever adds: the least of three identical requests is the request's own cost.
        tries = []
        for _ in range(3):
            with counting() as seen:
                body = await staff.client(document)
            assert "errors" not in body, body
            nodes = body["data"]["clients"]["nodes"]
            assert nodes and all(isinstance(n["wallets"], list) for n in nodes)
            tries.append(dict(seen))
        costs.append(min(tries, key=lambda cost: (cost["statements"], cost["checkouts"])))
    assert len((await staff.client(STAFF_QUERY))["data"]["clients"]["nodes"]) >= 3
    assert costs[0] == costs[1], costs  # 1 row or many: the same statements
    # The page and its wallets in one statement (the page joined to its wallets), on one connection.
    assert costs[1]["statements"] == 1 and costs[1]["checkouts"] == 1, costs


async def test_staff_list_filtered_and_searched_is_one_statement_at_any_page_size(
        http: Any, gql: GraphQLClient, session_factory: Any, settings: Any) -> None:
    regs = [await register(gql) for _ in range(3)]
    staff = await make_staff(http, session_factory, settings, ["compliance"])
    shapes = [("clients(first: $n)", {}), ("clients(first: $n, status: REGISTERED)", {}),
              ("clients(first: $n, search: $q)", {"q": regs[0]["email"].split("@")[1]}),
              ("clients(first: $n, search: $q, country: \"GB\", desk: \"d1\")", {"q": "example"})]
    for shape, variables in shapes:
        params = "$n: Int" + (", $q: String" if "$q" in shape else "")
        document = (f"query({params}) {{ {shape} {{ edges {{ cursor node {{ id name status country desk createdAt }} }} "
                    "pageInfo { hasNextPage endCursor } } }")
        costs = []
        for size in (1, 50):
            await staff.client(document, {**variables, "n": size})
            tries = []
            for _ in range(3):  # the least of three: background work can only add a statement (see above)
                with counting() as seen:
                    body = await staff.client(document, {**variables, "n": size})
                assert "errors" not in body, body
                tries.append(dict(seen))
            costs.append(min(tries, key=lambda cost: (cost["statements"], cost["checkouts"])))
        assert costs[0] == costs[1] == {"statements": 1, "checkouts": 1}, (shape, costs)


async def test_wallets_on_the_staff_list_need_ledger_read(
        http: Any, gql: GraphQLClient, session_factory: Any, settings: Any) -> None:
    _, account = await _client_with_deals(gql, session_factory, 1)
    desk = uuid.uuid4().hex[:8]
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE clients SET desk = :d WHERE user_id = "
                             "(SELECT user_id FROM trading_accounts WHERE id = :a)"), {"d": desk, "a": account})
    staff = await make_staff(http, session_factory, settings, ["sales"], desk=desk)  # clients.read, no ledger.read
    body = await staff.client("{ clients(first: 5) { nodes { id wallets { currency } } } }")
    assert body["errors"][0]["path"][-1] == "wallets", body
    assert body["data"]["clients"]["nodes"][0]["id"] and body["data"]["clients"]["nodes"][0]["wallets"] is None
    granted = await staff.client("{ clients(first: 5) { nodes { id } } }")
    assert "errors" not in granted and len(granted["data"]["clients"]["nodes"]) == 1


async def test_staff_list_wallets_read_with_the_page_equal_the_loader_s(
        http: Any, gql: GraphQLClient, session_factory: Any, settings: Any) -> None:
    """The list reads its page's wallets with the page; a client reached by id (node) reads them through
    the loader: the same wallets either way."""
    for _ in range(2):
        await _client_with_deals(gql, session_factory, 1)
    staff = await make_staff(http, session_factory, settings, ["compliance"])
    fields = "id wallets { id currency balance held available }"
    listed = (await staff.client(f"{{ clients(first: 5) {{ nodes {{ {fields} }} }} }}"))["data"]["clients"]["nodes"]
    assert any(n["wallets"] for n in listed), listed
    ids = [n["id"] for n in listed]
    body = await staff.client(f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on ClientSummary {{ {fields} }} }} }}",
                              {"ids": ids})
    assert "errors" not in body, body
    assert body["data"]["nodes"] == listed


@contextlib.contextmanager
def cyclic_garbage() -> Iterator[list[Any]]:
    """What the cyclic garbage collector alone would have freed while the block ran (it keeps it)."""
    gc.collect()
    found: list[Any] = []
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield found
        gc.collect()
        found.extend(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_an_operation_leaves_no_cyclic_garbage_behind(gql: GraphQLClient, session_factory: Any) -> None:
    """An operation's executor, context and request are freed by reference counting when it ends,
    not left to the cyclic collector (whose older-generation collections paused the loop for
    tens of ms under load): the portal page, the small query and a refused field leave none of them."""
    from schema.context import Context
    from schema.root import _Executor

    client, _ = await _client_with_deals(gql, session_factory, 5)
    account = (await client("{ myTradingAccounts(first: 1) { nodes { id } } }"))["data"]["myTradingAccounts"]
    variables = {"accountId": account["nodes"][0]["id"]}
    await client(PORTAL_QUERY, variables)
    for document, ok in ((PORTAL_QUERY, True), ("{ apiVersion serverTime }", True),
                         ('{ client(id: "1") { id } }', False)):
        with cyclic_garbage() as garbage:
            body = await client(document, variables if "$" in document else None)
        assert ("errors" not in body) is ok, body
        if not ok:
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
        kinds = {type(o) for o in garbage}
        leaked = {k.__name__ for k in kinds if issubclass(k, (_Executor, Context))}
        assert not leaked, f"{document[:30]}: {leaked} left to the cyclic collector"
