"""Wallet <-> trading account transfers end to end against the simulator process."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.ledger import transfers, wallets
from domain.ledger.accounts import link_trading_account, wallet_for
from domain.ledger.errors import InsufficientFreeMargin
from domain.ledger.transfers import TransferStatus
from domain.platforms.port import AccountState, NewAccount
from domain.shared.db import in_transaction, utcnow
from tests.ledger.conftest import check_invariants, client, key, snapshot, wallet_balance
from tests.platforms.conftest import SimServer


@pytest.fixture
async def setup(session_factory, make_user, sim: SimServer) -> Any:
    platform = sim.platform(timeout=1.0)
    uid = await make_user()
    login = (await platform.create_account(NewAccount(group="real\\standard", leverage=100, name="T"))).login
    state = await platform.get_account_state(login)

    async def prepare(s: Any) -> int:
        await link_trading_account(s, user_id=uid, server_id="sim", login=login, currency=state.currency)
        await wallets.deposit_to_wallet(s, client(uid), user_id=uid, currency=state.currency,
                                        amount=Decimal("500"), idempotency_key=key())
        return (await wallet_for(s, uid, state.currency)).id

    wid = await in_transaction(session_factory, prepare)
    yield uid, wid, login, platform
    await platform.aclose()


def to_account(factory: Any, uid: int, wid: int, login: int, platform: Any, amount: str, k: str) -> Any:
    return transfers.transfer_to_trading_account(
        factory, client(uid), user_id=uid, wallet_id=wid, server_id="sim", login=login, amount=Decimal(amount),
        idempotency_key=k, platforms=lambda _sid: platform)


async def test_transfer_to_account_captures_hold_once(session_factory, setup):
    uid, wid, login, platform = setup
    k = key()

    done = await to_account(session_factory, uid, wid, login, platform, "200", k)
    again = await to_account(session_factory, uid, wid, login, platform, "200", k)

    assert done.status is TransferStatus.DONE and done.entry_id is not None
    assert again.id == done.id and again.replayed
    assert await wallet_balance(session_factory, wid) == (Decimal("300"), Decimal("0"))
    assert (await platform.get_account_state(login)).balance == Decimal("200")
    await check_invariants(session_factory)


async def test_withdrawal_beyond_free_margin_is_refused(session_factory, setup):
    uid, wid, login, platform = setup
    await to_account(session_factory, uid, wid, login, platform, "100", key())
    before = await snapshot(session_factory)

    with pytest.raises(InsufficientFreeMargin) as err:
        await transfers.transfer_from_trading_account(
            session_factory, client(uid), user_id=uid, wallet_id=wid, server_id="sim", login=login,
            amount=Decimal("100.01"), idempotency_key=key(), platforms=lambda _sid: platform)

    assert err.value.code == "INSUFFICIENT_FREE_MARGIN"
    assert await snapshot(session_factory) == before


class OptimisticMargin:
    """The real platform, except that it reports more free margin than there is (a race in miniature)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def get_account_state(self, login: int) -> AccountState:
        state: AccountState = await self._inner.get_account_state(login)
        return dataclasses.replace(state, margin_free=Decimal("1000000"))


async def test_platform_not_enough_money_fails_the_withdrawal(session_factory, setup):
    uid, wid, login, platform = setup
    await to_account(session_factory, uid, wid, login, platform, "100", key())
    wallet_before = await wallet_balance(session_factory, wid)

    result = await transfers.transfer_from_trading_account(
        session_factory, client(uid), user_id=uid, wallet_id=wid, server_id="sim", login=login,
        amount=Decimal("150"), idempotency_key=key(), platforms=lambda _sid: OptimisticMargin(platform))

    assert result.status is TransferStatus.FAILED and result.error_code == "PLATFORM_NOT_ENOUGH_MONEY"
    assert await wallet_balance(session_factory, wid) == wallet_before
    assert (await platform.get_account_state(login)).balance == Decimal("100")
    back = await transfers.transfer_from_trading_account(
        session_factory, client(uid), user_id=uid, wallet_id=wid, server_id="sim", login=login,
        amount=Decimal("60"), idempotency_key=key(), platforms=lambda _sid: platform)
    assert back.status is TransferStatus.DONE
    assert await wallet_balance(session_factory, wid) == (wallet_before[0] + 60, Decimal("0"))
    await check_invariants(session_factory)


async def test_lost_answer_is_looked_up_and_settled(session_factory, setup, sim: SimServer):
    uid, wid, login, platform = setup
    sim.ok("POST", "faults", {"drop_next_balance": True})

    result = await to_account(session_factory, uid, wid, login, platform, "120", key())

    assert result.status is TransferStatus.DONE
    assert (await platform.get_account_state(login)).balance == Decimal("120")  # applied exactly once
    assert await wallet_balance(session_factory, wid) == (Decimal("380"), Decimal("0"))
    await check_invariants(session_factory)


async def test_unknown_outcome_waits_for_recovery(session_factory, setup, sim: SimServer):
    uid, wid, login, platform = setup
    sim.ok("POST", "faults", {"drop_next_balance": True})
    pending = asyncio.create_task(to_account(session_factory, uid, wid, login, platform, "90", key()))
    await asyncio.sleep(0.5)  # the deposit is applied and its answer withheld; now the lookup fails too
    sim.ok("POST", "faults", {"unavailable": 50})

    result = await pending

    sim.ok("POST", "faults", {"unavailable": 0})
    assert result.status is TransferStatus.UNKNOWN
    assert await wallet_balance(session_factory, wid) == (Decimal("500"), Decimal("90"))  # hold kept
    await check_invariants(session_factory)

    counts = await transfers.recover_transfers(session_factory, platforms=lambda _sid: platform,
                                               now=utcnow() + timedelta(minutes=1))
    again = await transfers.recover_transfers(session_factory, platforms=lambda _sid: platform,
                                              now=utcnow() + timedelta(minutes=2))

    assert counts["done"] >= 1 and again["done"] == 0
    assert await wallet_balance(session_factory, wid) == (Decimal("410"), Decimal("0"))
    assert (await platform.get_account_state(login)).balance == Decimal("90")
    await check_invariants(session_factory)
