"""EMIR REFIT reports for a day of deals (domain/regulatory/emir/build.py `build_day`: UTIs assigned, positions
streamed from the database, report lines, the auth.030 XML written in parts, each part validated against ESMA's
XSD in a worker thread while the next is written, encrypted and stored with its SHA-256, every line's deal ids
copied into regulatory_report_lines) against an anchor in the same run on the same rows: a bare loop that reads the same
day's positions through the same cursor and writes the same XML (the same report fragments) to a file, with no
validation, storage or traceability.

MiFIR (domain/regulatory/mifir/build.py) on the same deals, the instrument flagged reportable: one auth.016
transaction report per deal, validated, stored, one traceability row per deal; its anchor the same deal cursor
writing the same report fragments in a bare loop.

Valuations (VALU): the next day, with no deal, OPEN positions (--quick 10,000, else 100,000) held at its close
(trading_positions, one price): the day's build captures each position's valuation and its account's collateral
(regulatory_valuations, regulatory_collateral), then writes one ValtnUpd per position, validated and stored; a
rebuild of that day reads what was captured. Anchor: the same captured rows through the same cursor, the same
ValtnUpd XML written in a bare loop.

Deals: --quick 20,000, else 1,000,000 (half opening, half closing deals of positions opened that day, over 2,000
clients), so a day makes one New and one Termntn per position. Figures: wall and process CPU, deals/s, the
process's peak RSS (ru_maxrss: the whole process, seeding included).

The 1M database (bench_regulatory_reports_1m) is kept between runs: seeding a million deals takes minutes, so
a run that finds the day's deals already there reuses them, and only deletes what an earlier run built (UTIs,
files, lines, MiFIR rows) so that every run builds the day from scratch. --quick seeds a fresh database.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.harness import bench_services
from domain.clients.storage import LocalStore
from domain.regulatory import settings as config
from domain.regulatory.emir import build, writer
from domain.regulatory.emir.schema import report_schema
from domain.regulatory.mifir import build as mifir_build
from domain.regulatory.mifir import writer as mifir_writer
from domain.regulatory.mifir.schema import report_schema as mifir_schema
from domain.shared.actor import system_actor
from domain.shared.db import create_engine, create_session_factory, in_transaction
from domain.shared.settings import Settings

LEI = "529900T8BM49AURSDO55"
DAY = date(2026, 6, 15)
NEXT = DAY + timedelta(days=1)
CLIENTS = 2_000
FIRST_OPEN = 10_000_000  # position ids of the positions held open over NEXT


async def _seed_open(session: AsyncSession, positions: int) -> None:
    """Positions opened at NEXT's first instant (so DAY's close does not hold them), reported (UTIs), one price."""
    sid = await session.scalar(text("SELECT id FROM trading_servers ORDER BY id LIMIT 1"))
    await session.execute(text(
        "INSERT INTO trading_positions (server_id, position_id, login, account_id, symbol, side, volume, in_volume, "
        "in_value, opened_at, last_deal_ms) SELECT :s, :f + g, a.login, a.id, 'EURUSD', "
        "CASE WHEN g % 2 = 0 THEN 'BUY' ELSE 'SELL' END, 0.1, 0.1, 0.1 * (1.08 + (g % 50) * 0.0001), :at, 0 "
        "FROM generate_series(1, :n) g JOIN (SELECT id, login, row_number() OVER (ORDER BY id) - 1 AS k "
        "FROM trading_accounts WHERE server_id = :s) a ON a.k = g % :c"),
        {"s": sid, "f": FIRST_OPEN, "n": positions, "c": CLIENTS, "at": build.day_bounds(NEXT)[0]})
    await session.execute(text(
        "INSERT INTO regulatory_utis (server_id, position_id, uti, opened_on) SELECT server_id, position_id, "
        ":lei || 'S' || server_id || 'P' || position_id, :next FROM trading_positions WHERE position_id > :f"),
        {"lei": LEI, "next": NEXT, "f": FIRST_OPEN})
    await session.execute(text(
        "INSERT INTO risk_prices (server_id, symbol, price, price_time) VALUES (:s, 'EURUSD', 1.0850, :t) "
        "ON CONFLICT (server_id, symbol) DO UPDATE SET price = excluded.price, price_time = excluded.price_time"),
        {"s": sid, "t": build.day_bounds(NEXT)[1] - timedelta(seconds=1)})


async def _valuation_anchor(session: AsyncSession, path: Path) -> int:
    """The captured valuations through the same cursor, the same ValtnUpd XML written in a bare loop."""
    cfg = await config.required(session)
    look = build.Lookups(session, cfg)
    reporter = writer.Reporter(cfg.reporting_lei, cfg.submitting_agent_lei, cfg.sector, cfg.master_agreement)
    count = 0
    with path.open("wb") as out:
        async for rows in build._valuations(session, NEXT):
            await look.load_parties({r["account_id"] for r in rows})
            for row in rows:
                out.write(writer.report(reporter, build.valuation_line(row, NEXT, look), cfg.master_agreement).encode())
                count += 1
    return count


async def _seed(session: AsyncSession, deals: int) -> None:
    tag = uuid.uuid4().hex[:8]
    sid = await session.scalar(text(
        "INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc) "
        "VALUES (:n, 'mt5', 'http://127.0.0.1:1', 1, 'x') RETURNING id"), {"n": f"bench-{tag}"})
    await session.execute(text(
        "INSERT INTO trading_instruments (server_id, symbol, canonical, asset_class, contract_size, base_currency, "
        "quote_currency, digits, pip_size) VALUES (:s, 'EURUSD', 'EURUSD', 'forex', 100000, 'EUR', 'USD', 5, 0.0001)"),
        {"s": sid})
    await session.execute(text(
        "WITH u AS (INSERT INTO users (email, email_normalized, is_client) SELECT 'c' || g || '-' || :t || "
        "'@bench.example', 'c' || g || '-' || :t || '@bench.example', true FROM generate_series(1, :n) g "
        "RETURNING id), c AS (INSERT INTO clients (user_id, status, first_name, last_name, date_of_birth, country, "
        "profile) SELECT id, 'active', 'Client', 'Number' || id, '1980-05-17', 'CY', '{\"nationality\": \"GR\"}' "
        "FROM u RETURNING user_id) INSERT INTO trading_accounts (server_id, login, user_id, \"group\", leverage, "
        "currency) SELECT :s, 100000 + user_id, user_id, 'real', 100, 'USD' FROM c"),
        {"t": tag, "n": CLIENTS, "s": sid})
    await session.execute(text(
        "INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, account_id, order_id, position_id, "
        "action, entry, symbol, price, volume, profit, commission, storage, fee, reason, contract_size, rate_profit, "
        "rate_margin, batch_id) SELECT :s, g, t, (extract(epoch FROM t) * 1000)::bigint, 100000 + a.user_id, a.id, g, "
        "(g + 1) / 2, CASE WHEN g % 2 = 1 THEN ((g + 1) / 2) % 2 ELSE 1 - ((g + 1) / 2) % 2 END, "
        "CASE WHEN g % 2 = 1 THEN 0 ELSE 1 END, 'EURUSD', 1.08 + (g % 100) * 0.0001, "
        "0.01 * (1 + ((g + 1) / 2) % 7), 0, 0, 0, 0, 0, 100000, 1, 1, gen_random_uuid() FROM generate_series(1, :n) g "
        "CROSS JOIN LATERAL (SELECT CAST(:day AS timestamptz) + make_interval(secs => g * 86000.0 / :n) AS t) tt "
        "JOIN (SELECT id, user_id, row_number() OVER (ORDER BY id) - 1 AS k FROM trading_accounts "
        "WHERE server_id = :s) a ON a.k = ((g + 1) / 2) % :c"),
        {"s": sid, "n": deals, "day": DAY, "c": CLIENTS})


async def _seeded(session: AsyncSession, deals: int) -> bool:
    """A kept database holding this day's deals from an earlier run: what that run built is deleted."""
    a, b = build.day_bounds(DAY)
    found = await session.scalar(text("SELECT count(*) FROM trading_deals WHERE time >= :a AND time < :b"),
                                 {"a": a, "b": b})
    if found != deals:
        return False
    await session.execute(text(
        "TRUNCATE regulatory_mifir_transactions, regulatory_report_lines, regulatory_report_files, regulatory_utis, "
        "regulatory_valuations, regulatory_collateral, regulatory_valuation_days"))
    await session.execute(text("DELETE FROM trading_positions WHERE position_id > :f"), {"f": FIRST_OPEN})
    await session.execute(text("UPDATE trading_instruments SET mifir_reportable = NULL"))
    return True


