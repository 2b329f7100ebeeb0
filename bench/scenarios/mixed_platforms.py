"""Deal ingestion from several trading servers of mixed platforms at once, end to end: two MT5 Web API
simulators and two MT4 sidecars (each its own process, over its own wire format), every server pulled
concurrently by `pull_server` (its adapter from the registry by the server's `platform`), deals stored with
positions and exposure kept. A fifth server (an MT4 sidecar that is down) is pulled beside them: it fails
on its own, fast, and holds none of them back. Anchor, same run, same database: asyncpg COPY of as many
deals into a bare table."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from bench.harness import bench_services, stop_process
from bench.scenarios.deal_ingestion import _copy_anchor, generate_deals
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory
from domain.shared.settings import Settings
from domain.trading.models import TradingServer
from domain.trading.puller import pull_server
from domain.trading.servers import ServerConfig, platform_for, upsert_server
from sandbox.serving import free_port

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("mt5", "mt4", "mt5", "mt4")
KEY = "bench-mixed-platforms-secret-key"


def _start(kind: str, data_dir: str, seed: int) -> tuple[subprocess.Popen[bytes], str, str]:
    port, password = free_port(), secrets.token_urlsafe(12) + "Aa1!"
    if kind == "mt4":
        env = {**os.environ, "MT4_SIDECAR_SECRET": password, "MT4_SIDECAR_DATA_DIR": data_dir,
               "MT4_SIDECAR_SEED": str(seed)}
        argv = [sys.executable, "-m", "sandbox.mt4_sidecar", "--port", str(port)]
    else:
        env = {**os.environ, "SIM_MANAGER_PASSWORD": password}
        argv = [sys.executable, "-m", "sandbox.simulator", "--port", str(port), "--data-dir", data_dir,
                "--seed", str(seed), "--rate", "0", "--manager-login", "1000"]
    return subprocess.Popen(argv, env=env, cwd=ROOT), f"http://127.0.0.1:{port}", password


async def _trade(base: str, target: int) -> int:
    """Simulated traders trade until the server holds at least `target` deals; returns how many."""
    async with httpx.AsyncClient(base_url=base, timeout=300) as http:
        for _ in range(300):
            try:
                (await http.get("/sim/state")).raise_for_status()
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
        await http.post("/sim/populate", json={"groups": 6})
        made = 0
        while made < target:
            tick = await http.post("/sim/tick", params={"steps": 300, "step_ms": 1000, "activity": 6})
            made += int(tick.json()["deals_created"])
        return made


async def run(*, quick: bool) -> dict[str, Any]:
    per_server = 4_000 if quick else 30_000
    with tempfile.TemporaryDirectory() as tmp:
        sims = [_start(kind, f"{tmp}/{i}", 1 + i) for i, kind in enumerate(KINDS)]
        try:
            made = await asyncio.gather(*(_trade(base, per_server) for _, base, _ in sims))
            async with bench_services("mixed_platforms") as (database_url, _redis_url):
                total = sum(made)
                copy_s = await _copy_anchor(asyncpg_dsn(database_url), generate_deals(total))
                result = await _pull_all(database_url, sims)
        finally:
            for proc, _, _ in sims:
                stop_process(proc, timeout=10)
    rate = result["stored"] / result["seconds"]
    copy_rate = total / copy_s
    return {
        "servers": list(KINDS), "deals_on_servers": made, **result,
        "deals_per_s": round(rate), "anchor_copy_bare_table": {"seconds": round(copy_s, 3),
                                                             "deals_per_s": round(copy_rate)},
        "ratio": round(rate / copy_rate, 3), "targets": {"deals_per_s": 20_000},
    }  # fmt: skip


async def _pull_all(database_url: str, sims: list[tuple[Any, str, str]]) -> dict[str, Any]:
    settings = Settings(database_url=database_url)
    engine = create_engine(database_url, settings, pool_size=8)
    factory = create_session_factory(engine)
    try:
        configs = [ServerConfig(f"bench-{kind}-{i}", base, 1000, password, platform=kind)
                   for i, (kind, (_, base, password)) in enumerate(zip(KINDS, sims, strict=True))]
        configs.append(ServerConfig("bench-mt4-down", f"http://127.0.0.1:{free_port()}", 1000, "x", platform="mt4"))
        async with factory() as session, session.begin():
            ids = [await upsert_server(session, KEY, c) for c in configs]
        async with factory() as session:
            rows = [await session.get(TradingServer, i) for i in ids]
        platforms = [platform_for(row, KEY, timeout=30.0, retries=1) for row in rows if row is not None]

        async def timed(server_id: int, platform: Any) -> tuple[float, Any]:
            started = time.perf_counter()
            pulled = await pull_server(factory, server_id, platform)
            return time.perf_counter() - started, pulled

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(timed(i, p) for i, p in zip(ids, platforms, strict=True)))
        elapsed = time.perf_counter() - started
        for p in platforms:
            await p.aclose()
        async with factory() as session:
            stored = int(await session.scalar(text("SELECT count(*) FROM trading_deals WHERE server_id = ANY(:ids)"),
                                              {"ids": ids[:-1]}) or 0)
        per_server = [{"platform": c.platform, "seconds": round(s, 3), "inserted": r.inserted, "error": r.error}
                      for c, (s, r) in zip(configs, outcomes, strict=True)]
        return {"seconds": round(elapsed, 3), "stored": stored, "per_server": per_server}
    finally:
        await engine.dispose()
