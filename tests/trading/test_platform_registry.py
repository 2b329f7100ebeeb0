"""Trading platforms by name: adapter packages register themselves; an unknown platform is a typed
error when a server is saved (nothing stored or audited) and when a stored server is used."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from sqlalchemy import text
from strawberry.tools import merge_types

from domain.platforms import registry
from domain.platforms.errors import UnknownPlatform
from domain.shared.actor import Actor, ActorKind
from domain.trading.directory import refresh_platforms
from domain.trading.models import TradingServer
from domain.trading.servers import ServerConfig, platform_for, upsert_server
from schema.trading.resolvers import MUTATIONS, QUERIES
from tests.conftest import unique
from tests.graphql_exec import run_as
from tests.platforms.conftest import SimServer

UPSERT = """mutation($i: TradingServerInput!) { upsertTradingServer(input: $i) {
  tradingServer { id name } errors { code field } } }"""


@pytest.fixture(scope="module")
def schema() -> strawberry.Schema:
    return strawberry.Schema(query=merge_types("Query", QUERIES), mutation=merge_types("Mutation", MUTATIONS))



async def _count(session_factory: Any, query: str, **params: Any) -> int:
    async with session_factory() as s:
        return int(await s.scalar(text(query), params) or 0)


def test_mt5_registers_itself_and_unknown_names_are_typed() -> None:
    assert "mt5" in registry.names()
    assert registry.platform_kind("mt5").name == "mt5"
    with pytest.raises(UnknownPlatform) as refused:
        registry.platform_kind("ctrader")
    assert refused.value.code == "TRADING_UNKNOWN_PLATFORM" and refused.value.field == "platform"


async def test_staff_list_platforms_and_unknown_platform_is_refused(schema, runtime, session_factory, trading_sim: SimServer):
    staff = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"trading.manage", "trading.read"}))
    listed = await run_as(schema, runtime, staff, "{ tradingPlatforms }")
    assert listed.errors is None and "mt5" in listed.data["tradingPlatforms"]
    name = unique("plat-srv")
    good = {"name": name, "baseUrl": trading_sim.base_url, "managerLogin": 1000, "password": trading_sim.password}
    audits = await _count(session_factory, "SELECT count(*) FROM audit_events")
    for bad in ("ctrader", "", "MT5"):
        refused = await run_as(schema, runtime, staff, UPSERT, i={**good, "platform": bad})
        assert refused.errors is None, refused.errors
        assert refused.data["upsertTradingServer"] == {"tradingServer": None, "errors": [
            {"code": "TRADING_UNKNOWN_PLATFORM", "field": "platform"}]}
    assert await _count(session_factory, "SELECT count(*) FROM trading_servers WHERE name = :n", n=name) == 0
    assert await _count(session_factory, "SELECT count(*) FROM audit_events") == audits
    made = await run_as(schema, runtime, staff, UPSERT, i={**good, "platform": "mt5"})
    assert made.data["upsertTradingServer"]["errors"] == []
    async with session_factory() as s:
        assert await s.scalar(text("SELECT platform FROM trading_servers WHERE name = :n"), {"n": name}) == "mt5"
    off = await run_as(schema, runtime, staff, "mutation($id: ID!) { setTradingServerEnabled(id: $id, enabled: false) "
                     "{ errors { code } } }", id=made.data["upsertTradingServer"]["tradingServer"]["id"])
    assert off.data["setTradingServerEnabled"]["errors"] == []


async def test_a_stored_server_on_an_unknown_platform_is_a_typed_error_when_used(session_factory, settings):
    key = settings.secret_key.get_secret_value()
    async with session_factory() as s, s.begin():
        sid = await upsert_server(s, key, ServerConfig(unique("gone"), "http://127.0.0.1:9", 1000, "pw",
                                                        platform="matchtrader"))
    try:
        async with session_factory() as s:
            server = await s.get(TradingServer, sid)
            assert server is not None
            with pytest.raises(UnknownPlatform) as refused:
                platform_for(server, key)
            assert refused.value.code == "TRADING_UNKNOWN_PLATFORM"
        await refresh_platforms(session_factory, key)  # skipped and logged, never stopping the others
    finally:
        async with session_factory() as s, s.begin():
            await s.execute(text("UPDATE trading_servers SET enabled = false WHERE id = :i"), {"i": sid})


async def test_a_registered_package_is_used_for_its_servers(session_factory, settings, monkeypatch):
    built: list[registry.Connection] = []
    sentinel = object()

    class Fake:
        name = "fake"

        def connect(self, connection: registry.Connection, **options: Any) -> Any:
            built.append(connection)
            return sentinel  # any object: the registry hands back what the kind builds

        async def verify(self, connection: registry.Connection, *, timeout_s: float) -> None:
            return None

    registry.names()
    monkeypatch.setitem(registry._KINDS, "fake", Fake())
    key = settings.secret_key.get_secret_value()
    async with session_factory() as s, s.begin():
        sid = await upsert_server(s, key, ServerConfig(unique("fake"), "http://127.0.0.1:9", 1000, "pw",
                                                        platform="fake", enabled=False))
    async with session_factory() as s:
        server = await s.get(TradingServer, sid)
        assert server is not None
        assert platform_for(server, key) is sentinel  # type: ignore[comparison-overlap]
    assert built == [registry.Connection("http://127.0.0.1:9", 1000, "pw")]
