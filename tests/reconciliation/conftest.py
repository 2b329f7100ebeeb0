"""Reconciliation fixtures: a simulator process of the test's own (its manual clock starts inside
the test's window), a trading-server row for it, a client with a funded wallet and a linked
trading account, and helpers to pull deals, import settlement CSVs and run as of now.

Runs use the window (test start, now], so rows other tests left in the shared database fall
outside it; section (d) only uses snapshots taken inside the window.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from domain.ledger import transfers, wallets
from domain.ledger.accounts import link_trading_account, wallet_for
from domain.ledger.errors import TradingAccountNotFound
from domain.platforms.mt5 import MT5Platform
from domain.platforms.port import NewAccount
from domain.reconciliation import runs, settlement, snapshots
from domain.reconciliation.breaks import BreakView, list_breaks
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction, utcnow
from domain.shared.pagination import PageRequest
from domain.trading.puller import pull_server
from tests.platforms.conftest import SimServer
from tests.trading.conftest import new_server

STAFF = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"reconciliation.manage"}))


@pytest.fixture
def window_start() -> datetime:
    return utcnow() - timedelta(milliseconds=5)


@pytest.fixture
def recon_sim(window_start: datetime, tmp_path: Path) -> Iterator[SimServer]:
    server = SimServer(tmp_path / "sim", password=secrets.token_urlsafe(12) + "Aa1!")
    server.start()
    yield server
    server.stop()


@dataclass
class World:
    factory: Any
    sim: SimServer
    platform: MT5Platform
    server_id: int
    user_id: int
    wallet_id: int
    login: int
    currency: str
    start: datetime
    provider: str = field(default_factory=lambda: f"psp{uuid.uuid4().hex[:8]}")
    deposits: list[tuple[str, Decimal]] = field(default_factory=list)

    @property
    def server(self) -> str:
        return str(self.server_id)

    def lookup(self, sid: str) -> MT5Platform:
        """This world's platform for its own server only: the test database keeps other tests' servers and
        mirrors (the first login on every simulator is 100000), and asking this simulator about them would
        snapshot its balance under another server's key."""
        if sid != self.server:
            raise TradingAccountNotFound("no such trading server", field="serverId")
        return self.platform

    async def deposit(self, amount: str, *, reference: str | None = None) -> str:
        """A PSP deposit into the wallet (clearing -> wallet) under this world's provider."""
        ref = reference or f"dep-{uuid.uuid4().hex[:10]}"

        async def work(s: Any) -> None:
            await wallets.deposit_to_wallet(s, system_actor("test"), user_id=self.user_id, currency=self.currency,
                                            amount=Decimal(amount), idempotency_key=uuid.uuid4().hex,
                                            provider=self.provider, reference=ref)

        await in_transaction(self.factory, work)
        self.deposits.append((ref, Decimal(amount)))
        return ref

    async def to_account(self, amount: str) -> transfers.TransferView:
        return await transfers.transfer_to_trading_account(
            self.factory, Actor(ActorKind.CLIENT, user_id=self.user_id), user_id=self.user_id,
            wallet_id=self.wallet_id, server_id=self.server, login=self.login, amount=Decimal(amount),
            idempotency_key=uuid.uuid4().hex, platforms=self.lookup)

    async def from_account(self, amount: str) -> transfers.TransferView:
        return await transfers.transfer_from_trading_account(
            self.factory, Actor(ActorKind.CLIENT, user_id=self.user_id), user_id=self.user_id,
            wallet_id=self.wallet_id, server_id=self.server, login=self.login, amount=Decimal(amount),
            idempotency_key=uuid.uuid4().hex, platforms=self.lookup)

    async def hand_operation(self, amount: str, comment: str = "manual correction") -> None:
        """A balance operation a dealer makes in the platform's own UI: no external id in the comment."""
        result = await self.platform._client.get_write(
            "trade/balance", {"login": self.login, "type": 2, "balance": amount, "comment": comment,
                              "check_margin": 0})
        assert result.answer() is not None

    async def pull(self) -> None:
        result = await pull_server(self.factory, self.server_id, self.platform, ignore_backoff=True)
        assert result.error is None, result

    def csv(self, lines: list[tuple[str, Decimal]], *, fee: str = "0", settled_at: datetime | None = None) -> str:
        at = (settled_at or utcnow()).isoformat()
        rows = ["provider,reference,amount,currency,fee,settled_at,status"]
        rows += [f"{self.provider},{ref},{amount},{self.currency},{fee},{at},settled" for ref, amount in lines]
        return "\n".join(rows) + "\n"

    async def import_csv(self, content: str) -> settlement.ImportedReport:
        return await in_transaction(self.factory, lambda s: settlement.import_csv(s, STAFF, self.provider, content))

    async def snapshot(self) -> snapshots.CaptureResult:
        return await snapshots.capture_balances(self.factory, platforms=self.lookup)

    async def run(self, cutoff: datetime | None = None) -> runs.RunView:
        cut = cutoff or utcnow()
        return await in_transaction(self.factory, lambda s: runs.run_reconciliation(
            s, STAFF, cut, window=cut - self.start))

    async def breaks(self, run_id: int) -> list[BreakView]:
        """The run's three-way breaks: client money covers every client in the shared database (and no
        resource is recorded here), and the bank section every wire posting of a currency some statement
        covers, so their breaks are tested on their own (test_client_money.py, test_camt053.py)."""
        async with self.factory() as s:
            page = await list_breaks(s, run_id=run_id, status=None, kind=None, page=PageRequest(size=500))
        return [b for b in page.items if b.section not in ("client_money", "bank")]


@pytest.fixture
async def world(session_factory: Any, make_user: Any, recon_sim: SimServer, window_start: datetime,  # noqa: F811
                ) -> AsyncIterator[World]:
    platform = recon_sim.platform(timeout=2.0)
    server_id = await new_server(session_factory, recon_sim.base_url, recon_sim.password)
    uid = await make_user()
    login = (await platform.create_account(NewAccount(group="real\\standard", leverage=100, name="R"))).login
    currency = (await platform.get_account_state(login)).currency

    async def prepare(s: Any) -> int:
        await link_trading_account(s, user_id=uid, server_id=str(server_id), login=login, currency=currency)
        return (await wallet_for(s, uid, currency)).id

    wid = await in_transaction(session_factory, prepare)
    yield World(session_factory, recon_sim, platform, server_id, uid, wid, login, currency, window_start)
    await platform.aclose()
    # A run reads every snapshot younger than SNAPSHOT_MAX_AGE: the next world's run must not judge this
    # world's simulator, which is gone (its balances were deliberately broken by some tests).
    async with session_factory() as s, s.begin():
        await s.execute(text("DELETE FROM reconciliation_platform_balances WHERE server_id = :s"),
                        {"s": str(server_id)})


def three_way_breaks(summary: dict[str, Any]) -> int:
    """Breaks of the run's summary outside the client-money section (see World.breaks)."""
    return sum(n for name, counts in summary["sections"].items() if name not in ("client_money", "bank")
               for kind, n in counts.items() if kind != "matched")


def kinds(found: list[BreakView]) -> list[tuple[str, str]]:
    return sorted((b.section, b.kind.value) for b in found if b.status.value == "open")


from tests.ledger.conftest import make_user  # noqa: E402, F401 - users created with SQL
