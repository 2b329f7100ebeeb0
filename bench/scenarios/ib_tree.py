"""IB downline aggregate latency: closure table vs a naive recursive CTE over the parent column.

A tree of 100,000 IBs and depth 10 (20,000 in quick mode) is COPYed in; both queries return the
same per-depth counts (IBs, directly attributed clients) for a sample of IBs biased to the top
levels, where subtrees are largest.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench.harness import bench_services
from domain.shared.db import asyncpg_dsn

DEPTH = 10
WEIGHTS = (1, 3, 10, 30, 100, 300, 800, 1500, 2500, 4756)  # IBs per level, per 10,000

CLOSURE = """
    SELECT c.depth, count(*) AS ibs, coalesce(sum(n.clients), 0) AS clients
    FROM ib_closure c
    LEFT JOIN LATERAL (SELECT count(*) AS clients FROM ib_client_attributions a
                       WHERE a.ib_id = c.descendant_id AND a.valid_to IS NULL) n ON true
    WHERE c.ancestor_id = $1 AND c.valid_to IS NULL
    GROUP BY c.depth ORDER BY c.depth
"""
RECURSIVE = """
    WITH RECURSIVE sub(id, depth) AS (
        SELECT $1::bigint, 0
        UNION ALL
        SELECT e.ib_id, s.depth + 1 FROM ib_tree_edges e JOIN sub s ON e.parent_id = s.id WHERE e.valid_to IS NULL
    )
    SELECT s.depth, count(*) AS ibs, coalesce(sum(n.clients), 0) AS clients
    FROM sub s
    LEFT JOIN LATERAL (SELECT count(*) AS clients FROM ib_client_attributions a
                       WHERE a.ib_id = s.id AND a.valid_to IS NULL) n ON true
    GROUP BY s.depth ORDER BY s.depth
"""


def build(n: int, rng: random.Random) -> tuple[list[int], list[int | None], list[list[int]]]:
    """Level sizes from WEIGHTS scaled to n; each IB's parent drawn from the level above."""
    sizes = [max(1, round(n * w / sum(WEIGHTS))) for w in WEIGHTS]
    ids: list[int] = []
    parents: list[int | None] = []
    levels: list[list[int]] = []
    next_id = 1
    for depth, size in enumerate(sizes):
        level = list(range(next_id, next_id + size))
        next_id += size
        for i in level:
            ids.append(i)
            parents.append(rng.choice(levels[depth - 1]) if depth else None)
        levels.append(level)
    return ids, parents, levels


async def load(conn: asyncpg.Connection, ids: list[int], parents: list[int | None]) -> int:
    at = datetime(2020, 1, 1, tzinfo=UTC)
    await conn.copy_records_to_table("users", columns=["id", "email", "email_normalized"],
                                     records=[(i, f"ib{i}@bench", f"ib{i}@bench") for i in ids])
    await conn.execute("SELECT setval('users_id_seq', (SELECT max(id) FROM users))")
    await conn.copy_records_to_table("ib_partners", columns=["user_id", "status"],
                                     records=[(i, "approved") for i in ids])
    await conn.copy_records_to_table("ib_tree_edges", columns=["ib_id", "parent_id", "valid_from"],
                                     records=[(i, p, at) for i, p in zip(ids, parents, strict=True)])
    parent_of = dict(zip(ids, parents, strict=True))
    rows: list[tuple[int, int, int, datetime]] = []
    for i in ids:
        node: int | None = i
        depth = 0
        while node is not None:
            rows.append((node, i, depth, at))
            node = parent_of[node]
            depth += 1
    await conn.copy_records_to_table("ib_closure", columns=["ancestor_id", "descendant_id", "depth", "valid_from"],
                                     records=rows)
    await conn.execute("ANALYZE ib_closure; ANALYZE ib_tree_edges; ANALYZE ib_client_attributions")
    return len(rows)


async def timed(conn: asyncpg.Connection, sql: str, sample: list[int]) -> tuple[list[float], list[Any]]:
    out: list[float] = []
    results: list[Any] = []
    for ib in sample:
        t = time.perf_counter()
        results.append([tuple(r) for r in await conn.fetch(sql, ib)])
        out.append((time.perf_counter() - t) * 1000)
    return out, results


def pct(values: list[float], q: float) -> float:
    return round(sorted(values)[min(len(values) - 1, int(q * len(values)))], 2)


async def run(*, quick: bool) -> dict[str, Any]:
    n = 20_000 if quick else 100_000
    rng = random.Random(7)
    async with bench_services("ib_tree") as (database_url, _redis):
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            t = time.perf_counter()
            ids, parents, levels = build(n, rng)
            closure_rows = await load(conn, ids, parents)
            load_s = time.perf_counter() - t
            sample = [*levels[0], *rng.sample(levels[1], min(3, len(levels[1]))),
                      *rng.sample(levels[2], 5), *rng.sample(levels[4], 10), *rng.sample(ids, 30)]
            await timed(conn, CLOSURE, sample[:5])  # warm caches for both
            await timed(conn, RECURSIVE, sample[:5])
            closure_ms, a = await timed(conn, CLOSURE, sample)
            naive_ms, b = await timed(conn, RECURSIVE, sample)
        finally:
            await conn.close()
    assert a == b, "closure and recursive CTE disagree"
    root_closure, root_naive = closure_ms[0], naive_ms[0]
    return {
        "ibs": len(ids), "depth": DEPTH, "closure_rows": closure_rows, "load_s": round(load_s, 2),
        "queries": len(sample),
        "closure_ms": {"p50": pct(closure_ms, 0.5), "p95": pct(closure_ms, 0.95), "max": round(max(closure_ms), 2),
                       "root": round(root_closure, 2)},
        "anchor_recursive_cte_ms": {"p50": pct(naive_ms, 0.5), "p95": pct(naive_ms, 0.95),
                                    "max": round(max(naive_ms), 2), "root": round(root_naive, 2)},
        "ratio_p95_recursive_over_closure": round(pct(naive_ms, 0.95) / max(pct(closure_ms, 0.95), 1e-6), 2),
        "target_ms": 100,
    }
