"""Records on request exported (domain/audit/record_exports.py): one IB's commission lines with their
plan version and formula streamed as CSV and as XLSX exactly as `GET /documents/records/<token>` does
(the kind's SQL through a server-side cursor in batches, amounts at their currency's scale, cells
neutralised; XLSX through XlsxWriter's constant_memory mode), against anchors in the same run on
the same rows: PostgreSQL's own `COPY (SELECT ...) TO STDOUT CSV` of the same columns, and a bare
asyncpg cursor loop writing them with csv.writer. Figures are rows/s (wall and process CPU) and the
process's peak RSS growth, which stays flat whatever the rows (--quick 20k rows, else 200k).
"""

from __future__ import annotations

import csv
import io
import os
import resource
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.harness import bench_services
from domain.audit import record_exports, records
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory, in_transaction
from domain.shared.settings import Settings

BARE = ("SELECT l.deal_time, l.id, l.ib_id, l.direct_ib_id, l.level, l.client_id, l.kind, l.source, l.server_id, "
        "l.deal_id, l.login, l.symbol, l.volume, l.plan_id, p.name, l.plan_version_id, v.version, l.clause_no, "
        "l.clause_kind, l.formula, l.inputs::text, l.quantity, l.rate, l.fx_rate, l.amount, l.currency, l.reason "
        "FROM ib_commission_lines l LEFT JOIN ib_plan_versions v ON v.id = l.plan_version_id "
        "LEFT JOIN ib_plans p ON p.id = l.plan_id WHERE l.ib_id = {ib} ORDER BY l.deal_time, l.id")


async def _seed(session: AsyncSession, rows: int) -> int:
    """An approved IB with a plan and `rows` commission lines over a month; returns the IB's user id."""
    tag = uuid.uuid4().hex[:8]
    ib = await session.scalar(text("INSERT INTO users (email, email_normalized) VALUES (:e, :e) RETURNING id"),
                              {"e": f"ib-{tag}@bench.example"})
    await session.execute(text("INSERT INTO ib_partners (user_id, status) VALUES (:u, 'approved')"), {"u": ib})
    plan = await session.scalar(text("INSERT INTO ib_plans (name, currency, scale) VALUES (:n, 'USD', 2) "
                                     "RETURNING id"), {"n": f"bench-{tag}"})
    version = await session.scalar(text(
        "INSERT INTO ib_plan_versions (plan_id, version, distribution, valid_from) VALUES (:p, 1, 'override', "
        "now() - interval '90 days') RETURNING id"), {"p": plan})
    await session.execute(text(
        "INSERT INTO ib_commission_lines (kind, source, server_id, deal_id, deal_time, client_id, account_id, login, "
        "symbol, volume, ib_id, level, direct_ib_id, plan_id, plan_version_id, clause_no, clause_kind, formula, "
        "inputs, quantity, rate, fx_rate, amount, currency) "
        "SELECT 'accrual', 'deal', 1, g, now() - make_interval(secs => g * 13), 1000 + g % 500, NULL, "
        "500000 + g % 500, "
        "CASE WHEN g % 3 = 0 THEN 'EURUSD' ELSE 'XAUUSD' END, (g % 50) / 10.0 + 0.1, :ib, 0, :ib, :p, :v, 1, "
        "'per_lot', 'volume x rate x fx = amount', "
        "jsonb_build_object('volume', (g % 50) / 10.0 + 0.1, 'rate', 3), "
        "(g % 50) / 10.0 + 0.1, 3, 1, ((g % 50) / 10.0 + 0.1) * 3, 'USD' FROM generate_series(1, :n) g"),
        {"ib": ib, "p": plan, "v": version, "n": rows})
    await session.execute(text("ANALYZE ib_commission_lines"))
    return int(ib)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _timed(fn: Callable[[], Awaitable[int]]) -> dict[str, Any]:
    rss = _peak_rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    n = await fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"rows": n, "rows_per_s": round(n / wall), "cpu_rows_per_s": round(n / cpu) if cpu else None,
            "seconds": round(wall, 3), "peak_rss_growth_mb": round(_peak_rss_mb() - rss, 1)}


async def run(*, quick: bool = False) -> dict[str, Any]:
    rows = 20_000 if quick else 200_000
    settings = Settings()
    async with bench_services("records_export") as (db_url, _redis_url):
        engine = create_engine(db_url, settings, pool_size=2)
        factory = create_session_factory(engine)
        conn = await asyncpg.connect(asyncpg_dsn(db_url))
        try:
            ib = await in_transaction(factory, lambda s: _seed(s, rows))
            flt = records.Resolved(None, ib, None, None)
            kind = records.RecordKind.COMMISSION

            async def export_csv() -> int:
                n, size = 0, len(record_exports.csv_lines((), records.header(kind)))
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    async for batch in record_exports.stream_rows(conn, kind, flt):
                        size += len(record_exports.csv_lines(batch).encode())
                        n += len(batch)
                return n

            async def export_xlsx() -> int:
                sheet, n = record_exports.XlsxSheet(records.header(kind)), 0
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    async for batch in record_exports.stream_rows(conn, kind, flt):
                        for row in batch:
                            sheet.append(row)
                        n += len(batch)
                sheet.finish()
                for _ in sheet.chunks():
                    pass
                return n

            async def anchor_copy() -> int:
                sink = io.BytesIO()

                async def write(data: bytes) -> None:
                    sink.write(data)

                status = await conn.copy_from_query(BARE.format(ib=ib), output=write, format="csv", header=True)
                return int(status.split()[-1])

            async def anchor_loop() -> int:
                n = 0
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    cursor = await conn.cursor(BARE.format(ib=ib))
                    while batch := await cursor.fetch(record_exports.BATCH):
                        buf = io.StringIO()
                        csv.writer(buf, lineterminator="\n").writerows(batch)
                        buf.getvalue().encode()
                        n += len(batch)
                return n

            await export_csv()  # warm: plans cached, pages in shared buffers for every measurement
            figures = {"csv": await _timed(export_csv), "anchor_copy": await _timed(anchor_copy),
                       "anchor_loop": await _timed(anchor_loop), "xlsx": await _timed(export_xlsx)}
        finally:
            await conn.close()
            await engine.dispose()
    assert {f["rows"] for f in figures.values()} == {rows}
    return {
        "rows": rows,
        "run": {"csv": figures["csv"], "xlsx": figures["xlsx"],
                "what": "the export path: kind SQL through a server-side cursor, cells formatted, CSV / XLSX"},
        "anchor": {"copy": figures["anchor_copy"], "loop": figures["anchor_loop"],
                   "what": "COPY (same columns) TO STDOUT CSV; bare asyncpg cursor + csv.writer, same rows"},
        "ratio_csv_vs_copy": round(figures["csv"]["rows_per_s"] / figures["anchor_copy"]["rows_per_s"], 3),
        "ratio_csv_vs_loop": round(figures["csv"]["rows_per_s"] / figures["anchor_loop"]["rows_per_s"], 3),
        "ratio_xlsx_vs_loop": round(figures["xlsx"]["rows_per_s"] / figures["anchor_loop"]["rows_per_s"], 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
