"""The cost of auditing a small state change: insert an announcement in a transaction from several
concurrent sessions, without and with its audit event (the anchor is the un-audited change, in the
same run on the same database). Also times a full verify of the trail it wrote."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.harness import bench_services
from domain.audit.service import record
from domain.audit.verify import verify
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import SessionFactory, create_engine, create_session_factory, in_transaction
from domain.shared.settings import Settings

CONCURRENCY = 8
ACTOR = Actor(ActorKind.STAFF, user_id=1, ip="127.0.0.1", user_agent="bench")
_INSERT = text("INSERT INTO announcements (title, body, severity, posted_by) "
               "VALUES ('Maintenance', 'Servers restart at 22:00 UTC', 'info', 'staff:1') RETURNING id")


async def _plain(session: AsyncSession) -> None:
    await session.execute(_INSERT)


async def _audited(session: AsyncSession) -> None:
    row_id = (await session.execute(_INSERT)).scalar_one()
    await record(session, ACTOR, action="announcement.posted", entity_type="announcement", entity_id=row_id,
                 after={"title": "Maintenance", "body": "Servers restart at 22:00 UTC", "severity": "info"})


async def _rate(factory: SessionFactory, fn: Any, seconds: float) -> tuple[int, float]:
    deadline = time.monotonic() + seconds
    counts = [0] * CONCURRENCY

    async def worker(i: int) -> None:
        while time.monotonic() < deadline:
            await in_transaction(factory, fn)
            counts[i] += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
    return sum(counts), time.monotonic() - started


async def run(*, quick: bool = False) -> dict[str, Any]:
    rounds, seconds = (1, 2.0) if quick else (3, 5.0)
    async with bench_services("audit") as (db_url, _redis_url):
        engine = create_engine(db_url, Settings(), pool_size=CONCURRENCY)
        factory = create_session_factory(engine)
        try:
            await _rate(factory, _audited, 0.5)  # warm the pool and the statement caches
            totals = {"plain": [0, 0.0], "audited": [0, 0.0]}
            for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
                for name, fn in (("plain", _plain), ("audited", _audited)):
                    n, elapsed = await _rate(factory, fn, seconds)
                    totals[name][0] += n
                    totals[name][1] += elapsed
            started = time.monotonic()
            async with factory() as session:
                report = await verify(session)
            verify_s = time.monotonic() - started
        finally:
            await engine.dispose()
    plain = totals["plain"][0] / totals["plain"][1]
    audited = totals["audited"][0] / totals["audited"][1]
    return {
        "concurrency": CONCURRENCY,
        "anchor_plain_tps": round(plain, 1),
        "audited_tps": round(audited, 1),
        "ratio": round(audited / plain, 3) if plain else 0.0,
        "verify": {"ok": report.ok, "rows": report.rows_checked, "seconds": round(verify_s, 3),
                   "rows_per_s": round(report.rows_checked / verify_s, 1) if verify_s else 0.0},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(asyncio.run(run(quick=True))))
