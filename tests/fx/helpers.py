"""Rates and quotes for tests that exchange: the stand-in's starting rates, stored as now."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.fx.port import RateSnapshot
from domain.fx.quotes import create_quote
from domain.fx.rates import store_snapshot
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction, utcnow
from sandbox.fx import START


async def seed_rates(session_factory: Any) -> None:
    snapshot = RateSnapshot("ecb", "EUR", utcnow(), {c: Decimal(r) for c, r in START.items()})
    await in_transaction(session_factory, lambda s: store_snapshot(s, system_actor("tests"), snapshot))


async def new_quote(session_factory: Any, uid: int, *, sell: str = "USD", buy: str = "EUR",
                    amount: str = "10") -> str:
    """A fresh quote for the client (rates seeded first)."""
    await seed_rates(session_factory)
    quote = await in_transaction(session_factory, lambda s: create_quote(
        s, Actor(ActorKind.CLIENT, user_id=uid), user_id=uid, from_currency=sell, to_currency=buy,
        amount=Decimal(amount)))
    return str(quote.id)
