"""A small book for the reporting tests: its own server, accounts in a few groups (one B, one A, one
hybrid, one unmapped, one with a spread markup), clients on a desk of their own, a currency of its own
with a USD rate, and random deals around a few days."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from domain.platforms.port import Deal
from domain.shared.db import in_transaction
from domain.trading.ingestion import ingest_batch
from tests.trading.conftest import new_server

DAY0 = date(2025, 3, 3)
GROUPS = ("rep\\b", "rep\\a", "rep\\hyb", "rep\\none")
SYMBOLS = {"EURUSD": (Decimal("1.08500"), 100_000, Decimal("0.0001")), "XAUUSD": (Decimal("2350.00"), 100, Decimal("0.01"))}


@dataclass
class World:
    server_id: int
    desk: str
    other_desk: str
    logins: list[int]
    user_ids: list[int]
    currency: str
    next_deal: int = 1
    deals: list[Deal] = field(default_factory=list)


async def make_world(session_factory: Any, *, accounts: int = 6) -> World:
    server_id = await new_server(session_factory, "http://127.0.0.1:9", "x")
    tag = uuid.uuid4().hex[:8]
    desk, other = f"rep-{tag}", f"rep-other-{tag}"
    cur = "Z" + uuid.uuid4().hex[:6].upper()  # a currency nobody else prices
    logins, users = [], []
    async with session_factory() as s, s.begin():
        await s.execute(text("INSERT INTO risk_group_books (server_id, grp, book, a_book_pct) VALUES "
                             "(:s, :b, 'B', 0), (:s, :a, 'A', 100), (:s, :h, 'HYBRID', 40)"),
                        {"s": server_id, "b": GROUPS[0], "a": GROUPS[1], "h": GROUPS[2]})
        await s.execute(text("INSERT INTO reporting_spread_markups (server_id, grp, markup_pips) VALUES (:s, :g, 0.7)"),
                        {"s": server_id, "g": GROUPS[0]})
        for sym, (_, contract, pip) in SYMBOLS.items():
            await s.execute(text(
                "INSERT INTO trading_instruments (server_id, symbol, canonical, asset_class, path, contract_size, "
                "base_currency, quote_currency, digits, pip_size) VALUES (:s, :sym, :sym, :ac, '', :c, 'EUR', 'USD', 5, :p) "
                "ON CONFLICT DO NOTHING"), {"s": server_id, "sym": sym, "ac": "fx" if sym == "EURUSD" else "metal",
                                            "c": contract, "p": pip})
        await s.execute(text("INSERT INTO trading_usd_rates (currency, valid_from, rate) VALUES "
                             "(:c, :t0, 1.1), (:c, :t1, 1.2)"),
                        {"c": cur, "t0": datetime(2025, 1, 1, tzinfo=UTC), "t1": datetime(2025, 3, 4, 12, tzinfo=UTC)})
        for i in range(accounts):
            email = f"{tag}{i}@example.com"
            uid = int(await s.scalar(text(
                "INSERT INTO users (email, email_normalized, is_client) VALUES (:e, :e, true) RETURNING id"), {"e": email}))
            await s.execute(text("INSERT INTO clients (user_id, status, desk, country) VALUES (:u, 'approved', :d, :c)"),
                            {"u": uid, "d": desk if i % 3 else other, "c": ("DE", "CY", "GB")[i % 3]})
            login = 900_000 + server_id * 100 + i
            await s.execute(text(
                "INSERT INTO trading_accounts (server_id, login, user_id, \"group\", leverage, currency) "
                "VALUES (:s, :l, :u, :g, 100, :c)"),
                {"s": server_id, "l": login, "u": uid, "g": GROUPS[i % len(GROUPS)], "c": cur if i % 2 else "USD"})
            logins.append(login)
            users.append(uid)
        # an A-book override for one B-group account from day 1 on
        acc = await s.scalar(text("SELECT id FROM trading_accounts WHERE server_id = :s AND login = :l"),
                             {"s": server_id, "l": logins[0]})
        await s.execute(text("INSERT INTO risk_assignments (account_id, book, a_book_pct, source, effective_at) "
                             "VALUES (:a, 'A', 100, 'override', :t)"),
                        {"a": acc, "t": datetime.combine(DAY0 + timedelta(days=1), datetime.min.time(), UTC)})
    return World(server_id, desk, other, logins, users, cur)


def random_deals(world: World, rng: random.Random, n: int) -> list[Deal]:
    out = []
    for _ in range(n):
        sym = rng.choice([*SYMBOLS, ""]) if rng.random() < 0.95 else ""
        price, contract, _pip = SYMBOLS.get(sym, (Decimal(0), 0, Decimal(0)))
        at = datetime.combine(DAY0, datetime.min.time(), UTC) + timedelta(seconds=rng.randrange(3 * 86400))
        ms = int(at.timestamp() * 1000)
        action = rng.randrange(2) if sym else 2
        login = rng.choice(world.logins) if rng.random() < 0.95 else 1  # now and then an unknown login
        d = Deal(deal=world.next_deal, login=login, order=world.next_deal, position_id=world.next_deal,
                 action=action, entry=rng.randrange(2) if sym else 0, time=at, time_msc=ms, symbol=sym,
                 price=price, volume=Decimal(rng.randrange(1, 500)) / 100 if sym else Decimal(0),
                 profit=Decimal(rng.randrange(-90000, 90000)) / 100,
                 commission=-Decimal(rng.randrange(0, 1000)) / 100, storage=Decimal(rng.randrange(-500, 500)) / 100,
                 fee=-Decimal(rng.randrange(0, 100)) / 100, reason=0, contract_size=Decimal(contract),
                 rate_profit=Decimal(1), rate_margin=Decimal(1), comment="", external_tag=None)
        world.next_deal += 1
        world.deals.append(d)
        out.append(d)
    return out


async def ingest(session_factory: Any, world: World, deals: list[Deal]) -> None:
    await in_transaction(session_factory, lambda s: ingest_batch(s, world.server_id, deals))


async def deal_rollup(session_factory: Any, server_id: int) -> list[tuple[Any, ...]]:
    async with session_factory() as s:
        rows = (await s.execute(text(
            "SELECT day, symbol, grp, book, desk, deals, volume_lots, notional_usd, markup_usd, commission_usd, "
            "fee_usd, swap_usd, client_pnl_usd, bbook_pnl_usd, unpriced FROM reporting_deal_daily "
            "WHERE server_id = :s ORDER BY day, symbol, grp, book, desk"), {"s": server_id})).all()
    return [tuple(r) for r in rows]
