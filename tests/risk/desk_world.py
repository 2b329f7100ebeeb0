"""A small hand-made book for the dealing-desk tests: one server, one registered client with one
account, deals around a period, an open position, a flag and metrics — isolated from the simulator."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.trading.conftest import new_server

B_GROUP, A_GROUP = "desk\\b", "desk\\a"


@dataclass
class World:
    server_id: int
    client_id: int
    user_id: int
    account_id: int
    login: int
    flag_id: int
    t0: datetime
    symbol: str


# (minutes from t0, position, action 0 buy / 1 sell, entry 0 in / 1 out, lots, profit, swap)
DEALS = [
    (-60, 1, 0, 0, "1", "0", "0"),  # before the period: opens 1 lot long
    (10, 1, 1, 1, "1", "500", "-10"),  # closes it: client +490
    (20, 2, 0, 0, "2", "0", "0"),  # 2 lots long, still open at the end
    (30, 3, 1, 0, "0.5", "0", "0"),  # 0.5 short ...
    (40, 3, 0, 1, "0.5", "-200", "0"),  # ... closed: client -200 (after the A-book assignment at +35)
    (120, 2, 1, 1, "2", "999", "0"),  # after the period: ignored
]


async def make_world(http: Any, session_factory: Any) -> World:
    client = await register(GraphQLClient(http))
    user_id = int(client["viewer"]["id"])
    server_id = await new_server(session_factory, "http://127.0.0.1:9", "x")
    symbol = f"W{uuid.uuid4().hex[:6].upper()}"
    login = 700_000 + server_id
    t0 = (datetime.now(UTC) - timedelta(hours=5)).replace(microsecond=0)
    async with session_factory() as s, s.begin():
        client_id = int(await s.scalar(text("SELECT id FROM clients WHERE user_id = :u"), {"u": user_id}))
        account_id = int(await s.scalar(text(
            "INSERT INTO trading_accounts (server_id, login, user_id, \"group\", leverage, currency) "
            "VALUES (:s, :l, :u, :g, 100, 'USD') RETURNING id"), {"s": server_id, "l": login, "u": user_id, "g": B_GROUP}))
        await s.execute(text("INSERT INTO risk_group_books (server_id, grp, book, a_book_pct) VALUES "
                             "(:s, :b, 'B', 0), (:s, :a, 'A', 100)"), {"s": server_id, "b": B_GROUP, "a": A_GROUP})
        batch = uuid.uuid4()
        for i, (minutes, pos, action, entry, lots, profit, swap) in enumerate(DEALS):
            at = t0 + timedelta(minutes=minutes)
            await s.execute(text(
                "INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, account_id, order_id, "
                "position_id, action, entry, symbol, price, volume, profit, commission, storage, fee, reason, "
                "contract_size, rate_profit, rate_margin, batch_id) VALUES (:s, :d, :t, :ms, :l, :a, :d, :p, :ac, "
                ":en, :y, 1.1, :v, :pr, -3, :sw, 0, 0, 100000, 1, 1, :b)"
            ), {"s": server_id, "d": i + 1, "t": at, "ms": int(at.timestamp() * 1000), "l": login, "a": account_id,
                "p": pos, "ac": action, "en": entry, "y": symbol, "v": Decimal(lots), "pr": Decimal(profit),
                "sw": Decimal(swap), "b": batch})  # fmt: skip
        # The dealer A-booked the account 35 minutes in (so the second close was A-booked).
        await s.execute(text(
            "INSERT INTO risk_assignments (account_id, book, a_book_pct, source, reason, effective_at, target_group, "
            "sync_status) VALUES (:a, 'A', 100, 'override', 'history', :t, :g, 'synced')"
        ), {"a": account_id, "t": t0 + timedelta(minutes=35), "g": A_GROUP})  # fmt: skip
        await s.execute(text(
            "INSERT INTO trading_positions (server_id, position_id, login, account_id, symbol, side, volume, "
            "in_volume, in_value) VALUES (:s, 2, :l, :a, :y, 'BUY', 2, 2, 2.2)"
        ), {"s": server_id, "l": login, "a": account_id, "y": symbol})  # fmt: skip
        flag_id = int(await s.scalar(text(
            "INSERT INTO risk_flags (account_id, server_id, login, user_id, detector, score, evidence) VALUES "
            "(:a, :s, :l, :u, 'latency_arbitrage', 80, CAST(:ev AS jsonb)) RETURNING id"
        ), {"a": account_id, "s": server_id, "l": login, "u": user_id,
            "ev": '{"deals": [2, 5], "figures": {"win_rate": 0.9}, "secret": "desk-evidence"}'}))  # fmt: skip
        await s.execute(text(
            "INSERT INTO risk_account_metrics (account_id, server_id, login, user_id, opens, closed, wins, "
            "gross_profit, gross_loss, hold_ms_sum, hold_lt_5s, volume_lots, first_ms, last_ms) VALUES "
            "(:a, :s, :l, :u, 3, 2, 1, 490, 200, 6000, 2, 4, :f, :z)"
        ), {"a": account_id, "s": server_id, "l": login, "u": user_id, "f": int(t0.timestamp() * 1000),
            "z": int(t0.timestamp() * 1000) + 3_600_000})  # fmt: skip
    return World(server_id, client_id, user_id, account_id, login, flag_id, t0, symbol)


async def drop_world(session_factory: Any, w: World) -> None:
    """Remove the world's metrics and flags, which rules and detector checks count across accounts."""
    async with session_factory() as s, s.begin():
        await s.execute(text("DELETE FROM risk_flags WHERE account_id = :a"), {"a": w.account_id})
        await s.execute(text("DELETE FROM risk_account_metrics WHERE account_id = :a"), {"a": w.account_id})
