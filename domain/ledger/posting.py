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
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit_events
from domain.audit.chain import PARTITIONS as AUDIT_PARTITIONS
from domain.ledger.accounts import HOUSE_SHARDS, AccountRef, Balance, database_key, get_account
from domain.ledger.errors import AlreadyReversed, EntryNotFound, InsufficientFunds, UnbalancedEntry
from domain.ledger.idempotency import KeyTaken, Settlement
from domain.shared.actor import Actor
from domain.shared.db import driver
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


_POST = """
    WITH d0 AS (
        SELECT * FROM unnest(CAST($1 AS bigint[]), CAST($2 AS smallint[]), CAST($3 AS text[]),
                             CAST($4 AS numeric[]), CAST($5 AS numeric[]),
                             CAST($6 AS numeric[]), CAST($7 AS boolean[]))
            AS d(account_id, shard, currency, amount, delta, release, allow_negative)
    ), sharded AS (
        SELECT DISTINCT account_id FROM d0 WHERE shard < 0
    ), free AS MATERIALIZED (
        -- a shard of each house account that no other transaction holds, from a random start and
        -- wrapping round: two index-ordered scans that stop at the first free row (one sorted
        -- scan read and sorted every shard)
        SELECT x.account_id, s.shard FROM sharded x CROSS JOIN LATERAL (
            SELECT * FROM (SELECT b.shard FROM ledger_balances b WHERE b.account_id = x.account_id
                           AND b.shard >= $15 ORDER BY b.shard FOR UPDATE SKIP LOCKED LIMIT 1) above
            UNION ALL
            SELECT * FROM (SELECT b.shard FROM ledger_balances b WHERE b.account_id = x.account_id
                           AND b.shard < $15 ORDER BY b.shard FOR UPDATE SKIP LOCKED LIMIT 1) below
            LIMIT 1) s
    ), waited AS MATERIALIZED (
        -- all shards busy (more writers than shards): queue for one
        SELECT x.account_id, s.shard FROM sharded x CROSS JOIN LATERAL (
            SELECT b.shard FROM ledger_balances b
            WHERE b.account_id = x.account_id AND NOT EXISTS (SELECT 1 FROM free f WHERE f.account_id = x.account_id)
            ORDER BY b.shard >= $15 DESC, b.shard FOR UPDATE LIMIT 1) s
    ), d AS (
        SELECT d0.account_id, coalesce(f.shard, w.shard, d0.shard) AS shard, d0.currency, d0.amount, d0.delta,
               d0.release, d0.allow_negative
        FROM d0 LEFT JOIN free f ON f.account_id = d0.account_id LEFT JOIN waited w ON w.account_id = d0.account_id
    ), agg AS (
        SELECT account_id, shard, sum(delta) AS delta, sum(release) AS release, bool_or(allow_negative) AS allow
        FROM d GROUP BY account_id, shard
    ), ids AS MATERIALIZED (
        SELECT $20::bigint AS id
    ), claimed AS (
        -- claim-and-settle mode ($19, the fingerprint, given): the operation's idempotency key is
        -- inserted settled, with this entry as its result; a concurrent holder of the key makes this
        -- wait until it ends, and an existing key turns the whole statement into a no-op
        INSERT INTO idempotency_keys (scope, key, fingerprint, status, result)
        SELECT $16, $17, $19, 'succeeded', $18::jsonb || jsonb_build_object('entry_id', ids.id) FROM ids
        WHERE $19::bpchar IS NOT NULL
        ON CONFLICT (scope, key) DO NOTHING RETURNING 1
    ), go AS MATERIALIZED (
        SELECT $19::bpchar IS NULL OR EXISTS (SELECT 1 FROM claimed) AS ok
    ), locked AS MATERIALIZED (
        SELECT b.account_id, b.shard FROM ledger_balances b
        WHERE (b.account_id, b.shard) IN (SELECT account_id, shard FROM agg)
        ORDER BY b.account_id, b.shard FOR UPDATE
    ), upd AS (
        UPDATE ledger_balances b
        SET balance = b.balance + a.delta, held = b.held - a.release, updated_at = now()
        FROM agg a, locked l, go
        WHERE go.ok AND l.account_id = b.account_id AND l.shard = b.shard
          AND a.account_id = b.account_id AND a.shard = b.shard
          AND (a.delta >= 0 OR NOT b.non_negative OR a.allow OR b.balance + a.delta - (b.held - a.release) >= 0)
        RETURNING b.account_id, b.shard, b.balance, b.held
    ), e AS (
        INSERT INTO ledger_entries (id, ref_kind, ref_id, idempotency_key, description, details, reverses_entry_id,
                                    actor)
        SELECT ids.id, $8, $9, $10, $11, CAST($12 AS jsonb), $13, $14 FROM ids, go WHERE go.ok
        RETURNING id, created_at
    ), p AS (
        INSERT INTO ledger_postings (entry_id, account_id, shard, currency, amount, allow_negative)
        SELECT e.id, d.account_id, d.shard, d.currency, d.amount, d.allow_negative FROM e, d
        RETURNING 1
    ), ev AS (
        {wallet_events}
    ), settled AS (
        UPDATE idempotency_keys k SET status = 'succeeded', result = $18::jsonb || jsonb_build_object('entry_id', e.id),
               updated_at = now()
        FROM e WHERE k.scope = $16 AND k.key = $17 AND $19::bpchar IS NULL
    ){audit_ctes}
    SELECT e.id, e.created_at,
           (SELECT count(*) FROM agg) AS wanted, (SELECT count(*) FROM p) AS posted,
           (SELECT array_agg(account_id) FROM upd) AS ids, (SELECT array_agg(shard) FROM upd) AS shards,
           (SELECT array_agg(balance) FROM upd) AS balances, (SELECT array_agg(held) FROM upd) AS helds,
           {audit_columns}
    FROM e
    """


