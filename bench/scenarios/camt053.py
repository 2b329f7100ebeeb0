"""A camt.053 bank statement of 100,000 entries (10,000 with --quick) imported for the external client-money
reconciliation (domain/reconciliation/camt.py): validated against the camt.053.001.08 XSD while streamed, each
entry parsed and COPYed a batch at a time, the closing balance made the bank resource, all in one transaction.

Anchors measured in the same run over the same file:
* `iterparse_bare`: lxml iterparse over the file doing nothing per entry but freeing it (no schema, no DB): the
  floor any streaming reader pays;
* `iterparse_validating`: the same with the schema attached: what the XSD costs on its own;
* `copy`: asyncpg COPY of the very rows the import wrote into a table of the same shape: the floor for storing.
Figures: entries/s (wall, and process CPU), and the process's peak RSS growth during the import (flat whatever
the size: the tree is dropped entry by entry, rows leave a batch at a time). Then a reconciliation run of the
close, whose bank section judges every entry (none quotes a reference the ledger has: all are breaks), timed.
"""

from __future__ import annotations

import os
import resource
import secrets
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from lxml import etree

from bench.camt_files import Entry, chunks
from bench.harness import bench_services
from domain.payments.reference import new_reference
from domain.reconciliation import camt
from domain.reconciliation.runs import close_date, run_reconciliation
from domain.shared.actor import system_actor
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory, in_transaction, utcnow
from domain.shared.iso20022 import camt053
from domain.shared.pagination import PageRequest
from domain.shared.settings import Settings

VERSION = "08"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write(path: Path, n: int, day: Any) -> tuple[str, Decimal]:
    """A statement of n booked entries, written piece by piece; returns (IBAN, closing balance)."""
    iban = "GB00BENCH" + "".join(str(secrets.randbelow(10)) for _ in range(13))
    amounts = [Decimal(100 + i % 900) + Decimal(i % 100) / 100 * (1 if i % 5 else -1) for i in range(n)]
    closing = Decimal("1000000") + sum(amounts, Decimal(0))

    def entries() -> Any:
        for i, amount in enumerate(amounts):
            ref = new_reference("deposit" if amount > 0 else "withdrawal")
            yield Entry(amount, end_to_end=ref if i % 2 else None,
                        remittance=None if i % 2 else f"client payment {ref} thank you", booked=day)

    with path.open("w") as out:
        for piece in chunks(VERSION, iban=iban, statement_id=f"BENCH-{secrets.token_hex(4)}", currency="EUR",
                            opening=Decimal("1000000"), closing=closing, day=day, seq=1, entries=entries()):
            out.write(piece)
    return iban, closing


def _iterparse(path: Path, validating: bool) -> int:
    ns = "{" + camt053.NAMESPACE.format(VERSION) + "}"
    extra: dict[str, Any] = {"schema": camt053.schema(VERSION)} if validating else {}
    n = 0
    for _, element in etree.iterparse(str(path), events=("end",), tag=ns + "Ntry", huge_tree=True, **extra):
        n += 1
        element.clear()
        while element.getprevious() is not None:
            del element.getparent()[0]
    return n


def _timed(fn: Any) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"entries": n, "entries_per_s": round(n / wall), "cpu_entries_per_s": round(n / cpu) if cpu else None,
            "seconds": round(wall, 3)}


async def _entry_pages(factory: Any, conn: asyncpg.Connection, statement_id: int, n: int) -> dict[str, Any]:
    """p50 / p95 ms of 25-entry pages read by camt.list_entries (first page, then after the middle line), beside
    the same pages fetched by a bare asyncpg query, alternating."""
    plain = ("SELECT line_no, amount, currency FROM bank_statement_entries WHERE statement_id = $1 AND line_no > $2 "
             "ORDER BY line_no LIMIT 26")
    ours: list[float] = []
    bare: list[float] = []
    for i in range(40):
        after = 0 if i % 2 == 0 else n // 2
        wall = time.perf_counter()
        async with factory() as session:
            page = await camt.list_entries(session, statement_id=statement_id, page=PageRequest(
                size=25, after=(statement_id, after) if after else None))
        ours.append((time.perf_counter() - wall) * 1000)
        assert page.items[0].line_no == after + 1 and len(page.items) == 25
        wall = time.perf_counter()
        rows = await conn.fetch(plain, statement_id, after)
        bare.append((time.perf_counter() - wall) * 1000)
        assert rows[0]["line_no"] == after + 1

    def pct(xs: list[float], q: float) -> float:
        return round(sorted(xs)[min(len(xs) - 1, int(q * len(xs)))], 2)

    return {"api_page_ms": {"p50": pct(ours, 0.5), "p95": pct(ours, 0.95)},
            "anchor_bare_select_ms": {"p50": pct(bare, 0.5), "p95": pct(bare, 0.95)},
            "what": "25 entries, first page and after the middle line; the anchor is the bare keyset SELECT"}


