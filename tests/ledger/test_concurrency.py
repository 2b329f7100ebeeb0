"""Concurrent money movements: no deadlock surfaces, house shards stay consistent, totals are exact."""

from __future__ import annotations

import asyncio
import random
import uuid
from decimal import Decimal

from sqlalchemy import text

from domain.ledger import wallets
from domain.ledger.accounts import wallet_for
from domain.ledger.errors import InsufficientFunds
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from tests.ledger.conftest import check_invariants, client


async def test_fifty_concurrent_movements(session_factory, make_user):
    rng = random.Random(11)
    uids = [await make_user() for _ in range(6)]
    wids = []
    for uid in uids:
        await in_transaction(session_factory, lambda s, u=uid: wallets.deposit_to_wallet(  # type: ignore[misc]
            s, client(u), user_id=u, currency="USD", amount=Decimal("100"), idempotency_key=uuid.uuid4().hex))
        wids.append((await in_transaction(session_factory, lambda s, u=uid: wallet_for(s, u, "USD"))).id)  # type: ignore[misc]
    deposited = Decimal(600)

    async def one(i: int) -> tuple[str, Decimal]:
        k = uuid.uuid4().hex
        if i % 3 == 0:
            u = rng.choice(uids)
            await in_transaction(session_factory, lambda s: wallets.deposit_to_wallet(
                s, client(u), user_id=u, currency="USD", amount=Decimal("5"), idempotency_key=k))
            return "deposit", Decimal(5)
        if i % 3 == 1:
            u = rng.choice(uids)
            try:
                await in_transaction(session_factory, lambda s: wallets.exchange(
                    s, client(u), user_id=u, from_currency="USD", to_currency="EUR", amount=Decimal("7"),
                    idempotency_key=k))
            except InsufficientFunds:
                return "refused", Decimal(0)
            return "exchange", Decimal(7)
        a, b = rng.sample(wids, 2)  # opposite directions collide on purpose
        try:
            await in_transaction(session_factory, lambda s: wallets.wallet_transfer(
                s, system_actor("t"), from_wallet_id=a, to_wallet_id=b, amount=Decimal("9"), idempotency_key=k,
                owner_id=None))
        except InsufficientFunds:
            return "refused", Decimal(0)
        return "transfer", Decimal(0)

    results = await asyncio.gather(*(one(i) for i in range(50)))

    deposits = sum(amount for kind, amount in results if kind == "deposit")
    sold = sum(amount for kind, amount in results if kind == "exchange")
    async with session_factory() as s:
        total = await s.scalar(text("SELECT sum(balance) FROM ledger_balances WHERE account_id = ANY(:ids)"),
                               {"ids": wids})
    assert total == deposited + deposits - sold
    await check_invariants(session_factory)