def wallet_events(changed: str, entry_id: str) -> str:
    """INSERT of a wallet.updated outbox event per client wallet among `changed` (a CTE returning
    account_id, shard, balance, held): the statement that moves a balance announces it itself."""
    return (
        f"INSERT INTO outbox (topic, payload) SELECT '{TOPIC_WALLET_UPDATED}', jsonb_build_object("  # noqa: S608
        "'user_id', a.owner_id, 'wallet_id', a.id, 'currency', a.currency, 'balance', c.balance::text, "
        "'held', c.held::text, 'available', (c.balance - c.held)::text, "
        f"'entry_id', {entry_id}) FROM {changed} c JOIN ledger_accounts a ON a.id = c.account_id "
        "WHERE a.purpose = 'client_wallet' AND c.shard = 0"
    )


_POST = _POST.replace("{wallet_events}", wallet_events("upd", "(SELECT id FROM e)"))
# With the entry's audit event appended by the same statement ($21 on, see audit.append_ctes):
# one round trip fewer per movement. Only once the entry is written (`e`), so a taken key appends
# nothing either.
_AUDITED = "(SELECT id FROM ins) AS audit_id, (SELECT partition FROM ins) AS audit_partition"


def _post_audited(*, free: bool) -> str:
    ctes = ", " + audit_events.append_ctes(free=free, offset=20, gate="EXISTS (SELECT 1 FROM e)")  # noqa: S608 - constants
    return _POST.replace("{audit_ctes}", ctes).replace("{audit_columns}", _AUDITED)


_POST_AUDITED_FREE, _POST_AUDITED_AT = _post_audited(free=True), _post_audited(free=False)
_POST = _POST.replace("{audit_ctes}", "").replace("{audit_columns}", "NULL::bigint AS audit_id")

# Entry ids are drawn from the sequence a block at a time per process, so an entry's id is known
# before its statement runs and the audit event naming it can travel in that statement. Ids never
# repeat; a block drawn more than ID_BLOCK_TTL_S ago is dropped (its ids are gaps), so an entry's id
# is never older than that: across processes ids are out of commit order by at most about that.
ID_BLOCK = 16
ID_BLOCK_TTL_S = 1.0
_ENTRY_IDS: dict[str, tuple[float, list[int]]] = {}


