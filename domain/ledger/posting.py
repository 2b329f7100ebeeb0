"""Posting journal entries: one SQL statement locks the balance rows in a fixed order, applies the
guarded balance changes and inserts the entry and its postings, so balances never drift from
postings and no balance is read in one step and written in another.

Sign convention: a posting's amount > 0 is a debit, < 0 a credit; per entry and currency the
amounts sum to zero (checked here and by a deferred constraint trigger at commit). Balances are
kept in the account's natural sign (AccountRef.sign).

A DomainError raised here leaves the transaction half-written: the caller must roll it back
(ctx.transaction / in_transaction do).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.events.outbox import emit
from domain.ledger.accounts import AccountRef, Balance, Purpose, get_account
from domain.ledger.errors import AlreadyReversed, EntryNotFound, InsufficientFunds, UnbalancedEntry
from domain.shared.actor import Actor
from domain.shared.money import quantize_exact

TOPIC_WALLET_UPDATED = "wallet.updated"
ZERO = Decimal(0)


@dataclass(frozen=True)
class Leg:
    account: AccountRef
    amount: Decimal  # debit > 0, credit < 0, in the account's currency
    allow_negative: bool = False  # lets this posting take a client wallet below zero (visible on the row)
    release_hold: Decimal = ZERO  # held amount released in the same statement (capturing a hold)


@dataclass(frozen=True)
class PostedEntry:
    id: int
    created_at: datetime
    # New balances of the single-row accounts touched (wallets, mirrors), by account id.
    balances: dict[int, Balance] = field(default_factory=dict)


_POST = text(
    """
    WITH d AS (
        SELECT * FROM unnest(CAST(:acc AS bigint[]), CAST(:shard AS smallint[]), CAST(:cur AS text[]),
                             CAST(:amount AS numeric[]), CAST(:delta AS numeric[]),
                             CAST(:release AS numeric[]), CAST(:allow AS boolean[]))
            AS d(account_id, shard, currency, amount, delta, release, allow_negative)
    ), agg AS (
        SELECT account_id, shard, sum(delta) AS delta, sum(release) AS release, bool_or(allow_negative) AS allow
        FROM d GROUP BY account_id, shard
    ), locked AS MATERIALIZED (
        SELECT b.account_id, b.shard FROM ledger_balances b
        WHERE (b.account_id, b.shard) IN (SELECT account_id, shard FROM agg)
        ORDER BY b.account_id, b.shard FOR UPDATE
    ), upd AS (
        UPDATE ledger_balances b
        SET balance = b.balance + a.delta, held = b.held - a.release, updated_at = now()
        FROM agg a, locked l
        WHERE l.account_id = b.account_id AND l.shard = b.shard
          AND a.account_id = b.account_id AND a.shard = b.shard
          AND (a.delta >= 0 OR NOT b.non_negative OR a.allow OR b.balance + a.delta - (b.held - a.release) >= 0)
        RETURNING b.account_id, b.shard, b.balance, b.held
    ), e AS (
        INSERT INTO ledger_entries (ref_kind, ref_id, idempotency_key, description, details, reverses_entry_id, actor)
        VALUES (:ref_kind, :ref_id, :key, :description, CAST(:details AS jsonb), :reverses, :actor)
        RETURNING id, created_at
    ), p AS (
        INSERT INTO ledger_postings (entry_id, account_id, shard, currency, amount, allow_negative)
        SELECT e.id, d.account_id, d.shard, d.currency, d.amount, d.allow_negative FROM e, d
        RETURNING 1
    )
    SELECT e.id, e.created_at,
           (SELECT count(*) FROM agg) AS wanted, (SELECT count(*) FROM p) AS posted,
           (SELECT array_agg(account_id) FROM upd) AS ids, (SELECT array_agg(shard) FROM upd) AS shards,
           (SELECT array_agg(balance) FROM upd) AS balances, (SELECT array_agg(held) FROM upd) AS helds
    FROM e
    """
)


def check_balanced(legs: list[Leg]) -> list[Leg]:
    """Validate legs in code (the database re-checks at commit); returns them quantized."""
    if len(legs) < 2:
        raise UnbalancedEntry("an entry needs at least two postings")
    out: list[Leg] = []
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for leg in legs:
        amount = quantize_exact(leg.amount, leg.account.currency, field="amount")
        if amount == 0:
            raise UnbalancedEntry("a posting cannot be zero", field="amount")
        if leg.release_hold < 0 or (leg.release_hold and leg.account.shards != 1):
            raise UnbalancedEntry("holds are released only on single-row accounts")
        totals[leg.account.currency] += amount
        out.append(Leg(leg.account, amount, leg.allow_negative, leg.release_hold))
    unbalanced = {cur: str(total) for cur, total in totals.items() if total != 0}
    if unbalanced:
        raise UnbalancedEntry(f"postings do not sum to zero: {unbalanced}")
    return out


def _shard(account: AccountRef) -> int:
    return 0 if account.shards == 1 else random.randrange(account.shards)  # load spreading, not security


async def post(
    session: AsyncSession, actor: Actor, legs: list[Leg], *, ref_kind: str, ref_id: str | int, idempotency_key: str,
    description: str = "", details: dict[str, Any] | None = None, reverses_entry_id: int | None = None,
) -> PostedEntry:
    """Write one balanced entry and apply it to the balances; refuses to take a guarded wallet negative."""
    legs = check_balanced(legs)
    shards = [_shard(leg.account) for leg in legs]
    params = {
        "acc": [leg.account.id for leg in legs], "shard": shards, "cur": [leg.account.currency for leg in legs],
        "amount": [leg.amount for leg in legs], "delta": [leg.amount * leg.account.sign for leg in legs],
        "release": [leg.release_hold for leg in legs], "allow": [leg.allow_negative for leg in legs],
        "ref_kind": ref_kind, "ref_id": str(ref_id), "key": idempotency_key, "description": description,
        "details": orjson.dumps(details or {}).decode(), "reverses": reverses_entry_id, "actor": actor.label[:80],
    }
    try:
        row = (await session.execute(_POST, params)).one()
    except IntegrityError as exc:
        if reverses_entry_id is not None and "reverses_entry_id" in str(exc.orig):
            raise AlreadyReversed("this entry has already been reversed", field="entryId") from exc
        raise
    if row.wanted != len(row.ids or ()):
        raise InsufficientFunds("not enough available funds", field="amount")
    balances: dict[int, Balance] = {}
    for acc, shard, bal, held in zip(row.ids, row.shards, row.balances, row.helds, strict=True):
        if shard == 0:
            balances[int(acc)] = Balance(Decimal(bal), Decimal(held))
    posted = PostedEntry(int(row.id), row.created_at, balances)
    await emit_wallet_updates(session, [leg.account for leg in legs], posted.balances, entry_id=posted.id)
    return posted


async def emit_wallet_updates(
    session: AsyncSession, accounts: list[AccountRef], balances: dict[int, Balance], *, entry_id: int | None
) -> None:
    seen: set[int] = set()
    for acc in accounts:
        if acc.purpose is not Purpose.CLIENT_WALLET or acc.id in seen or acc.id not in balances:
            continue
        seen.add(acc.id)
        bal = balances[acc.id]
        await emit(session, TOPIC_WALLET_UPDATED, {
            "user_id": acc.owner_id, "wallet_id": acc.id, "currency": acc.currency, "balance": str(bal.balance),
            "held": str(bal.held), "available": str(bal.available), "entry_id": entry_id,
        })


@dataclass(frozen=True)
class EntryPosting:
    account_id: int
    currency: str
    amount: Decimal


async def entry_postings(session: AsyncSession, entry_id: int) -> list[EntryPosting]:
    rows = (await session.execute(text(
        "SELECT account_id, currency, amount FROM ledger_postings WHERE entry_id = :id ORDER BY id"),
        {"id": entry_id})).all()
    return [EntryPosting(int(r.account_id), r.currency, Decimal(r.amount)) for r in rows]


async def reverse_entry(
    session: AsyncSession, actor: Actor, entry_id: int, *, reason: str, idempotency_key: str,
    allow_negative: bool = False,
) -> PostedEntry:
    """Post the mirror image of an entry, referencing it; an entry is reversed at most once.

    Reversing money a client has already spent is refused unless `allow_negative` (e.g. a chargeback).
    """
    original = (await session.execute(text(
        "SELECT id, ref_kind, ref_id, (SELECT id FROM ledger_entries r WHERE r.reverses_entry_id = e.id) AS reversal "
        "FROM ledger_entries e WHERE id = :id"), {"id": entry_id})).first()
    if original is None:
        raise EntryNotFound("no such ledger entry", field="entryId")
    if original.reversal is not None:
        raise AlreadyReversed("this entry has already been reversed", field="entryId")
    legs: list[Leg] = []
    for p in await entry_postings(session, entry_id):
        account = await get_account(session, p.account_id)
        assert account is not None  # postings reference accounts by foreign key
        legs.append(Leg(account, -p.amount, allow_negative=allow_negative))
    return await post(
        session, actor, legs, ref_kind="reversal", ref_id=entry_id, idempotency_key=idempotency_key,
        description=reason, details={"reverses": entry_id, "original_ref": [original.ref_kind, original.ref_id]},
        reverses_entry_id=entry_id,
    )