async def _anchor(session: AsyncSession, path: Path) -> int:
    """The same rows through the same cursor, the same XML written in a bare loop."""
    cfg = await config.required(session)
    look = build.Lookups(session, cfg)
    await look.load_instruments()
    reporter = writer.Reporter(cfg.reporting_lei, cfg.submitting_agent_lei, cfg.sector, cfg.master_agreement)
    count = 0
    with path.open("wb") as out:
        async for rows in build._positions(session, DAY):
            await look.load_parties({r["account_id"] for r in rows})
            for row in rows:
                for line in build.lines_of(row, DAY, look):
                    out.write(writer.report(reporter, line, cfg.master_agreement).encode())
                    count += 1
    return count


async def _mifir_anchor(session: AsyncSession, path: Path) -> int:
    """MiFIR's anchor: the same deal cursor and persons, the same report XML written in a bare loop."""
    cfg = await config.required(session)
    persons: dict[int, mifir_writer.Person] = {}
    count = 0
    with path.open("wb") as out:
        async for rows in mifir_build._deals(session, DAY, False):
            await mifir_build._persons(session, persons, {r["account_id"] for r in rows})
            for row in rows:
                out.write(mifir_writer.report(cfg.reporting_lei, mifir_build.tx_of(row, persons[row["account_id"]],
                                                                                   cfg)).encode())
                count += 1
    return count


