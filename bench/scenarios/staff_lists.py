"""The back-office client lists at two sizes (10k and 1M clients; --quick: 10k and 30k), each in a database
of its own (the 1M one kept between runs: bench_staff_lists_1000000), through the GraphQL API under
uvicorn, as staff use them: 8 staff signed in for real (password, then TOTP), each keeping one request
in flight. Per list shape: requests/s, p50 and p95 (target p95 <= 20 ms at both sizes). Shapes: newest
first (page 1 and page 2 by cursor), by status, by country, by both, a desk's own staff (desk-scoped),
narrowed by word-prefix search (`clients(search:)`; also by a desk's staff, two in three requests with
a status), and the ranked find-a-client search (`searchClients`).

Anchor, measured beside each size in the same run: the newest-first page as one plain asyncpg
statement at the same concurrency (the database's share of the simplest page on this machine now).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import orjson

from bench.harness import api_process, bench_services
from bench.loadgen import build_request, run_load
from bench.staff_seed import seed_clients
from bench.staff_sign_in import sign_in_all
from domain.identity import roles as roles_service
from domain.identity.sessions import create_user
from domain.shared.actor import system_actor
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory
from domain.shared.settings import Settings

STAFF = 8
DESK = "desk-3"
PASSWORD = "bench staff passphrase long 42"
PAGE = 50
NODE = "edges { cursor node { id name status country desk createdAt } } pageInfo { hasNextPage endCursor }"
LIST = ("query($s: ClientStatus, $c: String, $q: String, $a: String) { clients(status: $s, country: $c, "
        f"search: $q, first: {PAGE}, after: $a) {{ {NODE} }} }}")
RANKED = ("query($q: String!) { searchClients(query: $q, first: 20) { edges { node { rank matchedOn email "
          "client { id name status country desk } } } pageInfo { hasNextPage endCursor } } }")
ANCHOR_SQL = (f"SELECT id, user_id, status, kind, first_name, last_name, country, desk, risk_level, created_at "
              f"FROM clients ORDER BY created_at DESC, id DESC LIMIT {PAGE + 1}")


async def _staff_tokens(db_url: str, base: str) -> tuple[list[str], list[str]]:
    """Six back-office staff (compliance) and two desk staff (sales on DESK), each signed in through
    the API with password and TOTP: (back-office tokens, desk tokens)."""
    engine = create_engine(db_url, Settings(), pool_size=1)
    factory = create_session_factory(engine)
    emails: list[tuple[str, str]] = []
    try:
        async with factory() as s, s.begin():
            for i in range(STAFF):
                role = "sales" if i >= STAFF - 2 else "compliance"
                email = f"staff-{i}-{uuid.uuid4().hex[:6]}@broker.example"
                user = await create_user(s, Settings(), system_actor("bench"), email=email, password=PASSWORD,
                                         is_staff=True)
                user.desk = DESK if role == "sales" else None
                await roles_service.assign(s, system_actor("bench"), user.id, role)
                emails.append((email, role))
    finally:
        await engine.dispose()
    tokens = await sign_in_all(base, [e for e, _ in emails], PASSWORD)
    back = [t for t, (_, role) in zip(tokens, emails, strict=True) if role == "compliance"]
    return back, [t for t, (_, role) in zip(tokens, emails, strict=True) if role == "sales"]


async def _terms(conn: asyncpg.Connection) -> dict[str, list[str]]:
    """What staff type, from clients that exist: surnames and e-mail starts for the list's text,
    full names, surnames, e-mail starts and ids for the ranked search."""
    rows = await conn.fetch("SELECT c.id, c.first_name, c.last_name, u.email FROM clients c JOIN users u "
                            "ON u.id = c.user_id ORDER BY random() LIMIT 40")
    surnames = [r["last_name"].lower() for r in rows if len(r["last_name"]) >= 3]
    mails = [r["email"].split("@")[0][:10] for r in rows]
    fulls = [f"{r['first_name']} {r['last_name']}" for r in rows]
    return {"list": list(itertools.chain(*zip(surnames, mails, strict=False))),
            "ranked": list(itertools.chain(*zip(fulls, surnames, mails, [str(r["id"]) for r in rows],
                                                strict=False)))}


def _shapes(terms: dict[str, list[str]], page2: str) -> dict[str, tuple[str, Callable[[int], dict[str, Any]]]]:
    """Each shape: its query and the variables of a worker's n-th request."""
    statuses = ["ACTIVE", "REGISTERED", "DORMANT", "BLOCKED"]
    countries = ["GB", "DE", "MT", "CY"]
    return {
        "newest": (LIST, lambda n: {}),
        "newest_page2": (LIST, lambda n: {"a": page2}),
        "by_status": (LIST, lambda n: {"s": statuses[n % 4]}),
        "by_country": (LIST, lambda n: {"c": countries[n % 4]}),
        "by_status_country": (LIST, lambda n: {"s": statuses[n % 4], "c": countries[(n // 4) % 4]}),
        "desk_staff": (LIST, lambda n: {"s": statuses[n % 4] if n % 2 else None}),
        "search_list": (LIST, lambda n: {"q": terms["list"][n % len(terms["list"])]}),
        "search_desk_staff": (LIST, lambda n: {"q": terms["list"][n % len(terms["list"])],
                                               "s": statuses[n % 2] if n % 3 else None}),
        "search_ranked": (RANKED, lambda n: {"q": terms["ranked"][n % len(terms["ranked"])]}),
    }


def _p95(latencies: tuple[float, ...]) -> float:
    return latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000 if latencies else 0.0


async def _measure(port: int, back: list[str], desk: list[str], shapes: dict[str, Any],
                   seconds: float) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name, (query, variables) in shapes.items():
        counters = [0] * STAFF
        tokens = [desk[i % len(desk)] for i in range(STAFF)] if "desk_staff" in name else [
            back[i % len(back)] for i in range(STAFF)]

        def request(i: int, query: str = query, variables: Callable[[int], dict[str, Any]] = variables,
                    tokens: list[str] = tokens, counters: list[int] = counters) -> bytes:
            counters[i] += 1
            body = orjson.dumps({"query": query, "variables": variables(counters[i] * STAFF + i)})
            return build_request("127.0.0.1", port, "/graphql", body, {"Authorization": f"Bearer {tokens[i]}"})

        result = await run_load("127.0.0.1", port, request, concurrency=STAFF, seconds=seconds, warmup=0.3,
                                ok=lambda body: b'"errors"' not in body)
        out[name] = {**result.as_dict(), "p95_ms": round(_p95(result.latencies), 2)}
    return out


async def _anchor(dsn: str, seconds: float) -> dict[str, float]:
    pool = await asyncpg.create_pool(dsn, min_size=STAFF, max_size=STAFF)
    assert pool is not None
    latencies: list[float] = []
    try:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                await pool.fetch(ANCHOR_SQL)
                latencies.append(time.perf_counter() - t)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(STAFF)))
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    latencies.sort()
    return {"rps": round(len(latencies) / elapsed, 1), "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p95_ms": round(_p95(tuple(latencies)), 2)}


async def _size_run(size: int, seconds: float, env: dict[str, str]) -> dict[str, Any]:
    """One size in a database of its own; a size of a million or more is kept between runs (seeding
    it takes minutes) and topped up to `size` clients when short."""
    keep = size >= 1_000_000
    async with bench_services(f"staff_lists_{size}" if keep else "staff_lists", keep=keep) as (db_url, redis_url):
        dsn = asyncpg_dsn(db_url)
        conn = await asyncpg.connect(dsn)
        try:
            seeded = 1 + int(await conn.fetchval("SELECT count(*) FROM clients"))
            started = time.perf_counter()
            if seeded <= size:
                await seed_clients(conn, seeded, size + 1)
            populate_s = time.perf_counter() - started
            terms = await _terms(conn)
        finally:
            await conn.close()
        async with api_process(db_url, redis_url, env, workers=2) as port:
            base = f"http://127.0.0.1:{port}/graphql"
            back, desk = await _staff_tokens(db_url, base)
            async with httpx.AsyncClient(timeout=60) as http:
                first = (await http.post(base, json={"query": LIST, "variables": {}},
                                         headers={"Authorization": f"Bearer {back[0]}"})).json()
            page2 = first["data"]["clients"]["pageInfo"]["endCursor"]
            lists = await _measure(port, back, desk, _shapes(terms, page2), seconds)
        return {"clients": size, "populate_s": round(populate_s, 1), "kept": keep and seeded > size,
                "lists": lists, "worst_p95_ms": max(v["p95_ms"] for v in lists.values()),
                "anchor_sql_newest_page": await _anchor(dsn, seconds)}


async def run(*, quick: bool = False) -> dict[str, Any]:
    sizes, seconds = ((10_000, 30_000), 0.8) if quick else ((10_000, 1_000_000), 4.0)
    env = {"FOREXCRM_LOGIN_ATTEMPTS_PER_IP": "100000000", "FOREXCRM_DB_POOL_SIZE": str(STAFF)}
    results = [await _size_run(size, seconds, env) for size in sizes]
    return {"concurrency": STAFF, "page_size": PAGE, "api_workers": 2, "seconds_per_list": seconds,
            "sizes": results, "target": {"p95_ms": 20}}
