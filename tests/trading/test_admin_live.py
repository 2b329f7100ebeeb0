"""Live account state through the platform port (batched, never failing the query), IB access to
the downline's accounts, and staff administration of servers and the ingestion error queue."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import strawberry
from sqlalchemy import text

from domain.ledger.errors import TradingAccountNotFound
from domain.ledger.transfers import register_platform, registered_platform, unregister_platform
from domain.platforms.port import AccountState, DealCursor
from domain.shared.actor import Actor, ActorKind
from domain.trading import live
from domain.trading.puller import pull_server
from tests.conftest import unique
from tests.graphql_exec import run_as
from tests.ib.conftest import World, new_day
from tests.platforms.conftest import SimServer
from tests.trading.conftest import new_client_user

STATE = """query($id: ID!) {
  a: tradingAccount(id: $id) { login state { currency balance equity margin marginFree marginLevel asOf stale }
                               stateStale }
  b: tradingAccount(id: $id) { state { balance } }
  myTradingAccounts { nodes { login state { balance } stateStale } }
}"""


class Counting:
    """A platform wrapper counting get_account_state calls per login."""

    def __init__(self, inner: Any, *, delay: float = 0.0) -> None:
        self.inner, self.delay = inner, delay
        self.calls: list[int] = []

    async def get_account_state(self, login: int) -> AccountState:
        self.calls.append(login)
        if self.delay:
            await asyncio.sleep(self.delay)
        state: AccountState = await self.inner.get_account_state(login)
        return state


async def test_live_state_batched_and_never_failing(
    trading_schema: strawberry.Schema, runtime: Any, session_factory: Any, server_id: int, platform: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await pull_server(session_factory, server_id, platform)
    owner = await new_client_user(session_factory)
    async with session_factory() as session, session.begin():
        ids = list(await session.scalars(text(
            "UPDATE trading_accounts SET user_id = :u WHERE id IN (SELECT id FROM trading_accounts "
            "WHERE server_id = :s ORDER BY id LIMIT 2) RETURNING id"), {"u": owner, "s": server_id}))
    assert len(ids) == 2
    client = Actor(ActorKind.CLIENT, user_id=owner)
    counting = Counting(platform)
    register_platform(str(server_id), counting)  # type: ignore[arg-type]
    try:
        ok = await run_as(trading_schema, runtime, client, STATE, id=str(ids[0]))
        assert ok.errors is None, ok.errors
        a = ok.data["a"]
        assert a["stateStale"] is False and a["state"]["stale"] is False
        assert a["state"]["currency"] and isinstance(a["state"]["balance"], str)
        assert ok.data["b"]["state"] == {"balance": a["state"]["balance"]}
        assert len(ok.data["myTradingAccounts"]["nodes"]) == 2
        # two distinct logins asked, each once, though one appears three times
        assert sorted(counting.calls) == sorted({m["login"] for m in ok.data["myTradingAccounts"]["nodes"]})

        # a server that does not answer in time: the last figures, marked stale, and no error
        monkeypatch.setattr(live, "STATE_TIMEOUT_S", 0.2)
        slow = Counting(platform, delay=5)
        register_platform(str(server_id), slow)  # type: ignore[arg-type]
        stale = await run_as(trading_schema, runtime, client, STATE, id=str(ids[0]))
        assert stale.errors is None, stale.errors
        assert stale.data["a"]["stateStale"] is True and stale.data["a"]["state"]["stale"] is True
        assert stale.data["a"]["state"]["balance"] == a["state"]["balance"]

        # nothing known and the server gone: null state, stale, still no error
        live._last_known.clear()
        unregister_platform(str(server_id))
        gone = await run_as(trading_schema, runtime, client, STATE, id=str(ids[0]))
        assert gone.errors is None, gone.errors
        assert gone.data["a"]["state"] is None and gone.data["a"]["stateStale"] is True
        assert gone.data["a"]["login"] > 0
    finally:
        unregister_platform(str(server_id))


ACCOUNT = """query($id: ID!) { tradingAccount(id: $id) { login }
  deals(accountId: $id, first: 5) { edges { node { dealId } } } positions(accountId: $id) { nodes { positionId } } }"""


async def test_ib_sees_downline_accounts_not_a_siblings(
    trading_schema: strawberry.Schema, runtime: Any, session_factory: Any
) -> None:
    async with session_factory() as s, s.begin():
        sid = await s.scalar(text(
            "INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc) "
            "VALUES (:n, 'mt5', 'http://127.0.0.1:1', 1, 'x') RETURNING id"), {"n": unique("ib-srv")})
    world = World(session_factory, int(sid), new_day())
    master = await world.ib()
    sub = await world.ib(master)
    sibling = await world.ib()
    logins = {"direct": await world.account(await world.client_of(master)),
              "sub": await world.account(await world.client_of(sub)),
              "sibling": await world.account(await world.client_of(sibling))}
    await world.ingest([world.deal(logins["sub"], minutes=5)])
    ids: dict[str, str] = {}
    for name, login in logins.items():
        rows = await world.sql("SELECT id FROM trading_accounts WHERE server_id = :s AND login = :l", s=sid, l=login)
        ids[name] = str(rows[0][0])

    ib = Actor(ActorKind.CLIENT, user_id=master)
    for name in ("direct", "sub"):
        ok = await run_as(trading_schema, runtime, ib, ACCOUNT, id=ids[name])
        assert ok.errors is None, ok.errors
        assert ok.data["tradingAccount"]["login"] == logins[name]
    ok = await run_as(trading_schema, runtime, ib, ACCOUNT, id=ids["sub"])
    assert len(ok.data["deals"]["edges"]) == 1

    # a sibling IB's client, and the sub-IB looking up at its parent's client: not found
    for actor, name in ((ib, "sibling"), (Actor(ActorKind.CLIENT, user_id=sub), "direct")):
        refused = await run_as(trading_schema, runtime, actor, ACCOUNT, id=ids[name])
        assert refused.data is None
        assert {e.extensions["code"] for e in refused.errors} == {"NOT_FOUND"}

    # below the IB's visible depth: not found either
    await world.sql("UPDATE ib_partners SET visible_depth = 0 WHERE user_id = :u", u=master)
    hidden = await run_as(trading_schema, runtime, ib, ACCOUNT, id=ids["sub"])
    assert hidden.data is None and hidden.errors[0].extensions == {"code": "NOT_FOUND"}
    assert (await run_as(trading_schema, runtime, ib, ACCOUNT, id=ids["direct"])).errors is None


UPSERT = """mutation($i: TradingServerInput!) { upsertTradingServer(input: $i) {
  tradingServer { id databaseId name enabled } errors { code field } } }"""
ENABLE = """mutation($id: ID!, $e: Boolean!) { setTradingServerEnabled(id: $id, enabled: $e) {
  tradingServer { id enabled } errors { code } } }"""
RESOLVE = """mutation($id: ID!, $n: String!) { resolveIngestionError(id: $id, note: $n) {
  ingestionError { id resolvedAt } errors { code } } }"""


async def _count(session_factory: Any, query: str, **params: Any) -> int:
    async with session_factory() as s:
        return int(await s.scalar(text(query), params) or 0)


async def test_staff_manage_servers_and_errors(
    trading_schema: strawberry.Schema, runtime: Any, session_factory: Any, trading_sim: SimServer
) -> None:
    staff = Actor(ActorKind.STAFF, user_id=await new_client_user(session_factory), permissions=frozenset({"trading.manage"}))
    name = unique("admin-srv")
    password = trading_sim.password
    good = {"name": name, "baseUrl": trading_sim.base_url, "managerLogin": 1000, "password": password,
            "symbolMap": [{"serverSymbol": "EURUSD.x", "canonical": "EURUSD"}], "enabled": True}
    audits = "SELECT count(*) FROM audit_events"

    # refusals write nothing
    before = await _count(session_factory, audits)
    for bad, field in (({"baseUrl": "ftp://x"}, "baseUrl"), ({"password": ""}, "password"),
                       ({"symbolMap": [{"serverSymbol": "A", "canonical": ""}]}, "symbolMap")):
        refused = await run_as(trading_schema, runtime, staff, UPSERT, i={**good, **bad})
        assert refused.errors is None, refused.errors
        payload = refused.data["upsertTradingServer"]
        assert payload["tradingServer"] is None and payload["errors"][0]["field"] == field
    forbidden = await run_as(trading_schema, runtime, Actor(ActorKind.STAFF, user_id=staff.user_id), UPSERT, i=good)
    assert forbidden.data is None and forbidden.errors[0].extensions == {"code": "FORBIDDEN"}
    assert await _count(session_factory, "SELECT count(*) FROM trading_servers WHERE name = :n", n=name) == 0
    assert await _count(session_factory, audits) == before

    # created, audited without the password, and usable at once
    made = await run_as(trading_schema, runtime, staff, UPSERT, i=good)
    assert made.errors is None and made.data["upsertTradingServer"]["errors"] == []
    gid = made.data["upsertTradingServer"]["tradingServer"]["id"]
    sid = made.data["upsertTradingServer"]["tradingServer"]["databaseId"]
    assert password not in str(made.data)
    async with session_factory() as s:
        trail = (await s.execute(text(
            "SELECT action, before::text, after::text FROM audit_events WHERE entity_type = 'trading_server' "
            "AND entity_id = :i ORDER BY id"), {"i": sid})).all()
    assert [t.action for t in trail] == ["trading_server.created"]
    assert password not in str(trail) and trading_sim.base_url in trail[0].after
    adapter = registered_platform(sid)
    login = (await adapter.deals_since(DealCursor.start(), 1)).deals[0].login
    state = await adapter.get_account_state(login)
    assert state.currency

    # disabled: unregistered; enabled again: registered
    off = await run_as(trading_schema, runtime, staff, ENABLE, id=gid, e=False)
    assert off.data["setTradingServerEnabled"]["tradingServer"] == {"id": gid, "enabled": False}
    with pytest.raises(TradingAccountNotFound):
        registered_platform(sid)
    on = await run_as(trading_schema, runtime, staff, ENABLE, id=sid, e=True)
    assert on.data["setTradingServerEnabled"]["tradingServer"]["enabled"] is True
    assert registered_platform(sid) is not None
    missing = await run_as(trading_schema, runtime, staff, ENABLE, id="987654321", e=True)
    assert missing.data["setTradingServerEnabled"]["errors"] == [{"code": "TRADING_SERVER_NOT_FOUND"}]

    # the error queue
    async with session_factory() as s, s.begin():
        eid = await s.scalar(text(
            "INSERT INTO trading_ingestion_errors (server_id, kind, detail) VALUES (:s, 'unavailable', 'x') RETURNING id"),
            {"s": int(sid)})
    empty = await run_as(trading_schema, runtime, staff, RESOLVE, id=str(eid), n="  ")
    assert empty.data["resolveIngestionError"]["errors"] == [{"code": "TRADING_INVALID_SERVER"}]
    done = await run_as(trading_schema, runtime, staff, RESOLVE, id=str(eid), n="checked with the dealer")
    assert done.data["resolveIngestionError"]["ingestionError"]["resolvedAt"] is not None
    again = await run_as(trading_schema, runtime, staff, RESOLVE, id=str(eid), n="twice")
    assert again.data["resolveIngestionError"]["errors"] == [{"code": "TRADING_INGESTION_ERROR_RESOLVED"}]
    assert await _count(session_factory, "SELECT count(*) FROM audit_events WHERE entity_type = "
                        "'trading_ingestion_error' AND entity_id = :i AND reason = 'checked with the dealer'",
                        i=str(eid)) == 1
    assert (await run_as(trading_schema, runtime, staff, ENABLE, id=sid, e=False)).errors is None


async def test_wrong_server_credentials_are_refused_and_save_nothing(
    trading_schema: strawberry.Schema, runtime: Any, session_factory: Any, trading_sim: SimServer
) -> None:
    """upsertTradingServer signs in to the server first: a wrong password (or no server at the
    address) is a typed error, and nothing is stored or audited."""
    from tests.conftest import free_port

    staff = Actor(ActorKind.STAFF, user_id=await new_client_user(session_factory), permissions=frozenset({"trading.manage"}))
    name = unique("wrong-pw-srv")
    good = {"name": name, "baseUrl": trading_sim.base_url, "managerLogin": 1000, "password": trading_sim.password,
            "symbolMap": [], "enabled": True}
    audits = "SELECT count(*) FROM audit_events"
    before = await _count(session_factory, audits)
    for bad, code, field in (({"password": trading_sim.password + "x"}, "TRADING_SERVER_AUTH_FAILED", "password"),
                             ({"managerLogin": 999_999}, "TRADING_SERVER_AUTH_FAILED", "password"),
                             ({"baseUrl": f"http://127.0.0.1:{free_port()}"}, "TRADING_SERVER_UNREACHABLE", "baseUrl")):
        refused = await run_as(trading_schema, runtime, staff, UPSERT, i={**good, **bad})
        assert refused.errors is None, refused.errors
        payload = refused.data["upsertTradingServer"]
        assert payload["tradingServer"] is None and payload["errors"] == [{"code": code, "field": field}]
    assert await _count(session_factory, "SELECT count(*) FROM trading_servers WHERE name = :n", n=name) == 0
    assert await _count(session_factory, audits) == before
    made = await run_as(trading_schema, runtime, staff, UPSERT, i=good)
    assert made.data["upsertTradingServer"]["errors"] == []
    sid = made.data["upsertTradingServer"]["tradingServer"]["databaseId"]
    # A later update with a wrong password is refused too and leaves the stored one working.
    wrong = await run_as(trading_schema, runtime, staff, UPSERT, i={**good, "password": "not the password"})
    assert wrong.data["upsertTradingServer"]["errors"][0]["code"] == "TRADING_SERVER_AUTH_FAILED"
    assert registered_platform(sid) is not None
    assert (await run_as(trading_schema, runtime, staff, ENABLE, id=sid, e=False)).errors is None
