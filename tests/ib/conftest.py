"""IB fixtures: users, IBs, a trading server and accounts made with SQL, deals through the real
ingestion, and one distinct day per test so period recomputes never see another test's deals."""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.ib import network
from domain.ib.engine import BatchOutcome, process_batch
from domain.platforms.port import Deal
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction
from domain.trading.ingestion import DealBatch, ingest_batch

STAFF = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"ib.manage_network", "ib.manage_plans"}))
ENGINE = system_actor("ib-test")
_DAYS = itertools.count(random.randrange(0, 50) * 40)
_DEAL_IDS = itertools.count(1)


def new_day() -> datetime:
    """A day of its own in 2021-2025 for one test's deals."""
    return datetime(2021, 1, 1, tzinfo=UTC) + timedelta(days=next(_DAYS))


@dataclass
class World:
    factory: Any
    server_id: int
    day: datetime

    async def sql(self, query: str, **params: Any) -> Any:
        async with self.factory() as s, s.begin():
            result = await s.execute(text(query), params)
            return result.all() if result.returns_rows else []

    async def user(self) -> int:
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        rows = await self.sql("INSERT INTO users (email, email_normalized, is_client) VALUES (:e, :e, true) "
                              "RETURNING id", e=email)
        return int(rows[0][0])

    async def ib(self, parent: int | None = None, *, at: datetime | None = None) -> int:
        uid = await self.user()
        when = at or self.day - timedelta(days=30)

        async def go(s: Any) -> None:
            await network.apply(s, STAFF, uid, parent_id=parent)
            await network.approve(s, STAFF, uid, at=when)

        await in_transaction(self.factory, go)
        return uid

    async def client_of(self, ib: int, *, at: datetime | None = None) -> int:
        uid = await self.user()
        await self.sql("INSERT INTO ib_client_attributions (client_id, ib_id, source, valid_from) "
                       "VALUES (:c, :ib, 'registration', :at)", c=uid, ib=ib, at=at or self.day - timedelta(days=20))
        return uid

    async def account(self, user_id: int, *, group: str = "real\\std", currency: str = "USD") -> int:
        login = random.randrange(10**8, 10**9)
        await self.sql("INSERT INTO trading_accounts (server_id, login, user_id, \"group\", leverage, currency) "
                       "VALUES (:s, :l, :u, :g, 100, :c)", s=self.server_id, l=login, u=user_id, g=group, c=currency)
        return login

    def deal(self, login: int, *, minutes: float = 60, symbol: str = "EURUSD", volume: str = "1", entry: int = 1,
             commission: str = "0", position: int | None = None, action: int = 0) -> Deal:
        at = self.day + timedelta(minutes=minutes)
        ms = int(at.timestamp() * 1000)
        did = next(_DEAL_IDS)
        return Deal(deal=did, login=login, order=did, position_id=position or did, action=action, entry=entry,
                    time=at, time_msc=ms, symbol=symbol, price=Decimal("1.1"), volume=Decimal(volume),
                    profit=Decimal(0), commission=Decimal(commission), storage=Decimal(0), fee=Decimal(0), reason=0,
                    contract_size=Decimal(100000), rate_profit=Decimal(1), rate_margin=Decimal(1), comment="",
                    external_tag=None)

    async def ingest(self, deals: list[Deal]) -> DealBatch:
        async def go(s: Any) -> DealBatch:
            result = await ingest_batch(s, self.server_id, deals)
            batch = DealBatch.from_event(result.event_payload(self.server_id), result.event_id)
            assert batch is not None
            return batch

        return await in_transaction(self.factory, go)

    async def run(self, batch: DealBatch) -> BatchOutcome:
        return await in_transaction(self.factory, lambda s: process_batch(s, ENGINE, batch))

    async def trade(self, deals: list[Deal]) -> BatchOutcome:
        return await self.run(await self.ingest(deals))

    async def earned(self, ib: int) -> dict[int, Decimal]:
        """Net amount per level for an IB over all its lines."""
        rows = await self.sql("SELECT level, sum(amount) FROM ib_commission_lines WHERE ib_id = :ib GROUP BY level",
                              ib=ib)
        return {int(r[0]): Decimal(r[1]) for r in rows}

    async def total(self, ib: int) -> Decimal:
        rows = await self.sql("SELECT coalesce(sum(amount), 0) FROM ib_commission_lines WHERE ib_id = :ib", ib=ib)
        return Decimal(rows[0][0])


@pytest.fixture
async def world(session_factory: Any) -> World:
    name = f"ib-{uuid.uuid4().hex[:10]}"
    async with session_factory() as s, s.begin():
        sid = await s.scalar(text(
            "INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc) "
            "VALUES (:n, 'mt5', 'http://127.0.0.1:1', 1, 'x') RETURNING id"), {"n": name})
    return World(session_factory, int(sid), new_day())


COUNTED = ("ib_partners", "ib_tree_edges", "ib_closure", "ib_client_attributions", "ib_plans", "ib_plan_versions",
           "ib_plan_clauses", "ib_plan_assignments", "ib_commission_lines", "ib_batches", "audit_events", "outbox",
           "ledger_entries")


async def counts(factory: Any) -> dict[str, int]:
    """Row counts of every table an IB operation may write (refusals must leave them unchanged)."""
    out: dict[str, int] = {}
    async with factory() as s:
        for table in COUNTED:
            out[table] = int(await s.scalar(text(f"SELECT count(*) FROM {table}")))
    return out
