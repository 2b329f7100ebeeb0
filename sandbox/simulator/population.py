"""A default population of accounts and traders, for a live simulator started with no traders."""

from __future__ import annotations

import secrets
from decimal import Decimal

from sandbox.simulator.engine import Engine
from sandbox.simulator.traders import attach

_MIX = ("ordinary",) * 6 + ("scalper",) * 3 + ("latency_arbitrage", "news_trader")


def populate(engine: Engine, groups: int = 1) -> list[int]:
    """Create accounts funded with 10 000 USD: `groups` times (6 ordinary, 3 scalpers, 1 arbitrageur,
    1 news trader, 1 hedger pair, 1 request flooder). Returns the new logins."""
    logins: list[int] = []
    for g in range(groups):
        for i, profile in enumerate((*_MIX, "hedger", "hedger", "flooder")):
            account = engine.add_user(
                {
                    "Group": "real\\raw" if i % 2 else "real\\standard",
                    "Leverage": 100,
                    "Name": f"Sim {profile} {g}-{i}",
                    "PassMain": secrets.token_urlsafe(12) + "Aa1",
                }
            )
            engine.balance_operation(account.login, 2, Decimal(10_000), "initial deposit", False)
            logins.append(account.login)
            if profile not in ("hedger", "flooder"):
                attach(engine, account.login, profile)
        attach(engine, logins[-3], "hedger", partner=logins[-2])
        attach(engine, logins[-1], "flooder")  # last, so the other traders keep their order
    return logins