async def run(*, quick: bool = False) -> dict[str, Any]:
    n = 10_000 if quick else 100_000
    settings = Settings()
    # Yesterday's statement, judged by a run cut at today's midnight (UTC), whatever the hour the bench runs.
    midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    booked = close_date(midnight)
    with tempfile.TemporaryDirectory(prefix="camt-bench-") as folder:
        path = Path(folder) / "statement.xml"
        iban, closing = _write(path, n, booked)
        size_mb = round(path.stat().st_size / 1e6, 1)
        async with bench_services("camt053") as (db_url, _redis):
            engine = create_engine(db_url, settings, pool_size=2)
            factory = create_session_factory(engine)
            conn = await asyncpg.connect(asyncpg_dsn(db_url))
            try:
                actor = system_actor("bench")
                rss = _peak_rss_mb()
                wall, cpu = time.perf_counter(), time.process_time()
                result = await in_transaction(factory, lambda s: camt.import_file(s, actor, path))
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                growth = round(_peak_rss_mb() - rss, 1)
                [stmt] = result.statements
                assert stmt.entry_count == n, stmt
                resource_row = await conn.fetchrow(
                    "SELECT balance, statement_id FROM client_money_resources WHERE account = $1", iban)
                assert resource_row["balance"] == closing and resource_row["statement_id"] == stmt.id
                imported = {"entries": n, "entries_per_s": round(n / wall), "cpu_entries_per_s": round(n / cpu),
                            "seconds": round(wall, 3), "peak_rss_growth_mb": growth}

                bare = _timed(lambda: _iterparse(path, False))
                validating = _timed(lambda: _iterparse(path, True))
                rows = [tuple(r) for r in await conn.fetch(
                    "SELECT * FROM bank_statement_entries WHERE statement_id = $1 ORDER BY line_no", stmt.id)]
                await conn.execute("CREATE TEMP TABLE copy_anchor (LIKE bank_statement_entries)")
                wall = time.perf_counter()
                await conn.copy_records_to_table("copy_anchor", records=rows)
                copy_s = time.perf_counter() - wall
                copy = {"entries": len(rows), "entries_per_s": round(len(rows) / copy_s), "seconds": round(copy_s, 3)}

                # The back office's page of a statement's entries (bankStatementEntries, 25 a page) at the start
                # and deep in the statement, against the same rows by a bare asyncpg keyset SELECT.
                pages = await _entry_pages(factory, conn, stmt.id, n)

                cutoff = midnight
                wall = time.perf_counter()
                ran = await in_transaction(factory, lambda s: run_reconciliation(s, actor, cutoff))
                run_s = time.perf_counter() - wall
                bank = ran.summary["sections"]["bank"]
                keys = await conn.fetchval(  # a random reference may repeat: one key (a duplicate break) then
                    "SELECT count(DISTINCT reference) FROM bank_statement_entries WHERE statement_id = $1", stmt.id)
                assert sum(bank.values()) == keys and not bank.get("matched"), (bank, keys)
            finally:
                await conn.close()
                await engine.dispose()
    return {
        "entries": n, "file_mb": size_mb,
        "run": {"import": imported,
                "what": "camt.053.001.08 upload path: XSD-validating iterparse, entry rows, COPY per 5,000, "
                        "balances, resource, audit; one transaction"},
        "anchor": {"iterparse_bare": bare, "iterparse_validating": validating, "copy": copy,
                   "what": "same file: lxml iterparse freeing each Ntry (no schema / with schema), no DB; asyncpg "
                           "COPY of the same rows into a table of the same shape"},
        "ratio_import_vs_iterparse_bare": round(imported["entries_per_s"] / bare["entries_per_s"], 3),
        "ratio_import_vs_iterparse_validating": round(imported["entries_per_s"] / validating["entries_per_s"], 3),
        "ratio_import_vs_copy": round(imported["entries_per_s"] / copy["entries_per_s"], 3),
        "entry_pages": pages,
        "reconciliation_run": {"seconds": round(run_s, 3), "bank_section_ms": ran.summary["timingsMs"]["bank"],
                               "bank_breaks": keys},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
