"""Deal ingestion end to end (dedupe, store, balance operations, positions, outbox event) beside
an anchor measured in the same run on the same database: asyncpg COPY of the same rows into a bare
table. Also the MT5 adapter's pull rate from a simulator (deal/get_page over HTTP)."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text

from bench.harness import bench_services, stop_process
from domain.platforms.mt5 import MT5Credentials, MT5Platform
from domain.platforms.port import Deal, DealCursor, utc_from_ms
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory
from domain.shared.settings import Settings
from domain.trading.accounts import AccountSpec, register_accounts
from domain.trading.ingestion import _STAGE_COLUMNS, ingest_batch, stage_record
from domain.trading.servers import ServerConfig, upsert_server
from jobs.reporting import apply_batches, sweep_clients
from sandbox.serving import free_port

BATCH = 5_000
LOGINS = 2_000
SYMBOLS = {"EURUSD": ("1.08500", 100_000), "GBPUSD": ("1.27000", 100_000), "USDJPY": ("150.000", 100_000),
           "XAUUSD": ("2350.00", 100), "US500": ("5200.00", 1)}  # fmt: skip


def generate_deals(n: int, seed: int = 7) -> list[Deal]:
    """Open/close pairs across many accounts and symbols, a deposit now and then, times in ms."""
    rng = random.Random(seed)
    start_ms = int(datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)
    deals: list[Deal] = []
    open_positions: list[tuple[int, int, str, int, Decimal]] = []
    t = start_ms
    deal_id = 1
    while len(deals) < n:
        t += rng.randint(1, 40)
        login = 100_000 + rng.randrange(LOGINS)
        if rng.random() < 0.02:
            kind, entry, symbol, pos, price, volume = 2, 0, "", 0, Decimal(0), Decimal(0)
            profit = Decimal(rng.randrange(100, 5000))
        elif open_positions and rng.random() < 0.5:
            pos, login, symbol, action, volume = open_positions.pop(rng.randrange(len(open_positions)))
            kind, entry, price = 1 - action, 1, Decimal(SYMBOLS[symbol][0])
            profit = Decimal(rng.randrange(-5000, 5000)) / 100
        else:
            symbol = rng.choice(list(SYMBOLS))
            kind, entry, pos, price = rng.randrange(2), 0, deal_id, Decimal(SYMBOLS[symbol][0])
            volume, profit = Decimal(rng.randrange(1, 200)) / 100, Decimal("0.00")
            open_positions.append((pos, login, symbol, kind, volume))
        deals.append(Deal(
            deal=deal_id, login=login, order=deal_id, position_id=pos, action=kind, entry=entry,
            time=utc_from_ms(t), time_msc=t, symbol=symbol, price=price, volume=volume, profit=profit,
            commission=Decimal("-3.50") if symbol else Decimal(0), storage=Decimal(0), fee=Decimal(0), reason=1,
            contract_size=Decimal(SYMBOLS[symbol][1]) if symbol else Decimal(0),
            rate_profit=Decimal("0.0066666667") if symbol == "USDJPY" else Decimal(1), rate_margin=Decimal(1),
            comment="", external_tag=None,
        ))  # fmt: skip
        deal_id += 1
    return deals


async def _copy_anchor(dsn: str, deals: list[Deal]) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE bench_deal_copy (deal_id bigint, time timestamptz, time_ms bigint, login bigint, "
            "order_id bigint, position_id bigint, action smallint, entry smallint, symbol text, price numeric, "
            "volume numeric, profit numeric, commission numeric, storage numeric, fee numeric, reason smallint, "
            "contract_size numeric, rate_profit numeric, rate_margin numeric, comment text, external_tag text, "
            "fingerprint bytea)"
        )
        started = time.perf_counter()
        for i in range(0, len(deals), BATCH):
            records = [stage_record(d) for d in deals[i : i + BATCH]]
            await conn.copy_records_to_table("bench_deal_copy", records=records, columns=_STAGE_COLUMNS)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def _ingest(database_url: str, deals: list[Deal], *, server: str = "bench") -> tuple[float, int, int]:
    settings = Settings(database_url=database_url)
    engine = create_engine(database_url, settings, pool_size=2)
    factory = create_session_factory(engine)
    try:
        async with factory() as session, session.begin():
            server_id = await upsert_server(session, server, ServerConfig(server, "http://127.0.0.1:1", 1, "x"))
            # Each account a client's, as real accounts are (the reporting rollups keep per-client figures).
            users = [int(u) for u in (await session.execute(text(
                "INSERT INTO users (email, email_normalized, is_client) SELECT e, e, true FROM ("
                "SELECT :p || g || '@example.com' AS e FROM generate_series(0, :n - 1) g) x "
                "ON CONFLICT (email_normalized) DO UPDATE SET email = excluded.email RETURNING id"),
                {"p": f"ingest-{server}-", "n": LOGINS})).scalars()]
            await session.execute(text("INSERT INTO clients (user_id, status) SELECT unnest(CAST(:u AS bigint[])), "
                                       "'approved' ON CONFLICT DO NOTHING"), {"u": users})
            await register_accounts(session, server_id, [
                AccountSpec(100_000 + i, "real\\standard", 100, "USD", user_id=users[i])
                for i in range(LOGINS)])  # fmt: skip
        inserted = events = 0
        started = time.perf_counter()
        for i in range(0, len(deals), BATCH):
            async with factory() as session, session.begin():
                result = await ingest_batch(session, server_id, deals[i : i + BATCH])
            inserted += result.inserted
            events += 1 if result.event_id else 0
        return time.perf_counter() - started, inserted, events
    finally:
        await engine.dispose()


async def _rollups(database_url: str) -> tuple[float, float, int, int]:
    """The worker's sweep (jobs/reporting.py) over the ingested batches: the per-batch rollup, then the
    per-client sweep folding the sums the batches appended (timed apart)."""
    settings = Settings(database_url=database_url)
    engine = create_engine(database_url, settings, pool_size=2)
    factory = create_session_factory(engine)
    try:
        started, batches = time.perf_counter(), 0
        while added := await apply_batches(factory):
            batches += added
        deal_s = time.perf_counter() - started
        started = time.perf_counter()
        client_deltas = await sweep_clients(factory)
        return deal_s, time.perf_counter() - started, batches, client_deltas
    finally:
        await engine.dispose()


async def _pull_rate(quick: bool) -> dict[str, Any]:
    port, password = free_port(), secrets.token_urlsafe(12) + "Aa1!"
    env = {**os.environ, "SIM_MANAGER_PASSWORD": password}
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox.simulator", "--port", str(port), "--data-dir", tmp,
             "--rate", "0", "--manager-login", "1000"], env=env, cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                for _ in range(200):
                    try:
                        (await http.get("/sim/state")).raise_for_status()
                        break
                    except httpx.HTTPError:
                        await asyncio.sleep(0.05)
                await http.post("/sim/populate", json={"groups": 4})
                await http.post("/sim/tick", params={"steps": 600 if quick else 3000, "step_ms": 1000,
                                                      "activity": 4})  # fmt: skip
            platform = MT5Platform.connect(MT5Credentials(base, 1000, password))
            try:
                started, cursor, count = time.perf_counter(), DealCursor.start(), 0
                while True:
                    page = await platform.deals_since(cursor, 1000)
                    count += len(page.deals)
                    cursor = page.next_cursor
                    if not page.has_more or not page.deals:
                        break
                elapsed = time.perf_counter() - started
            finally:
                await platform.aclose()
        finally:
            stop_process(proc, timeout=10)
    return {"deals": count, "seconds": round(elapsed, 3), "deals_per_s": round(count / elapsed)}


async def run(*, quick: bool) -> dict[str, Any]:
    n = 20_000 if quick else 200_000
    deals = generate_deals(n)
    async with bench_services("ingestion") as (database_url, _redis_url):
        copy_s = await _copy_anchor(asyncpg_dsn(database_url), deals)
        ingest_s, inserted, events = await _ingest(database_url, deals)
        # Reporting's rollups: the worker adds each ingested batch (jobs/reporting.py), timed here on its
        # own over the same batches; ingestion + that = the cost of keeping them current.
        rollup_s, client_s, rollup_batches, client_deltas = await _rollups(database_url)
        again_s, again_inserted, again_events = await _ingest(database_url, deals[:BATCH])
    pull = await _pull_rate(quick)
    ingest_rate, copy_rate = n / ingest_s, n / copy_s
    return {
        "deals": n,
        "batch": BATCH,
        "ingest": {"seconds": round(ingest_s, 3), "deals_per_s": round(ingest_rate), "inserted": inserted,
                   "events": events},
        "anchor_copy_bare_table": {"seconds": round(copy_s, 3), "deals_per_s": round(copy_rate)},
        "ratio": round(ingest_rate / copy_rate, 3),
        "targets": {"ratio": 0.2, "deals_per_s": 20_000},
        "rollups": {"seconds": round(rollup_s, 3), "batches": rollup_batches,
                    "ingest_plus_rollups_deals_per_s": round(n / (ingest_s + rollup_s))},
        "rollup_overhead": round(rollup_s / ingest_s, 3),
        # The per-client rollup, swept in the background every few seconds (one upsert per client x day).
        "client_sweep": {"seconds": round(client_s, 3), "deltas": client_deltas,
                         "overhead": round(client_s / ingest_s, 3)},
        "rollup_overhead_with_client_sweep": round((rollup_s + client_s) / ingest_s, 3),
        "rollup_overhead_target": 0.10,
        "reingest_one_batch": {"seconds": round(again_s, 3), "inserted": again_inserted, "events": again_events},
        "adapter_pull": pull,
    }  # fmt: skip
