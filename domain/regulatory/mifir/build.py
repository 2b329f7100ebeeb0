"""A business day's MiFIR transaction reports: one per deal of a real account on a reportable instrument,
streamed from the database in deal order, written part by part (writer.PART_SIZE each), each part validated
against ESMA's auth.016 XSD as one bounded chunk, then stored encrypted with its SHA-256
(regulatory_report_files, regime 'mifir') and one regulatory_mifir_transactions row per report.

The same rules as EMIR (emir/build.py): a day is built by one process at a time, the caller owns the
transaction, a failure stores nothing (part blobs already put are deleted). A full rebuild supersedes the
day's earlier MiFIR files; a correction (`corrections=True`) resubmits only the transactions the regulator
rejected and not yet corrected, in a new file, and marks those rows corrected_by it: nothing is overwritten.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.clients.storage import BlobStore
from domain.regulatory import parts as files_parts
from domain.regulatory import settings as config
from domain.regulatory.emir.build import day_bounds
from domain.regulatory.errors import CounterpartyUnidentified, MifirInvalid
from domain.regulatory.identifiers import concat
from domain.regulatory.mifir import writer
from domain.regulatory.mifir.schema import header_schema, report_schema
from domain.regulatory.parts import BuiltFile
from domain.shared.actor import Actor
from domain.shared.db import driver, utcnow
from domain.shared.settings import Settings

FETCH = 5_000  # deals per cursor round trip
# CFDs on shares and on indices are MiFIR-reportable (their underlying is admitted to trading on a venue);
# forex, metals, commodities, crypto are not. Staff override per instrument (trading_instruments.mifir_reportable).
REPORTABLE_CLASSES = ("stocks", "indices")

# The query spells REPORTABLE_CLASSES out (a constant, not a parameter: the planner sees it).
_DEALS = """
SELECT d.server_id, d.deal_id, d.time, d.action, d.volume, d.price, d.symbol, d.account_id,
       i.asset_class, i.contract_size, i.quote_currency, i.underlying_isin
FROM trading_deals d
JOIN trading_accounts ta ON ta.id = d.account_id AND ta.account_type = 'real'
JOIN trading_instruments i ON i.server_id = d.server_id AND i.symbol = d.symbol
WHERE d.time >= $1 AND d.time < $2 AND d.action IN (0, 1)
  AND coalesce(i.mifir_reportable, i.asset_class IN ('stocks', 'indices'))
  AND (NOT $3 OR EXISTS (
      SELECT 1 FROM regulatory_mifir_transactions t JOIN regulatory_report_files f ON f.id = t.file_id
      WHERE t.server_id = d.server_id AND t.deal_id = d.deal_id AND t.status = 'rejected'
        AND t.corrected_by IS NULL AND f.status <> 'superseded'))
ORDER BY d.server_id, d.deal_id
"""


def person_of(r: Any) -> writer.Person:
    """RTS 22 Art. 6: a legal entity by LEI; a natural person by the national identifier staff recorded for
    their nationality (NIDN), else CONCAT. Both need the person's names and birth date in the report."""
    if r.kind == "corporate":
        if not r.lei:
            raise CounterpartyUnidentified(f"client {r.user_id} is a legal entity without an LEI "
                                           "(setClientRegulatoryIdentifier)", field="userId")
        return writer.Person("LEI", r.lei)
    first, last = (r.first_name or "").strip(), (r.last_name or "").strip()
    if not (first and last and r.date_of_birth):
        raise CounterpartyUnidentified(f"client {r.user_id} lacks the first name, surname or birth date a "
                                       "MiFIR report names", field="userId")
    if r.national_id:
        return writer.Person("NIDN", r.national_id, first, last, r.date_of_birth)
    nationality = r.nationality or r.country
    if not nationality:
        raise CounterpartyUnidentified(f"client {r.user_id} has no national identifier and no nationality "
                                       "for the CONCAT code", field="userId")
    return writer.Person("CONCAT", concat(nationality, r.date_of_birth, first, last), first, last,
                         r.date_of_birth)


