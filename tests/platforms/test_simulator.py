"""Simulator behaviour seen through the MT5 adapter: trader profiles, persistence across restart."""

from __future__ import annotations

import secrets
from collections import defaultdict
from decimal import Decimal
from typing import Any

from domain.platforms.port import BalanceOpKind, DealCursor, DealEntry, NewAccount
from tests.platforms.conftest import SimServer, new_funded_account


async def _deals_of(platform, cursor, logins):
    deals: list[Any] = []
    page_has_more = True
    while page_has_more:
        page = await platform.deals_since(cursor, limit=5000)
        deals.extend(d for d in page.deals if d.login in logins)
        cursor, page_has_more = page.next_cursor, page.has_more
    return deals


def _holds(deals):
    """position id -> (IN deal, OUT deal) for closed positions."""
    legs: dict[int, dict[int, Any]] = defaultdict(dict)
    for d in deals:
        if d.symbol:
            legs[d.position_id][d.entry] = d
    return {p: (v[DealEntry.IN], v[DealEntry.OUT]) for p, v in legs.items() if len(v) == 2}


async def test_profiles_generate_deals_matching_their_behaviour(sim: SimServer, platform):
    scalper = await new_funded_account(platform, "100000")
    hedge_a = await new_funded_account(platform, "100000")
    hedge_b = await new_funded_account(platform, "100000")
    arbitrageur = await new_funded_account(platform, "100000")
    sim.ok("POST", "traders", {"login": scalper, "profile": "scalper"})
    sim.ok("POST", "traders", {"login": hedge_a, "profile": "hedger", "partner": hedge_b})
    truth = sim.ok("POST", "traders", {"login": arbitrageur, "profile": "latency_arbitrage"})
    assert truth["traders"][str(scalper)] == "scalper"
    assert [hedge_a, hedge_b] in truth["hedge_pairs"]
    cursor = (await platform.deals_since(DealCursor.start(), limit=1_000_000)).next_cursor

    sim.ok("POST", "tick", steps=1800, activity=3)

    deals = await _deals_of(platform, cursor, {scalper, hedge_a, hedge_b, arbitrageur})
    by_login = defaultdict(list)
    for d in deals:
        by_login[d.login].append(d)
    scalps = _holds(by_login[scalper])
    assert len(scalps) >= 10
    assert all(out.time_msc - entry.time_msc <= 61_000 for entry, out in scalps.values())

    hedges_a, hedges_b = _holds(by_login[hedge_a]), _holds(by_login[hedge_b])
    assert hedges_a and len(hedges_a) == len(hedges_b)
    for (in_a, _), (in_b, _) in zip(
        sorted(hedges_a.values(), key=lambda x: x[0].time_msc),
        sorted(hedges_b.values(), key=lambda x: x[0].time_msc),
        strict=True,
    ):
        assert in_a.symbol == in_b.symbol and in_a.volume == in_b.volume
        assert in_a.action != in_b.action  # opposite sides
        assert 0 < in_b.time_msc - in_a.time_msc <= 40

    arbs = _holds(by_login[arbitrageur])
    assert len(arbs) >= 3
    assert all(out.time_msc - entry.time_msc <= 3_000 for entry, out in arbs.values())
    wins = sum(1 for _, out in arbs.values() if out.profit > 0)
    assert wins / len(arbs) >= 0.7


async def test_state_survives_a_restart_and_deal_ids_keep_increasing(tmp_path):
    server = SimServer(tmp_path / "restart", password=secrets.token_urlsafe(12) + "Aa1!")
    server.start()
    try:
        platform = server.platform()
        account = await platform.create_account(NewAccount(group="real\\raw", leverage=300, name="Persisted"))
        deposit = await platform.balance_operation(
            account.login, BalanceOpKind.DEPOSIT, Decimal("5000"), "dep", "persist-1"
        )
        server.ok(
            "POST", "trade", {"login": account.login, "symbol": "GBPUSD", "side": "sell", "lots": "0.2"}
        )
        before = await platform.deals_since(DealCursor.start(), limit=1000)
        state_before = await platform.get_account_state(account.login)

        server.stop()
        server.start()  # same data dir, new port
        await platform.aclose()
        platform = server.platform()

        assert (await platform.get_account(account.login)).leverage == 300
        assert (await platform.get_account_state(account.login)).balance == state_before.balance
        [position] = await platform.open_positions([account.login])
        assert position.volume == Decimal("0.2")
        found = await platform.find_balance_operation(account.login, "persist-1")
        assert found is not None and found.ticket == deposit.ticket
        after = await platform.deals_since(DealCursor.start(), limit=1000)
        assert [d.deal for d in after.deals] == [d.deal for d in before.deals]
        second = await platform.balance_operation(
            account.login, BalanceOpKind.DEPOSIT, Decimal("1"), "dep", "persist-2"
        )
        assert second.ticket > max(d.deal for d in before.deals)
        await platform.aclose()
    finally:
        server.stop()
