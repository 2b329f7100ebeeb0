"""Idempotency keys for every money movement.

`claim()` inserts (scope, key, fingerprint) with INSERT ... ON CONFLICT DO NOTHING inside the
operation's transaction. A concurrent repeat blocks on the unique index until the first
transaction ends, then sees its committed row: a repeat never executes twice. The fingerprint is
the SHA-256 of the canonical JSON of the operation name and its (already normalised) input; the
same key with other input is refused. Rows are kept at least 7 days (CHECK in the table).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger.errors import IdempotencyInProgress, IdempotencyKeyReused
from domain.shared.db import driver
from domain.shared.errors import ValidationFailed

MAX_KEY = 200
IN_PROGRESS, SUCCEEDED, FAILED = "in_progress", "succeeded", "failed"


@dataclass
class Settlement:
    """A key whose result the work's posting statement records (posting.post `settles=`), saving
    the separate finish() round trip: {"entry_id": ..., **extra}. With a `fingerprint` the key is
    not claimed yet and the posting statement claims it too (saving claim()'s round trip)."""

    scope: str
    key: str
    extra: dict[str, Any] = field(default_factory=dict)
    settled: bool = False
    fingerprint: str | None = None


class KeyTaken(Exception):
    """The posting statement found its idempotency key already used and wrote nothing."""


@dataclass(frozen=True)
class Claim:
    fresh: bool  # True: this caller owns the key and must do the work
    status: str
    result: dict[str, Any] | None


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def fingerprint(operation: str, payload: Mapping[str, Any]) -> str:
    canonical = orjson.dumps({"op": operation, "input": payload}, default=_default, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def check_key(key: str) -> str:
    key = key.strip() if isinstance(key, str) else ""
    if not key or len(key) > MAX_KEY:
        raise ValidationFailed(f"idempotency key must be 1 to {MAX_KEY} characters", field="idempotencyKey")
    return key


async def claim(
    session: AsyncSession, *, scope: str, key: str, operation: str, payload: Mapping[str, Any]
) -> Claim:
    """Own the key, or learn what happened to the first call with it."""
    key = check_key(key)
    fp = fingerprint(operation, payload)
    conn = await driver(session)
    inserted = await conn.fetchval(
        "INSERT INTO idempotency_keys (scope, key, fingerprint) VALUES ($1, $2, $3) "
        "ON CONFLICT (scope, key) DO NOTHING RETURNING true", scope, key, fp)
    if inserted:
        return Claim(True, IN_PROGRESS, None)
    row = await conn.fetchrow(_LOOKUP, scope, key)
    return _settled(row, fp)


_LOOKUP = "SELECT fingerprint, status, result FROM idempotency_keys WHERE scope = $1 AND key = $2"


def _settled(row: Mapping[str, Any], fp: str) -> Claim:
    """What a repeat with fingerprint `fp` gets from the key's row."""
    if row["fingerprint"] != fp:
        raise IdempotencyKeyReused("this idempotency key was used for a different request", field="idempotencyKey")
    if row["status"] == IN_PROGRESS:
        raise IdempotencyInProgress("a request with this idempotency key is still in progress",
                                    field="idempotencyKey")
    result = row["result"]
    return Claim(False, row["status"], orjson.loads(result) if isinstance(result, str | bytes) else result)


async def settled(session: AsyncSession, *, scope: str, key: str, fingerprint: str) -> Claim:
    """What a repeat gets once its key turned out taken (the first call committed by now)."""
    return _settled(await (await driver(session)).fetchrow(_LOOKUP, scope, key), fingerprint)


async def peek(session: AsyncSession, *, scope: str, key: str, operation: str,
               payload: Mapping[str, Any]) -> Claim | None:
    """What a repeat would get, without claiming (None when the key is unused)."""
    key = check_key(key)
    row = await (await driver(session)).fetchrow(_LOOKUP, scope, key)
    return None if row is None else _settled(row, fingerprint(operation, payload))


@dataclass(frozen=True)
class Outcome:
    """What became of an operation sent with an idempotency key, as its caller may ask."""

    key: str
    status: str
    result: dict[str, Any] | None
    created_at: Any
    updated_at: Any


async def outcome(session: AsyncSession, *, scope: str, key: str, user_id: int | None = None) -> Outcome | None:
    """The stored outcome of the caller's own key (scope = the caller); None when never used (or
    expired), so a caller who saw an internal error can tell whether its operation was applied.
    A staff adjustment above the four-eyes threshold keeps its key on its request instead
    (`user_id`: the requester): pending is in progress, approved succeeded, rejected failed."""
    key = check_key(key)
    conn = await driver(session)
    row = await conn.fetchrow(
        "SELECT status, result, created_at, updated_at FROM idempotency_keys WHERE scope = $1 AND key = $2",
        scope, key)
    if row is not None:
        result = row["result"]
        return Outcome(key, row["status"], orjson.loads(result) if isinstance(result, str | bytes) else result,
                       row["created_at"], row["updated_at"])
    if user_id is None:
        return None
    req = await conn.fetchrow(
        "SELECT id, status, entry_id, created_at, coalesce(decided_at, created_at) AS updated_at "
        "FROM balance_adjustment_requests WHERE requested_by = $1 AND idempotency_key = $2", user_id, key)
    if req is None:
        return None
    status = {"pending": IN_PROGRESS, "approved": SUCCEEDED}.get(req["status"], FAILED)
    return Outcome(key, status, {"adjustment_request_id": req["id"], "request_status": req["status"],
                                 "entry_id": req["entry_id"]}, req["created_at"], req["updated_at"])


async def finish(
    session: AsyncSession, *, scope: str, key: str, result: Mapping[str, Any], status: str = SUCCEEDED
) -> None:
    await (await driver(session)).execute(
        "UPDATE idempotency_keys SET status = $3, result = $4::jsonb, updated_at = now() "
        "WHERE scope = $1 AND key = $2", scope, key.strip(), status, orjson.dumps(result, default=_default).decode())


async def purge_expired(session: AsyncSession, *, limit: int = 10_000) -> int:
    result = await session.execute(text(
        "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys "
        "WHERE expires_at < now() AND status <> 'in_progress' LIMIT :limit)"), {"limit": limit})
    return int(getattr(result, "rowcount", 0) or 0)
