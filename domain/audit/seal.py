"""Daily seals: a Merkle root over each day's row hashes, per partition, for external anchoring.

A day's root is the RFC 6962 Merkle tree hash over the PARTITIONS partition roots (in partition
order), each being the tree hash over that partition's row hashes of the day in seq order. The
root, together with each partition's last hash (its chain head at the end of the day), can be
published or timestamped elsewhere; afterwards no row of a sealed day can change, appear or
vanish without verify() noticing, even if the attacker re-hashes the chains.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.chain import PARTITIONS
from domain.audit.models import AuditEvent, AuditSeal
from domain.shared.db import utcnow

# A day is sealed only once it ended this long ago: a transaction that recorded an event just
# before midnight has committed by then.
SEAL_GRACE = timedelta(minutes=10)
EMPTY_ROOT = hashlib.sha256(b"").digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 tree hash: domain-separated leaves (0x00) and nodes (0x01), odd node promoted."""
    if not leaves:
        return EMPTY_ROOT
    level = [hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        nxt = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


@dataclass(frozen=True)
class PartitionDigest:
    partition: int
    rows: int
    first_seq: int | None
    last_seq: int | None
    root: bytes
    last_hash: bytes | None

    def as_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition, "rows": self.rows, "first_seq": self.first_seq,
            "last_seq": self.last_seq, "root": self.root.hex(),
            "last_hash": None if self.last_hash is None else self.last_hash.hex(),
        }


@dataclass(frozen=True)
class DayDigest:
    day: date
    partitions: list[PartitionDigest]

    @property
    def row_count(self) -> int:
        return sum(p.rows for p in self.partitions)

    @property
    def root(self) -> bytes:
        return merkle_root([p.root for p in self.partitions])


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


async def compute_day(session: AsyncSession, day: date) -> DayDigest:
    """The digest of one UTC day as the table holds it now."""
    start, end = day_bounds(day)
    stmt = (
        select(AuditEvent.partition, AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.occurred_at >= start, AuditEvent.occurred_at < end)
        .order_by(AuditEvent.partition, AuditEvent.seq)
    )
    per_part: dict[int, list[tuple[int, bytes]]] = {}
    for part, seq, digest in await session.execute(stmt):
        per_part.setdefault(int(part), []).append((int(seq), bytes(digest)))
    digests = []
    for part in range(PARTITIONS):
        rows = per_part.get(part, [])
        digests.append(PartitionDigest(
            partition=part, rows=len(rows), first_seq=rows[0][0] if rows else None,
            last_seq=rows[-1][0] if rows else None, root=merkle_root([h for _, h in rows]),
            last_hash=rows[-1][1] if rows else None,
        ))
    return DayDigest(day, digests)


def last_sealable_day(now: datetime) -> date:
    return (now - SEAL_GRACE).date() - timedelta(days=1)


async def seal_day(session: AsyncSession, day: date, *, now: datetime | None = None) -> AuditSeal:
    """Seal one closed day; sealing it again returns the existing seal unchanged."""
    if day > last_sealable_day(now or utcnow()):
        raise ValueError(f"{day} has not closed yet (seals wait {SEAL_GRACE} after midnight UTC)")
    existing = await session.get(AuditSeal, day)
    if existing is not None:
        return existing
    digest = await compute_day(session, day)
    await session.execute(
        insert(AuditSeal)
        .values(day=day, partition_count=PARTITIONS, row_count=digest.row_count,
                partitions=[p.as_json() for p in digest.partitions], merkle_root=digest.root,
                sealed_at=func.now())
        .on_conflict_do_nothing(index_elements=["day"])
    )
    sealed = await session.get(AuditSeal, day, populate_existing=True)
    assert sealed is not None
    return sealed


async def seal_due_days(session: AsyncSession, *, now: datetime | None = None, limit: int = 400) -> list[date]:
    """Seal every closed, unsealed day from the first audit event on (empty days too, so a
    row slipped into one later is caught). Returns the days sealed by this call."""
    first_at = await session.scalar(select(func.min(AuditEvent.occurred_at)))
    if first_at is None:
        return []
    last = last_sealable_day(now or utcnow())
    day = first_at.astimezone(UTC).date()
    sealed_days = set((await session.execute(select(AuditSeal.day).where(AuditSeal.day >= day))).scalars())
    done: list[date] = []
    while day <= last and len(done) < limit:
        if day not in sealed_days:
            await seal_day(session, day, now=now)
            done.append(day)
        day += timedelta(days=1)
    return done
