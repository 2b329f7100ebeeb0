"""Durable state of the simulated server in SQLite (stdlib), so a restart loses nothing.

Deals are stored already serialised in MT5 JSON form; counters live in `meta` and are written in
the same transaction as the rows they number, so ids keep increasing across restarts.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (login INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    position INTEGER PRIMARY KEY, login INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deals (
    deal INTEGER PRIMARY KEY, login INTEGER NOT NULL, time_msc INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deals_time ON deals (time_msc, deal);
CREATE INDEX IF NOT EXISTS deals_login ON deals (login, time_msc, deal);
CREATE TABLE IF NOT EXISTS traders (login INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    "order" INTEGER PRIMARY KEY, login INTEGER NOT NULL, time_msc INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_time ON orders (time_msc, "order");
CREATE INDEX IF NOT EXISTS orders_login ON orders (login, time_msc, "order");
"""


class Store:
    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(data_dir / "server.sqlite3", isolation_level="DEFERRED")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.commit()

    def close(self) -> None:
        self._db.commit()
        self._db.close()

    def commit(self) -> None:
        self._db.commit()

    # meta
    def get_meta(self, key: str) -> Any:
        row = self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, json.dumps(value)))

    # rows kept whole in memory by the engine
    def load(self, table: str) -> Iterator[dict[str, Any]]:
        for (data,) in self._db.execute(f"SELECT data FROM {table}"):  # noqa: S608 - fixed table names
            yield json.loads(data)

    def put_account(self, login: int, data: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO accounts (login, data) VALUES (?, ?)", (login, json.dumps(data))
        )

    def put_trader(self, login: int, data: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO traders (login, data) VALUES (?, ?)", (login, json.dumps(data))
        )

    def put_position(self, position: int, login: int, data: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO positions (position, login, data) VALUES (?, ?, ?)",
            (position, login, json.dumps(data)),
        )

    def delete_position(self, position: int) -> None:
        self._db.execute("DELETE FROM positions WHERE position = ?", (position,))

    # deals
    def add_deal(self, deal: int, login: int, time_msc: int, data: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO deals (deal, login, time_msc, data) VALUES (?, ?, ?, ?)",
            (deal, login, time_msc, json.dumps(data, separators=(",", ":"))),
        )

    def max_deal(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(deal), 0) FROM deals").fetchone()
        return int(row[0])

    def _where(self, logins: Iterable[int] | None, from_ms: int, to_ms: int) -> tuple[str, list[Any]]:
        clause = "time_msc BETWEEN ? AND ?"
        args: list[Any] = [from_ms, to_ms]
        if logins is not None:
            ids = list(logins)
            clause += f" AND login IN ({','.join('?' * len(ids))})" if ids else " AND 0"
            args.extend(ids)
        return clause, args

    def deal_page(
        self, logins: Iterable[int] | None, from_ms: int, to_ms: int, offset: int, total: int
    ) -> list[str]:
        return self._page("deals", "deal", logins, from_ms, to_ms, offset, total)

    def deals_after(self, time_ms: int, deal: int, limit: int) -> list[str]:
        """Deals strictly after (time_ms, deal) in (time_msc, deal) order: a keyset page."""
        rows = self._db.execute(
            "SELECT data FROM deals WHERE (time_msc, deal) > (?, ?) ORDER BY time_msc, deal LIMIT ?",
            (time_ms, deal, limit),
        )
        return [data for (data,) in rows]

    def deal_rows(self, deals: Iterable[int]) -> list[str]:
        ids = list(deals)
        rows = self._db.execute(f"SELECT data FROM deals WHERE deal IN ({','.join('?' * len(ids))})", ids)  # noqa: S608
        return [data for (data,) in rows]

    def deal_total(self, logins: Iterable[int] | None, from_ms: int, to_ms: int) -> int:
        return self._total("deals", logins, from_ms, to_ms)

    # order requests (filled, rejected, requoted), in MT5 IMTOrder JSON form
    def add_order(self, order: int, login: int, time_msc: int, data: dict[str, Any]) -> None:
        self._db.execute(
            'INSERT INTO orders ("order", login, time_msc, data) VALUES (?, ?, ?, ?)',
            (order, login, time_msc, json.dumps(data, separators=(",", ":"))),
        )

    def order_page(
        self, logins: Iterable[int] | None, from_ms: int, to_ms: int, offset: int, total: int
    ) -> list[str]:
        return self._page("orders", '"order"', logins, from_ms, to_ms, offset, total)

    def order_total(self, logins: Iterable[int] | None, from_ms: int, to_ms: int) -> int:
        return self._total("orders", logins, from_ms, to_ms)

    def _page(
        self, table: str, key: str, logins: Iterable[int] | None, from_ms: int, to_ms: int, offset: int, total: int
    ) -> list[str]:
        clause, args = self._where(logins, from_ms, to_ms)
        rows = self._db.execute(
            f"SELECT data FROM {table} WHERE {clause} ORDER BY time_msc, {key} LIMIT ? OFFSET ?",  # noqa: S608
            [*args, total, offset],
        )
        return [data for (data,) in rows]

    def _total(self, table: str, logins: Iterable[int] | None, from_ms: int, to_ms: int) -> int:
        clause, args = self._where(logins, from_ms, to_ms)
        row = self._db.execute(f"SELECT COUNT(*) FROM {table} WHERE {clause}", args).fetchone()  # noqa: S608
        return int(row[0])
