"""Ledger fixtures: users created with SQL, actors, and invariant checks over the whole ledger."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.shared.actor import Actor, ActorKind

SNAPSHOT_TABLES = {
    "ledger_accounts": "id", "ledger_balances": "account_id, shard", "ledger_entries": "id",
    "ledger_postings": "id", "ledger_holds": "id", "idempotency_keys": "scope, key", "ledger_transfers": "id",
    "outbox": "id", "audit_events": "id",
}


def client(uid: int) -> Actor:
    return Actor(ActorKind.CLIENT, user_id=uid)


def staff(uid: int) -> Actor:
    return Actor(ActorKind.STAFF, user_id=uid, permissions=frozenset({"ledger.adjust"}))


def key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def make_user(session_factory: Any) -> Callable[..., Awaitable[int]]:
    async def make(*, staff: bool = False) -> int:
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        async with session_factory() as s, s.begin():
            uid = await s.scalar(text(
                "INSERT INTO users (email, email_normalized, is_client, is_staff) VALUES (:e, :e, :c, :s) "
                "RETURNING id"), {"e": email, "c": not staff, "s": staff})
        return int(uid)

    return make


async def snapshot(session_factory: Any) -> dict[str, list[Any]]:
    """Every row of every table a money movement may touch."""
    out: dict[str, list[Any]] = {}
    async with session_factory() as s:
        for table, order in SNAPSHOT_TABLES.items():
            out[table] = [tuple(r) for r in (await s.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))).all()]
    return out


async def check_invariants(session_factory: Any) -> None:
    async with session_factory() as s:
        unbalanced = (await s.execute(text(
            "SELECT entry_id, currency, sum(amount) FROM ledger_postings GROUP BY 1, 2 HAVING sum(amount) <> 0"
        ))).all()
        assert unbalanced == [], f"entries not summing to zero: {unbalanced}"
        short = (await s.execute(text(
            "SELECT e.id FROM ledger_entries e LEFT JOIN ledger_postings p ON p.entry_id = e.id "
            "GROUP BY e.id HAVING count(p.id) < 2"))).all()
        assert short == [], f"entries with fewer than 2 postings: {short}"
        drift = (await s.execute(text(
            "SELECT a.id, a.purpose, b.total, p.total FROM ledger_accounts a "
            "JOIN (SELECT account_id, sum(balance) AS total FROM ledger_balances GROUP BY 1) b ON b.account_id = a.id "
            "LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger_postings GROUP BY 1) p "
            "  ON p.account_id = a.id "
            "WHERE b.total <> coalesce(p.total, 0) * CASE WHEN a.type IN ('asset', 'expense') THEN 1 ELSE -1 END"
        ))).all()
        assert drift == [], f"balances differ from postings: {drift}"
        holds = (await s.execute(text(
            "SELECT b.account_id, b.held, h.total FROM ledger_balances b "
            "LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger_holds WHERE status = 'active' "
            "GROUP BY 1) h ON h.account_id = b.account_id WHERE b.held <> coalesce(h.total, 0)"))).all()
        assert holds == [], f"held differs from active holds: {holds}"
        negative = (await s.execute(text(
            "SELECT b.account_id, b.balance, b.held FROM ledger_balances b WHERE b.non_negative "
            "AND b.balance - b.held < 0 AND NOT EXISTS (SELECT 1 FROM ledger_postings p "
            "WHERE p.account_id = b.account_id AND p.allow_negative)"))).all()
        assert negative == [], f"wallets below zero without a rule: {negative}"
        # Open transfers keep their hold; settled ones never do.
        lost = (await s.execute(text(
            "SELECT t.id, t.status, h.status FROM ledger_transfers t JOIN ledger_holds h ON h.id = t.hold_id "
            "WHERE (t.status IN ('pending', 'unknown') AND h.status <> 'active') "
            "OR (t.status = 'done' AND h.status <> 'captured') OR (t.status = 'failed' AND h.status <> 'released')"
        ))).all()
        assert lost == [], f"transfer holds out of step: {lost}"


async def wallet_balance(session_factory: Any, account_id: int) -> tuple[Decimal, Decimal]:
    async with session_factory() as s:
        row = (await s.execute(text(
            "SELECT sum(balance), sum(held) FROM ledger_balances WHERE account_id = :a"), {"a": account_id})).one()
    return Decimal(row[0]), Decimal(row[1])


from tests.platforms.conftest import sim  # noqa: E402, F401 - the simulator process fixture