async def next_entry_id(session: AsyncSession) -> int:
    key = database_key(session)
    drawn_at, pool = _ENTRY_IDS.get(key, (0.0, []))
    if not pool or time.monotonic() - drawn_at > ID_BLOCK_TTL_S:
        drawn = await (await driver(session)).fetchval(
            "SELECT array_agg(nextval('ledger_entries_id_seq')) FROM generate_series(1, $1)", ID_BLOCK)
        pool = sorted(drawn, reverse=True)  # pop() takes the lowest
        _ENTRY_IDS[key] = (time.monotonic(), pool)
    return pool.pop()


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
    return 0 if account.shards == 1 else -1  # -1: the statement picks a free shard


async def post(
    session: AsyncSession, actor: Actor, legs: list[Leg], *, ref_kind: str, ref_id: str | int, idempotency_key: str,
    description: str = "", details: dict[str, Any] | None = None, reverses_entry_id: int | None = None,
    settles: Settlement | None = None, audit: Callable[[int], audit_events.PreparedEvent] | None = None,
) -> PostedEntry:
    """Write one balanced entry and apply it to the balances; refuses to take a guarded wallet negative.

    `settles`: the operation's idempotency key, settled by the same statement with the entry id
    (and the settlement's extra fields) as its result; claimed by it too when the settlement
    carries the fingerprint, and then KeyTaken (nothing written) when the key already exists.
    `audit`: the entry's audit event (given the entry id), appended by the same statement."""
    legs = check_balanced(legs)
    shards = [_shard(leg.account) for leg in legs]
    entry_id = await next_entry_id(session)
    sql, audit_args, event, partition = _POST, (), None, None
    if audit is not None:
        event = audit(entry_id)
        if session.new or session.dirty or session.deleted:
            await session.flush()  # as audit.append: the caller's pending writes go first
        partition = audit_events.held_partition(session)
        if partition is None:
            sql, audit_args = _POST_AUDITED_FREE, (*event.args, event.preferred, AUDIT_PARTITIONS)
        else:
            sql, audit_args = _POST_AUDITED_AT, (*event.args, partition)
    try:
        row = await (await driver(session)).fetchrow(
            sql, [leg.account.id for leg in legs], shards, [leg.account.currency for leg in legs],
            [leg.amount for leg in legs], [leg.amount * leg.account.sign for leg in legs],
            [leg.release_hold for leg in legs], [leg.allow_negative for leg in legs],
            ref_kind, str(ref_id), idempotency_key, description, orjson.dumps(details or {}).decode(),
            reverses_entry_id, actor.label[:80], random.randrange(HOUSE_SHARDS),  # load spreading, not security
            settles and settles.scope, settles and settles.key,
            orjson.dumps(settles.extra if settles else {}, default=str).decode(), settles and settles.fingerprint,
            entry_id, *audit_args)
    except asyncpg.UniqueViolationError as exc:
        if reverses_entry_id is not None and "reverses" in (getattr(exc, "constraint_name", None) or ""):
            raise AlreadyReversed("this entry has already been reversed", field="entryId") from exc
        raise
    if row is None:  # only in claim-and-settle mode: the key was taken, nothing was written
        raise KeyTaken
    if row["wanted"] != len(row["ids"] or ()):
        raise InsufficientFunds("not enough available funds", field="amount")
    if event is not None:
        if row["audit_id"] is None:  # every chain partition busy: queue for one, on its own
            await audit_events.append(session, event)
        elif partition is None:
            audit_events.hold_partition(session, int(row["audit_partition"]))
    balances: dict[int, Balance] = {}
    for acc, shard, bal, held in zip(row["ids"], row["shards"], row["balances"], row["helds"], strict=True):
        if shard == 0:
            balances[int(acc)] = Balance(bal, held)
    if settles is not None:
        settles.settled = True
    return PostedEntry(int(row["id"]), row["created_at"], balances)


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
    allow_negative: bool = False, settles: Settlement | None = None,
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
        reverses_entry_id=entry_id, settles=settles,
    )
