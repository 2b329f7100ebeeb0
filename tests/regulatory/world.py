"""A trading world for regulatory reports: a server, clients (natural persons and a legal entity) with real
accounts, instruments, and deals on a day of their own (each test picks an unused day, so the shared
database's other deals never meet it)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text

LEI = "529900T8BM49AURSDO55"
TR_LEI = "549300ZFEEJ2IP5VME73"
CLIENT_LEI = "213800D1EI4B9WTWWD28"
SETTINGS = {"reportingLei": LEI, "submittingAgentLei": LEI, "receiverLei": TR_LEI, "sector": "INVF",
            "country": "CY", "masterAgreement": "Client Agreement v3"}


def fresh_day() -> date:
    return date(2001, 1, 1) + timedelta(days=random.randrange(0, 7000))


@dataclass
class World:
    server_id: int
    accounts: dict[str, int]  # name -> trading account id
    users: dict[str, int]
    clients: dict[str, int]
    day: date


async def world(session_factory: Any) -> World:
    tag = uuid.uuid4().hex[:8]
    async with session_factory() as s, s.begin():
        sid = int(await s.scalar(text(
            "INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc) "
            "VALUES (:n, 'mt5', 'http://127.0.0.1:1', 1, 'x') RETURNING id"), {"n": f"reg-{tag}"}))
        for symbol, cls, base, quote, size in (("EURUSD", "forex", "EUR", "USD", 100000), ("US500", "indices",
                                                                                        "USD", "USD", 1)):
            await s.execute(text(
                "INSERT INTO trading_instruments (server_id, symbol, canonical, asset_class, contract_size, "
                "base_currency, quote_currency, digits, pip_size) VALUES (:s, :sym, :sym, :c, :cs, :b, :q, 5, "
                "0.0001)"), {"s": sid, "sym": symbol, "c": cls, "cs": size, "b": base, "q": quote})
        users: dict[str, int] = {}
        accounts: dict[str, int] = {}
        clients: dict[str, int] = {}
        for i, (name, kind, first, last, dob) in enumerate((
                ("ivan", "individual", "Ivan", "Petrov", date(1980, 5, 17)),
                ("acme", "corporate", "", "", None),
                ("jo", "individual", "Jo", "O'Neill", date(1991, 2, 3)))):
            uid = int(await s.scalar(text(
                "INSERT INTO users (email, email_normalized, is_client) VALUES (:e, :e, true) RETURNING id"),
                {"e": f"{name}.{tag}@example.com"}))
            clients[name] = int(await s.scalar(text(
                "INSERT INTO clients (user_id, status, kind, first_name, last_name, date_of_birth, country, profile) "
                "VALUES (:u, 'active', :k, :f, :l, :d, 'CY', '{\"nationality\": \"GR\"}') RETURNING id"),
                {"u": uid, "k": kind, "f": first, "l": last, "d": dob}))
            users[name] = uid
            accounts[name] = int(await s.scalar(text(
                "INSERT INTO trading_accounts (server_id, login, user_id, \"group\", leverage, currency) "
                "VALUES (:s, :l, :u, 'real\\std', 100, 'USD') RETURNING id"), {"s": sid, "l": 1000 + i, "u": uid}))
    return World(sid, accounts, users, clients, fresh_day())


async def deal(session_factory: Any, w: World, who: str, *, deal_id: int, position_id: int, at: datetime,
               entry: int, action: int, volume: str, price: str, symbol: str = "EURUSD") -> None:
    login = 1000 + list(w.accounts).index(who)
    async with session_factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, account_id, order_id, position_id, "
            "action, entry, symbol, price, volume, profit, commission, storage, fee, reason, contract_size, "
            "rate_profit, rate_margin, batch_id) VALUES (:s, :d, :t, :ms, :l, :a, :d, :p, :act, :e, :sym, :pr, "
            ":v, 0, 0, 0, 0, 0, 100000, 1, 1, :b)"),
            {"s": w.server_id, "d": deal_id, "t": at, "ms": int(at.timestamp() * 1000), "l": login,
             "a": w.accounts[who], "p": position_id, "act": action, "e": entry, "sym": symbol, "pr": price,
             "v": volume, "b": uuid.uuid4()})


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
