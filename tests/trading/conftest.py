"""Fixtures: a real simulator process (manual clock) with simulated traders, and trading-server rows
pointing at it. Every test registers its own server row, so each starts from an empty cursor."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from sqlalchemy import text
from strawberry.extensions import MaskErrors
from strawberry.tools import merge_types

from domain.platforms.mt5 import MT5Platform
from domain.platforms.port import Deal, DealCursor
from domain.trading.servers import ServerConfig, upsert_server
from schema.errors import should_mask
from schema.trading.resolvers import MUTATIONS, QUERIES
from tests.conftest import unique
from tests.platforms.conftest import MANAGER_LOGIN, SimServer

SECRET = "test-secret-key-for-trading-0123456789abcdef"


@pytest.fixture(scope="session")
def trading_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    server = SimServer(tmp_path_factory.mktemp("trading-sim"), password=secrets.token_urlsafe(12) + "Aa1!", seed=11)
    server.start()
    server.ok("POST", "populate", {"groups": 2})
    server.ok("POST", "tick", steps=400, step_ms=1000, activity=3)
    yield server
    server.stop()


def sim_platform(sim: SimServer) -> MT5Platform:
    return MT5Platform.connect(sim.credentials(), timeout=3.0, retries=1, backoff=0.01)


@pytest.fixture
async def platform(trading_sim: SimServer) -> AsyncIterator[MT5Platform]:
    p = sim_platform(trading_sim)
    yield p
    await p.aclose()


async def new_server(session_factory: Any, base_url: str, password: str) -> int:
    async with session_factory() as session, session.begin():
        return await upsert_server(
            session, SECRET, ServerConfig(unique("srv"), base_url, MANAGER_LOGIN, password)
        )


@pytest.fixture
async def server_id(session_factory: Any, trading_sim: SimServer) -> int:
    return await new_server(session_factory, trading_sim.base_url, trading_sim.password)


async def all_sim_deals(platform: MT5Platform) -> list[Deal]:
    """Every deal on the simulator, straight from its deal pages."""
    deals: list[Deal] = []
    cursor = DealCursor.start()
    while True:
        page = await platform.deals_since(cursor, 1000)
        deals.extend(page.deals)
        cursor = page.next_cursor
        if not page.has_more or not page.deals:
            return deals


@pytest.fixture(scope="module")
def trading_schema() -> strawberry.Schema:
    """The trading queries and mutations, errors masked as the API masks them."""
    return strawberry.Schema(
        query=merge_types("Query", QUERIES), mutation=merge_types("Mutation", MUTATIONS),
        extensions=[MaskErrors(should_mask_error=should_mask)],  # type: ignore[list-item]
    )


async def new_client_user(session_factory: Any) -> int:
    """A bare client user (no client record): the owner of accounts a test links by hand."""
    async with session_factory() as session, session.begin():
        uid = await session.scalar(text(
            "INSERT INTO users (email, email_normalized, is_client) VALUES (:e, :e, true) RETURNING id"),
            {"e": unique("u") + "@example.com"})
    return int(uid)