async def _persons(session: AsyncSession, known: dict[int, writer.Person], account_ids: set[int]) -> None:
    wanted = [a for a in account_ids if a not in known]
    if not wanted:
        return
    rows = await session.execute(text(
        "SELECT ta.id AS account_id, c.user_id, c.kind, c.first_name, c.last_name, c.date_of_birth, c.country, "
        "c.profile->>'nationality' AS nationality, r.lei, r.national_id "
        "FROM trading_accounts ta JOIN clients c ON c.user_id = ta.user_id "
        "LEFT JOIN regulatory_counterparty_ids r ON r.user_id = c.user_id WHERE ta.id = ANY(:a)"), {"a": wanted})
    for r in rows:
        known[r.account_id] = person_of(r)
    missing = [a for a in wanted if a not in known]
    if missing:
        raise CounterpartyUnidentified(f"trading account {missing[0]} has deals to report but no client")


def tx_of(row: Any, person: writer.Person, cfg: config.RegulatorySettings) -> writer.Tx:
    """One transaction report from a record of _DEALS."""
    server_id, deal_id, symbol = row["server_id"], row["deal_id"], row["symbol"]
    return writer.Tx(
        tx_ref=f"S{server_id}D{deal_id}", server_id=server_id, deal_id=deal_id,
        client_buys=row["action"] == 0, client=person, traded_at=row["time"],
        quantity=row["volume"] * row["contract_size"], price=row["price"],
        currency=str(row["quote_currency"])[:3].upper(), name=f"CFD {symbol}"[:350],
        cfi=cfg.product(row["asset_class"])[1], underlying_isin=(row["underlying_isin"] or "").strip() or None,
        underlying_name=symbol)


async def _deals(session: AsyncSession, day: date, corrections: bool) -> AsyncIterator[list[Any]]:
    """The day's reportable deals through a server-side cursor on the transaction's asyncpg connection."""
    a, b = day_bounds(day)
    conn = await driver(session)
    cursor = await conn.cursor(_DEALS, a, b, corrections)
    while rows := await cursor.fetch(FETCH):
        yield rows


def _regime(cfg: config.RegulatorySettings, day: date) -> files_parts.Regime[writer.Tx]:
    return files_parts.Regime(
        name="mifir", write=lambda out, txs: writer.write_document(out, cfg.reporting_lei, txs),
        header=lambda message_id: writer.header(cfg.reporting_lei, cfg.country, message_id, utcnow()),
        report_schema=report_schema, header_schema=header_schema, invalid=MifirInvalid,
        line_table="regulatory_mifir_transactions",
        line_columns=("file_id", "seq", "tx_ref", "server_id", "deal_id", "business_date"),
        line_row=lambda file_id, seq, t: (file_id, seq, t.tx_ref, t.server_id, t.deal_id, day))


async def build_day(session: AsyncSession, settings: Settings, store: BlobStore, actor: Actor, day: date, *,
                    reason: str = "", corrections: bool = False,
                    part_size: int = writer.PART_SIZE) -> list[BuiltFile]:
    """Build (or rebuild, or correct) a day's MiFIR reports; answers the files written."""
    cfg = await config.required(session)
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('regulatory:mifir:' || :d))"),
                          {"d": day.isoformat()})
    persons: dict[int, writer.Person] = {}
    parts = files_parts.PartWriter(session, settings, store, actor, _regime(cfg, day), day, reason)
    try:
        async for rows in _deals(session, day, corrections):
            await _persons(session, persons, {r["account_id"] for r in rows})
            await parts.add((tx_of(r, persons[r["account_id"]], cfg) for r in rows), part_size)
        built = await parts.close()
    except BaseException:
        await parts.discard()
        raise
    mine = [f.id for f in built]
    # a correction adds to the day (its rejected rows point at it; their files stay current), a rebuild replaces it
    old = await files_parts.finish_day(session, "mifir", day, built, supersede=not corrections)
    if built and corrections:
        await session.execute(text(
            "UPDATE regulatory_mifir_transactions t SET corrected_by = n.file_id "
            "FROM regulatory_mifir_transactions n WHERE n.file_id = ANY(:mine) AND t.tx_ref = n.tx_ref "
            "AND t.status = 'rejected' AND t.corrected_by IS NULL AND NOT (t.file_id = ANY(:mine))"),
            {"mine": mine})
    await audit.record(session, actor, action="regulatory.mifir_day_built", entity_type="regulatory_report_day",
                       entity_id=f"mifir:{day.isoformat()}",
                       after={"files": mine, "records": sum(f.records for f in built), "corrections": corrections,
                              "sha256": [f.sha256 for f in built], "superseded": old}, reason=reason or None,
                       category="compliance")
    return built
