"""Net exposure query latency at 1,000,000 open positions (100,000 quick) beside a full scan.

Positions are inserted with one INSERT ... SELECT, so the risk triggers build the exposure cube as
ingestion would; the measured path is the domain query (`domain.risk.exposure.exposure`) through an
SQLAlchemy session, for the symbol, asset-class and book breakdowns. The anchor, in the same run on
the same database, is a GROUP BY over trading_positions (what a query without the cube would do).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from bench.harness import bench_services
from domain.risk.exposure import Dimension, exposure, full_scan
from domain.shared.db import create_engine, create_session_factory
from domain.shared.settings import Settings

SYMBOLS = {"EURUSD": ("Forex", "EUR", "USD", 100_000, "1.085"), "GBPUSD": ("Forex", "GBP", "USD", 100_000, "1.27"),
           "USDJPY": ("Forex", "USD", "JPY", 100_000, "150.0"), "XAUUSD": ("Metals", "XAU", "USD", 100, "2350"),
           "US500": ("Indices", "USD", "USD", 1, "5200"), "BTCUSD": ("Crypto", "BTC", "USD", 1, "65000")}  # fmt: skip
GROUPS = ("real\\standard", "real\\raw", "real\\pro", "real\\vip")
ACCOUNTS = 20_000


def pct(values: list[float], q: float) -> float:
    return round(sorted(values)[min(len(values) - 1, int(q * len(values)))], 3)


async def _load(factory: Any, n: int) -> float:
    async with factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO trading_servers (id, name, platform, base_url, manager_login, password_enc, created_at, "
            "updated_at) VALUES (1, 'bench', 'mt5', 'http://127.0.0.1:1', 1, 'x', now(), now())"))
        for sym, (cls, base, quote, cs, price) in SYMBOLS.items():
            await s.execute(text(
                "INSERT INTO trading_instruments (server_id, symbol, canonical, asset_class, path, contract_size, "
                "base_currency, quote_currency, digits, pip_size, updated_at) VALUES (1, :s, :s, :c, :c, :cs, :b, "
                ":q, 5, 0.0001, now())"), {"s": sym, "c": cls, "cs": cs, "b": base, "q": quote})
            await s.execute(text("INSERT INTO risk_prices VALUES (1, :s, :p, now())"), {"s": sym, "p": price})
        await s.execute(text(
            "INSERT INTO trading_accounts (server_id, login, \"group\", leverage, currency, created_at) "
            "SELECT 1, 100000 + g, (ARRAY[:g0, :g1, :g2, :g3])[1 + g % 4], 100, 'USD', now() "
            "FROM generate_series(0, :n - 1) g"
        ), {"n": ACCOUNTS, "g0": GROUPS[0], "g1": GROUPS[1], "g2": GROUPS[2], "g3": GROUPS[3]})  # fmt: skip
        await s.execute(text(
            "INSERT INTO risk_group_books VALUES (1, :g0, 'B', 0), (1, :g1, 'HYBRID', 50), (1, :g2, 'A', 100)"),
            {"g0": GROUPS[0], "g1": GROUPS[1], "g2": GROUPS[2]})  # fmt: skip
    started = time.perf_counter()
    async with factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO trading_positions (server_id, position_id, login, account_id, symbol, side, volume, "
            "in_volume, in_value, opened_at, last_deal_ms) "
            "SELECT 1, g, a.login, a.id, (ARRAY['EURUSD','GBPUSD','USDJPY','XAUUSD','US500','BTCUSD'])[1 + g % 6], "
            "CASE WHEN g % 7 < 4 THEN 'BUY' ELSE 'SELL' END, v, v, v * (1 + (g % 100) / 1000.0), now(), 0 "
            "FROM generate_series(1, :n) g CROSS JOIN LATERAL (SELECT ((g % 50) + 1) / 10.0 AS v) vv "
            "JOIN trading_accounts a ON a.login = 100000 + g % :acc"
        ), {"n": n, "acc": ACCOUNTS})  # fmt: skip
        await s.execute(text("ANALYZE trading_positions"))
        await s.execute(text("ANALYZE risk_exposure"))
    return time.perf_counter() - started


async def run(*, quick: bool) -> dict[str, Any]:
    n = 100_000 if quick else 1_000_000
    async with bench_services("exposure") as (database_url, _redis):
        engine = create_engine(database_url, Settings(database_url=database_url), pool_size=2)
        factory = create_session_factory(engine)
        try:
            load_s = await _load(factory, n)
            timings: dict[str, list[float]] = {}
            async with factory() as s:
                for dim in (Dimension.SYMBOL, Dimension.ASSET_CLASS, Dimension.BOOK):
                    await exposure(s, dim)  # warm
                    out = timings.setdefault(dim.value, [])
                    for _ in range(50 if quick else 200):
                        t = time.perf_counter()
                        await exposure(s, dim)
                        out.append((time.perf_counter() - t) * 1000)
                    await s.rollback()
                scan: list[float] = []
                for _ in range(5):
                    t = time.perf_counter()
                    result = await full_scan(s)
                    scan.append((time.perf_counter() - t) * 1000)
                    await s.rollback()
                cube_lots = sum(x.net_lots for x in (await exposure(s, Dimension.SYMBOL)).lines)
                cube_rows = int(await s.scalar(text("SELECT count(*) FROM risk_exposure")) or 0)
        finally:
            await engine.dispose()
    assert cube_lots == sum(result.values()), "cube and full scan disagree"
    all_ms = [v for values in timings.values() for v in values]
    return {
        "open_positions": n, "cube_rows": cube_rows, "load_with_triggers_s": round(load_s, 2),
        "exposure_ms": {k: {"p50": pct(v, 0.5), "p99": pct(v, 0.99)} for k, v in timings.items()},
        "anchor_full_scan_ms": {"p50": pct(scan, 0.5), "max": round(max(scan), 2)},
        "ratio_scan_p50_over_exposure_p99": round(pct(scan, 0.5) / max(pct(all_ms, 0.99), 1e-6), 1),
        "target_p99_ms": 10,
    }
