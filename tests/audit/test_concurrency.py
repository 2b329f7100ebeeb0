from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from domain.audit import service
from domain.audit.verify import verify
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import in_transaction, is_retryable


async def test_200_concurrent_records_keep_every_chain_intact(session_factory: Any) -> None:
    async def one(i: int) -> int:
        # A few hot correlation ids (same partition) mixed with random partitions.
        actor = Actor(ActorKind.STAFF, user_id=i, correlation_id=f"hot-{i % 3}" if i % 2 else None)

        async def txn(session: Any) -> int:
            return await service.record(session, actor, action="thing.changed", entity_type="thing", entity_id=i,
                                        before={"n": i}, after={"n": i + 1})

        return await in_transaction(session_factory, txn)

    started = time.monotonic()
    ids = await asyncio.gather(*(one(i) for i in range(200)))
    elapsed = time.monotonic() - started
    assert len(set(ids)) == 200
    async with session_factory() as session:
        report = await verify(session)
        gaps = await session.scalar(text(
            "SELECT count(*) FROM (SELECT partition, max(seq) - count(*) AS gap FROM audit_events "
            "GROUP BY partition) g WHERE gap <> 0"))
    assert report.ok, report.problems
    assert report.rows_checked == 200 and gaps == 0
    assert elapsed < 10, elapsed


async def test_stale_repeatable_read_snapshot_fails_retryably_instead_of_forking(session_factory: Any) -> None:
    actor = Actor(ActorKind.STAFF, user_id=1, correlation_id="rr")
    async with session_factory() as stale:
        await stale.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        await stale.execute(text("SELECT 1"))  # the snapshot is taken here
        async with session_factory() as other, other.begin():
            await service.record(other, actor, action="thing.changed", entity_type="thing", entity_id=1)
        with pytest.raises((DBAPIError, asyncpg.PostgresError)) as err:
            await service.record(stale, actor, action="thing.changed", entity_type="thing", entity_id=2)
        assert is_retryable(err.value)
        await stale.rollback()
    async with session_factory() as session:
        assert (await verify(session)).ok