def _timed(wall: float, cpu: float, deals: int, per: str = "deals_per_s") -> dict[str, Any]:
    return {"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), per: round(deals / wall)}


async def run(*, quick: bool = False) -> dict[str, Any]:
    deals = 20_000 if quick else 1_000_000
    open_positions = 10_000 if quick else 100_000
    settings = Settings()
    actor = system_actor("bench.regulatory")
    async with bench_services("regulatory_reports" if quick else "regulatory_reports_1m", keep=not quick) as (
            db_url, _redis_url):
        engine = create_engine(db_url, settings, pool_size=2)
        factory = create_session_factory(engine)
        try:
            seed_wall = time.perf_counter()
            if quick or not await in_transaction(factory, lambda s: _seeded(s, deals)):
                await in_transaction(factory, lambda s: _seed(s, deals))
            async with engine.connect() as c:  # the planner's statistics for the day's deals, as autovacuum would
                await c.execution_options(isolation_level="AUTOCOMMIT")
                await c.execute(text("VACUUM ANALYZE trading_deals, trading_accounts, clients"))
            seed_wall = time.perf_counter() - seed_wall
            await in_transaction(factory, lambda s: config.set_settings(s, actor, config.RegulatorySettings(
                LEI, LEI, "549300ZFEEJ2IP5VME73", "INVF", "CY", "Client Agreement")))
            report_schema()  # compiled once per process, outside both timings
            with tempfile.TemporaryDirectory(prefix="emir-bench-") as folder:
                store = LocalStore(Path(folder) / "store")
                wall, cpu = time.perf_counter(), time.process_time()
                files = await in_transaction(factory, lambda s: build.build_day(s, settings, store, actor, DAY))
                run_wall, run_cpu = time.perf_counter() - wall, time.process_time() - cpu
                wall, cpu = time.perf_counter(), time.process_time()
                async with factory() as s:
                    anchor_reports = await _anchor(s, Path(folder) / "anchor.xml")
                anchor_wall, anchor_cpu = time.perf_counter() - wall, time.process_time() - cpu
                async with factory() as s, s.begin():
                    await s.execute(text("UPDATE trading_instruments SET mifir_reportable = true"))
                mifir_schema()
                wall, cpu = time.perf_counter(), time.process_time()
                mifir_files = await in_transaction(factory, lambda s: mifir_build.build_day(s, settings, store,
                                                                                            actor, DAY))
                mifir_run = _timed(time.perf_counter() - wall, time.process_time() - cpu, deals)
                wall, cpu = time.perf_counter(), time.process_time()
                async with factory() as s:
                    mifir_anchor_reports = await _mifir_anchor(s, Path(folder) / "mifir-anchor.xml")
                mifir_anchor = _timed(time.perf_counter() - wall, time.process_time() - cpu, deals)
                await in_transaction(factory, lambda s: _seed_open(s, open_positions))
                wall, cpu = time.perf_counter(), time.process_time()
                valued = await in_transaction(factory, lambda s: build.build_day(s, settings, store, actor, NEXT))
                valu_run = _timed(time.perf_counter() - wall, time.process_time() - cpu, open_positions,
                                   "positions_per_s")
                wall, cpu = time.perf_counter(), time.process_time()
                revalued = await in_transaction(factory, lambda s: build.build_day(s, settings, store, actor, NEXT,
                                                                                   reason="bench rebuild"))
                valu_rebuild = _timed(time.perf_counter() - wall, time.process_time() - cpu, open_positions,
                                   "positions_per_s")
                wall, cpu = time.perf_counter(), time.process_time()
                async with factory() as s:
                    valu_anchor_reports = await _valuation_anchor(s, Path(folder) / "valu-anchor.xml")
                valu_anchor = _timed(time.perf_counter() - wall, time.process_time() - cpu, open_positions,
                                   "positions_per_s")
        finally:
            await engine.dispose()
    records = sum(f.records for f in files)
    assert records == anchor_reports == deals, (records, anchor_reports, deals)  # a New and a Termntn per position
    mifir_records = sum(f.records for f in mifir_files)
    assert mifir_records == mifir_anchor_reports == deals, (mifir_records, mifir_anchor_reports, deals)
    valu_records = sum(f.records for f in valued)
    assert valu_records == valu_anchor_reports == open_positions, (valu_records, valu_anchor_reports)
    assert [f.sha256 for f in revalued] == [f.sha256 for f in valued]  # a rebuild writes the same bytes
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "deals": deals, "reports": records, "files": len(files), "bytes": sum(f.size_bytes for f in files),
        "run": {"seconds": round(run_wall, 2), "cpu_seconds": round(run_cpu, 2),
                "deals_per_s": round(deals / run_wall), "peak_rss_mb": round(peak_mb),
                "what": "UTIs, streamed positions, report lines, XML parts validated against the XSD one part "
                        "at a time (in a worker thread beside the next part), encrypted, stored with SHA-256, "
                        "lines with deal ids copied"},
        "anchor": {"seconds": round(anchor_wall, 2), "cpu_seconds": round(anchor_cpu, 2),
                   "deals_per_s": round(deals / anchor_wall),
                   "what": "same cursor and rows, the same report XML written in a bare loop"},
        "ratio": round(anchor_wall / run_wall, 4) if run_wall else None,
        "mifir": {
            "reports": mifir_records, "files": len(mifir_files), "bytes": sum(f.size_bytes for f in mifir_files),
            "run": {**mifir_run, "what": "deals streamed, persons identified (CONCAT), auth.016 parts validated "
                                         "against the XSD, encrypted, stored with SHA-256, a row per transaction"},
            "anchor": {**mifir_anchor, "what": "same cursor and rows, the same report XML in a bare loop"},
            "ratio": round(mifir_anchor["seconds"] / mifir_run["seconds"], 4) if mifir_run["seconds"] else None,
        },
        "valuations": {
            "open_positions": open_positions, "files": len(valued),
            "run": {**valu_run, "what": "close captured (valuation per open position, collateral per account), "
                                        "ValtnUpd per position, parts validated against the XSD, stored"},
            "rebuild": {**valu_rebuild, "what": "the same day rebuilt from what was captured (identical SHA-256)"},
            "anchor": {**valu_anchor, "what": "same captured rows and cursor, the same ValtnUpd XML in a bare loop"},
            "ratio": round(valu_anchor["seconds"] / valu_run["seconds"], 4) if valu_run["seconds"] else None,
        },
        "targets": {"seconds": 300, "peak_rss_mb": 300},
        "seed_or_reuse_seconds": round(seed_wall, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
