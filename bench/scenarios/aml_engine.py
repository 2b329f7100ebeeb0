"""The engine's figures of the aml scenario alone, at full scale: the 20-rule test run over 1M payments
(--quick 20k) and inline decisions beside the hand-written anchor, with CPU per evaluation.

Seeding a million payments takes minutes, so this scenario keeps its database (bench_aml_engine, bench_aml_engine_quick)
between runs and seeds it only when it holds no population of the requested size: profile, change the
engine, run again. `aml` (templates' precision and recall on a fresh population) is unchanged;
BENCH_AML_TEMPLATES=1 measures the templates here too, on the kept population.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import asyncpg

from bench.aml_population import SPAN_DAYS, seed, seeded
from bench.harness import bench_services
from bench.scenarios.aml import BASE, POOL_SIZE, engine_figures, template_figures
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory
from domain.shared.settings import Settings


async def run(*, quick: bool) -> dict[str, Any]:
    ordinary = 2_000 if quick else 25_000
    each = 10 if quick else 40
    planted_each = 10 if quick else 50
    inline_samples = 60 if quick else 300
    tag = "e"
    load_before = os.getloadavg()
    async with bench_services("aml_engine_quick" if quick else "aml_engine", keep=True) as (database_url, _redis):
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        seed_s = None
        try:
            present = await conn.fetchval("SELECT true FROM users WHERE email = $1 LIMIT 1",
                                         f"aml-{tag}-1@pop.example")  # the population's first client
            if not present:
                t = time.perf_counter()
                await seed(conn, tag=tag, base=BASE, ordinary=ordinary, planted_each=planted_each, payments_each=each)
                await conn.execute("VACUUM ANALYZE")
                seed_s = round(time.perf_counter() - t, 1)
            payments = int(await conn.fetchval("SELECT count(*) FROM payments"))
            db = create_engine(database_url, Settings(), pool_size=POOL_SIZE)
            factory = create_session_factory(db)
            try:
                figures = await engine_figures(conn, factory, inline_samples=inline_samples,
                                               until=BASE + timedelta(days=1))
                if os.environ.get("BENCH_AML_TEMPLATES") == "1":
                    population = await seeded(conn, tag=tag, base=BASE, planted_each=planted_each)
                    figures["templates"] = await template_figures(factory, population,
                                                                  since=BASE - timedelta(days=SPAN_DAYS + 10),
                                                                  until=BASE + timedelta(days=1))
                    figures["clients"] = len(population.ordinary) + sum(len(v) for v in population.planted.values())
            finally:
                await db.dispose()
        finally:
            await conn.close()
    loads = [[round(x, 2) for x in load] for load in (load_before, os.getloadavg())]
    return {"payments": payments, "seed_s": seed_s, "load_avg_before_after": loads, **figures}
