"""Staff client search (domain/clients/search.py) over many clients: latency and throughput of the
domain service at a few concurrent staff, against an anchor measured in the same run on the same
database: the same search as one plain SQL statement on asyncpg (no ORM, no second query).

The query mix is what staff type: a full name, a surname, the start of an e-mail address, a phone
number's digits, a client id and a trading login, each for a client that exists.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from typing import Any

import asyncpg

from bench.harness import bench_services
from domain.clients import search
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory
from domain.shared.pagination import PageRequest
from domain.shared.settings import Settings

CONCURRENCY = 4
PAGE = 20
FIRST = ["anna", "maria", "lukas", "jonas", "sofia", "emma", "noah", "leon", "mia", "elias", "lena", "paul",
         "ahmed", "fatima", "olga", "ivan", "chen", "wei", "yuki", "kenji", "pierre", "claire", "marco", "giulia"]
_SYL = ["ka", "ri", "mo", "sen", "ber", "lin", "dor", "vak", "tel", "mar", "gun", "sol", "pet", "ram", "zu",
        "hof", "ste", "wic", "nov", "ash"]
ACTOR = Actor(ActorKind.STAFF, user_id=1, permissions=frozenset({"kyc.review", "clients.read"}))


def _surnames(n: int, rng: random.Random) -> list[str]:
    names: set[str] = set()
    while len(names) < n:
        names.add("".join(rng.choice(_SYL) for _ in range(rng.randint(2, 4))))
    return sorted(names)


async def _populate(conn: asyncpg.Connection, clients: int, surnames: list[str]) -> None:
    """A bulk load, as a migration from another CRM would do it: the search indexes (migration 0033)
    are dropped, the rows inserted set-based, and the same indexes built again."""
    indexes = [r["indexdef"] for r in await conn.fetch(
        "SELECT indexdef FROM pg_indexes WHERE indexname IN ('ix_clients_name_trgm', 'ix_clients_phone_trgm', "
        "'ix_users_email_trgm', 'ix_trading_accounts_login')")]
    for name in ("ix_clients_name_trgm", "ix_clients_phone_trgm", "ix_users_email_trgm", "ix_trading_accounts_login"):
        await conn.execute(f"DROP INDEX IF EXISTS {name}")
    await conn.execute("INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc) "
                       "VALUES ('bench', 'mt5', 'http://127.0.0.1:9', 1000, 'x')")
    await conn.execute("""
        INSERT INTO users (email, email_normalized, is_client)
        SELECT e, e, true FROM (
            SELECT g, f[1 + g % array_length(f, 1)] || '.' || s[1 + (g * 7919) % array_length(s, 1)] || g
                   || '@mail' || (g % 50) || '.example' AS e
            FROM generate_series(1, $1) g, (SELECT $2::text[] AS f, $3::text[] AS s) a) x
        ORDER BY g""", clients, FIRST, surnames)
    await conn.execute("""
        INSERT INTO clients (user_id, status, first_name, last_name, profile, desk, country)
        SELECT u.id, 'active', initcap(split_part(u.email, '.', 1)),
               initcap(regexp_replace(split_part(split_part(u.email, '@', 1), '.', 2), '[0-9]+$', '')),
               jsonb_build_object('phone', '+44 20 ' || lpad(((u.id * 7919) % 100000000)::text, 8, '0')),
               'desk-' || (u.id % 10), 'GB'
        FROM users u ORDER BY u.id""")
    await conn.execute("""
        INSERT INTO trading_accounts (server_id, login, user_id, "group", leverage, currency)
        SELECT (SELECT id FROM trading_servers LIMIT 1), 5000000 + u.id, u.id, 'real\\standard', 100, 'USD'
        FROM users u""")
    for definition in indexes:
        await conn.execute(definition)
    for table in ("users", "clients", "trading_accounts"):
        await conn.execute(f"VACUUM ANALYZE {table}")


async def _queries(conn: asyncpg.Connection, n: int, rng: random.Random) -> list[str]:
    rows = await conn.fetch("SELECT c.id, c.first_name, c.last_name, c.profile->>'phone' AS phone, u.email, "
                            "a.login FROM clients c JOIN users u ON u.id = c.user_id "
                            "JOIN trading_accounts a ON a.user_id = u.id ORDER BY random() LIMIT $1", n)
    out: list[str] = []
    for i, r in enumerate(rows):
        kind = i % 6
        out.append([f"{r['first_name']} {r['last_name']}", r["last_name"], r["email"].split("@")[0][:12],
                    re.sub(r"[^0-9]", "", r["phone"])[-8:], str(r["id"]), str(r["login"])][kind])
    rng.shuffle(out)
    return out


def _anchor_sql(query: str) -> tuple[str, list[Any]]:
    """The search as one statement with $n parameters: the same branches, rank and page, and the
    columns the service returns (client and e-mail)."""
    hits, params = search.build(query)
    params["limit"] = PAGE + 1
    sql = (f"WITH hits (id, score, source) AS ({hits}), ranked AS (SELECT id, round(max(score)::numeric, 4) "
           "AS rank, (array_agg(source ORDER BY score DESC))[1] AS source FROM hits GROUP BY id) "
           f"SELECT r.rank, r.source, u.email, {', '.join('c.' + col for col in search._COLUMNS)} "
           "FROM ranked r JOIN clients c ON c.id = r.id JOIN users u ON u.id = c.user_id "
           "ORDER BY r.rank DESC, r.id DESC LIMIT :limit")
    names: list[str] = []

    def number(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    return re.sub(r"(?<!:):([a-z_0-9]+)", number, sql), [params[n] for n in names]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _drive(call: Any, queries: list[str], seconds: float) -> dict[str, float]:
    deadline = time.monotonic() + seconds
    latencies: list[float] = []

    async def worker(offset: int) -> None:
        i = offset
        while time.monotonic() < deadline:
            t = time.perf_counter()
            await call(queries[i % len(queries)])
            latencies.append((time.perf_counter() - t) * 1000)
            i += CONCURRENCY

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
    elapsed = time.monotonic() - started
    return {"searches_per_s": round(len(latencies) / elapsed, 1), "p50_ms": round(_pct(latencies, 0.5), 2),
            "p99_ms": round(_pct(latencies, 0.99), 2), "searches": len(latencies)}


async def run(*, quick: bool = False) -> dict[str, Any]:
    clients, seconds, rounds = (25_000, 2.0, 1) if quick else (400_000, 8.0, 2)
    rng = random.Random(16)
    async with bench_services("client_search") as (db_url, _redis_url):
        dsn = asyncpg_dsn(db_url)
        conn = await asyncpg.connect(dsn)
        try:
            started = time.perf_counter()
            await _populate(conn, clients, _surnames(max(500, clients // 40), rng))
            populate_s = time.perf_counter() - started
            queries = await _queries(conn, 600, rng)
        finally:
            await conn.close()
        pool = await asyncpg.create_pool(dsn, min_size=CONCURRENCY, max_size=CONCURRENCY)
        engine = create_engine(db_url, Settings(), pool_size=CONCURRENCY)
        factory = create_session_factory(engine)
        assert pool is not None

        async def service(q: str) -> None:
            async with factory() as session:
                await search.search(session, ACTOR, q, PageRequest(size=PAGE))

        async def anchor(q: str) -> None:
            sql, args = _anchor_sql(q)
            await pool.fetch(sql, *args)

        try:
            await _drive(service, queries, 0.5)  # warm pools, caches and plans
            await _drive(anchor, queries, 0.5)
            results: dict[str, list[dict[str, float]]] = {"service": [], "anchor": []}
            for _ in range(rounds):  # interleaved: drift in machine load hits both alike
                results["service"].append(await _drive(service, queries, seconds))
                results["anchor"].append(await _drive(anchor, queries, seconds))
        finally:
            await pool.close()
            await engine.dispose()
    best = {k: max(v, key=lambda r: r["searches_per_s"]) for k, v in results.items()}
    return {
        "clients": clients, "concurrency": CONCURRENCY, "populate_s": round(populate_s, 1),
        "query_mix": "full name, surname, e-mail prefix, phone digits, client id, login",
        "service": best["service"], "anchor": best["anchor"],
        "ratio": round(best["service"]["searches_per_s"] / best["anchor"]["searches_per_s"], 3)
        if best["anchor"]["searches_per_s"] else None,
    }
