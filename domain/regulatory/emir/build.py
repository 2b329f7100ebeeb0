"""A business day's EMIR REFIT reports from the ingested deals: the report lines, streamed from the database in
position order, written part by part (writer.PART_SIZE reports each), each part validated against ESMA's XSD as
one bounded chunk in a worker thread while the next part is written (domain.regulatory.parts.PartWriter), then
stored encrypted with its SHA-256 (regulatory_report_files) and its lines with their deal ids
(regulatory_report_lines).

Memory stays bounded whatever the volume: positions are read through a server-side cursor, at most two parts'
lines are held, counterparties and instruments are looked up once each. A rebuild of a day writes new files and
marks the day's earlier ones superseded (never overwritten); a day is built by one process at a time (an
advisory lock). The caller owns the transaction: a failure stores no row (and the part blobs already put are
deleted).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.clients.storage import BlobStore
from domain.regulatory import parts as files_parts
from domain.regulatory import settings as config
from domain.regulatory.emir import valuation, writer
from domain.regulatory.emir.schema import header_schema, report_schema
from domain.regulatory.errors import CounterpartyUnidentified, EmirInvalid, ReportInstrumentUnknown
from domain.regulatory.identifiers import concat
from domain.regulatory.parts import BuiltFile
from domain.shared.actor import Actor
from domain.shared.db import driver, utcnow
from domain.shared.settings import Settings

FETCH = 5_000  # positions per cursor round trip (about a part's worth of lines)

# One row per position touched on the day: its deals (in order), volumes in and out, the client's side, the
# volume reported before the day (0 for a position opened that day; else the last report's, or for a position
# never reported the net of its earlier deals).
_POSITIONS = """
WITH day AS (
    SELECT d.server_id, d.position_id, d.account_id, min(d.symbol) AS symbol,
           array_agg(d.deal_id ORDER BY d.time, d.deal_id) AS deal_ids,
           coalesce(sum(d.volume) FILTER (WHERE d.entry = 0), 0) AS vin,
           coalesce(sum(d.volume) FILTER (WHERE d.entry <> 0), 0) AS vout,
           coalesce(sum(d.volume * d.price) FILTER (WHERE d.entry = 0), 0) AS value_in,
           (array_agg(CASE WHEN (d.entry = 0) = (d.action = 0) THEN 'B' ELSE 'S' END ORDER BY d.time, d.deal_id))[1]
               AS side,
           (array_agg(d.price ORDER BY d.time DESC, d.deal_id DESC))[1] AS last_price,
           min(d.time) AS first_at, min(d.login) AS login
    FROM trading_deals d
    JOIN trading_accounts ta ON ta.id = d.account_id AND ta.account_type = 'real'
    WHERE d.time >= $1 AND d.time < $2 AND d.action IN (0, 1)
    GROUP BY d.server_id, d.position_id, d.account_id
)
SELECT day.*, u.uti, u.opened_on,
       CASE WHEN u.opened_on = $3 THEN 0 ELSE coalesce(
           (SELECT l.volume_after FROM regulatory_report_lines l JOIN regulatory_report_files f ON f.id = l.file_id
            WHERE l.server_id = day.server_id AND l.position_id = day.position_id AND l.business_date < $3
              AND l.action <> 'VALU' AND f.status <> 'superseded'
            ORDER BY l.business_date DESC, l.file_id DESC, l.seq DESC LIMIT 1),
           (SELECT sum(CASE WHEN p.entry = 0 THEN p.volume ELSE -p.volume END) FROM trading_deals p
            WHERE p.server_id = day.server_id AND p.login = day.login AND p.time < $1
              AND p.position_id = day.position_id AND p.action IN (0, 1)), 0) END AS prior
FROM day JOIN regulatory_utis u ON u.server_id = day.server_id AND u.position_id = day.position_id
ORDER BY day.server_id, day.position_id
"""


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


async def _assign_utis(session: AsyncSession, lei: str, day: date) -> None:
    """A UTI for each position touched on the day that has none (the broker's LEI, then S<server>P<position>):
    generated once, kept whatever changes later. `opened_on`: the day of its first opening deal seen."""
    a, b = day_bounds(day)
    await session.execute(text(
        "INSERT INTO regulatory_utis (server_id, position_id, uti, opened_on) "
        "SELECT d.server_id, d.position_id, :lei || 'S' || d.server_id || 'P' || d.position_id, "
        "CASE WHEN bool_or(d.entry = 0) THEN CAST(:day AS date) END FROM trading_deals d "
        "JOIN trading_accounts ta ON ta.id = d.account_id AND ta.account_type = 'real' "
        "WHERE d.time >= :a AND d.time < :b AND d.action IN (0, 1) GROUP BY d.server_id, d.position_id "
        "ON CONFLICT (server_id, position_id) DO UPDATE SET opened_on = least(regulatory_utis.opened_on, "
        "excluded.opened_on)"), {"lei": lei, "day": day, "a": a, "b": b})


class Lookups:
    """Instruments (all, small) and counterparties (by account, loaded a batch at a time, each once)."""

    def __init__(self, session: AsyncSession, cfg: config.RegulatorySettings) -> None:
        self.session, self.cfg = session, cfg
        self.instruments: dict[tuple[int, str], tuple[str, str, bool, Decimal, str]] = {}
        self.quote: dict[tuple[int, str], str] = {}
        self.parties: dict[int, writer.Party] = {}

    async def load_instruments(self) -> None:
        rows = await self.session.execute(text(
            "SELECT server_id, symbol, asset_class, quote_currency, contract_size, underlying_isin, "
            "underlying_index_name FROM trading_instruments"))
        for r in rows:
            emir_class, cfi = self.cfg.product(r.asset_class)
            underlying = writer.underlying(r.asset_class, (r.underlying_isin or "").strip() or None,
                                           r.underlying_index_name)
            self.instruments[(r.server_id, r.symbol)] = (emir_class, cfi, r.asset_class == "crypto",
                                                         Decimal(r.contract_size), underlying)
            self.quote[(r.server_id, r.symbol)] = str(r.quote_currency)[:3].upper()

    async def load_parties(self, account_ids: set[int]) -> None:
        wanted = [a for a in account_ids if a not in self.parties]
        if not wanted:
            return
        rows = await self.session.execute(text(
            "SELECT ta.id AS account_id, c.user_id, c.kind, c.first_name, c.last_name, c.date_of_birth, c.country, "
            "c.profile->>'nationality' AS nationality, r.lei, r.national_id, r.national_id_country "
            "FROM trading_accounts ta JOIN clients c ON c.user_id = ta.user_id "
            "LEFT JOIN regulatory_counterparty_ids r ON r.user_id = c.user_id WHERE ta.id = ANY(:a)"),
            {"a": wanted})
        for r in rows:
            self.parties[r.account_id] = party_of(r)
        missing = [a for a in wanted if a not in self.parties]
        if missing:
            raise CounterpartyUnidentified(f"trading account {missing[0]} has deals to report but no client")


def party_of(r: Any) -> writer.Party:
    """The client as the other counterparty: a legal entity by its LEI; a natural person by the national
    identifier staff recorded, else by CONCAT (nationality, else country of residence)."""
    if r.kind == "corporate":
        if not r.lei:
            raise CounterpartyUnidentified(f"client {r.user_id} is a legal entity without an LEI "
                                           "(setClientRegulatoryIdentifier)", field="userId")
        return writer.Party("LEI", r.lei)
    if r.national_id:
        return writer.Party("NTRL", r.national_id, r.national_id_country)
    nationality = r.nationality or r.country
    if not (nationality and r.date_of_birth and r.first_name.strip() and r.last_name.strip()):
        raise CounterpartyUnidentified(f"client {r.user_id} has no national identifier and lacks the name, birth "
                                       "date or nationality CONCAT needs", field="userId")
    return writer.Party("NTRL", concat(nationality, r.date_of_birth, r.first_name, r.last_name), nationality.upper())


def lines_of(row: Any, day: date, look: Lookups) -> list[writer.Line]:
    """The reports one position's day makes (see writer.py for the rules); `row` one record of _POSITIONS."""
    server_id, symbol = row["server_id"], row["symbol"]
    known = look.instruments.get((server_id, symbol))
    if known is None:
        raise ReportInstrumentUnknown(f"server {server_id} has no instrument {symbol!r} (deals "
                                      f"{list(row['deal_ids'])[:3]}): synchronise its symbols first", field="symbol")
    emir_class, cfi, crypto, size, underlying = known
    ccy = look.quote[(server_id, symbol)]
    vin, opened_on = row["vin"], row["opened_on"]
    prior = Decimal(row["prior"] or 0)
    after = prior + vin - row["vout"]
    party = look.parties[row["account_id"]]
    broker_side = "SLLR" if row["side"] == "B" else "BYER"
    deals = tuple(row["deal_ids"])
    uti, position_id, first_at = row["uti"], row["position_id"], row["first_at"]
    effective = opened_on or day
    portfolio = writer.portfolio_code(server_id, row["login"])

    def line(action: str, volume: Decimal, price: Decimal, at_volume: Decimal) -> writer.Line:
        quantity = volume * size
        return writer.Line(action, uti, server_id, position_id, deals, at_volume, broker_side, party, emir_class, cfi,
                           crypto, ccy, price, quantity * price, quantity, first_at, effective, day, portfolio,
                           underlying)

    if opened_on == day:
        avg = (row["value_in"] / vin) if vin else row["last_price"]
        if after > 0:
            return [line("NEWT", after, avg, after)]
        return [line("NEWT", vin, avg, vin), line("TERM", vin, avg, Decimal(0))]
    if after <= 0:
        return [line("TERM", prior, row["last_price"], Decimal(0))]
    return [line("MODI", after, row["last_price"], after)]


def valuation_line(row: Any, day: date, look: Lookups) -> writer.Line:
    """The VALU report of one position open at the day's close (`row` one regulatory_valuations record)."""
    volume, price = row["volume"], row["price"]
    quantity = volume * row["contract_size"]
    return writer.Line("VALU", row["uti"], row["server_id"], row["position_id"], (), volume,
                       "SLLR" if row["side"] == "BUY" else "BYER", look.parties[row["account_id"]], "", "", False,
                       row["currency"], price, quantity * price, quantity, row["price_time"], day, day,
                       writer.portfolio_code(row["server_id"], row["login"]), "", row["value"], row["price_time"])


async def _valuations(session: AsyncSession, day: date) -> AsyncIterator[list[Any]]:
    conn = await driver(session)
    cursor = await conn.cursor(
        "SELECT server_id, position_id, uti, account_id, login, side, volume, price, price_time, contract_size, "
        "currency, value FROM regulatory_valuations WHERE business_date = $1 ORDER BY server_id, position_id", day)
    while rows := await cursor.fetch(FETCH):
        yield rows


async def _positions(session: AsyncSession, day: date) -> AsyncIterator[list[Any]]:
    """The day's positions through a server-side cursor on the transaction's asyncpg connection (no SQLAlchemy
    row processing), FETCH at a time."""
    a, b = day_bounds(day)
    conn = await driver(session)
    cursor = await conn.cursor(_POSITIONS, a, b, day)
    while rows := await cursor.fetch(FETCH):
        yield rows


def _regime(cfg: config.RegulatorySettings, day: date) -> files_parts.Regime[writer.Line]:
    reporter = writer.Reporter(cfg.reporting_lei, cfg.submitting_agent_lei, cfg.sector, cfg.master_agreement)
    return files_parts.Regime(
        name="emir", write=lambda out, lines: writer.write_document(out, reporter, lines),
        header=lambda message_id: writer.header(cfg.reporting_lei, cfg.receiver_lei, message_id, utcnow()),
        report_schema=report_schema, header_schema=header_schema, invalid=EmirInvalid,
        line_table="regulatory_report_lines",
        line_columns=("file_id", "seq", "action", "uti", "server_id", "position_id", "business_date", "volume_after",
                      "deal_ids"),
        line_row=lambda file_id, seq, ln: (file_id, seq, ln.action, ln.uti, ln.server_id, ln.position_id, day,
                                           ln.volume_after, list(ln.deal_ids)))


async def capture_close(session: AsyncSession, day: date) -> valuation.Captured:
    """Capture a day's close just after it (the close job, minutes past midnight UTC): positions and prices as
    they stand then, before the next day's trading closes positions (their rows go) or moves prices; the day's
    build, hours later, reports what was captured. A day captured already answers what was kept."""
    cfg = await config.required(session)
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('regulatory:emir:' || :d))"),
                          {"d": day.isoformat()})
    await _assign_utis(session, cfg.reporting_lei, day)
    return await valuation.capture(session, day, day_bounds(day)[1])


async def build_day(session: AsyncSession, settings: Settings, store: BlobStore, actor: Actor, day: date, *,
                    reason: str = "", part_size: int = writer.PART_SIZE) -> list[BuiltFile]:
    """Build (or rebuild) a day's EMIR reports; answers the files written (none when nothing was traded)."""
    cfg = await config.required(session)
    close = await capture_close(session, day)  # the close job's capture when it ran; else the day's close now
    look = Lookups(session, cfg)
    await look.load_instruments()
    parts = files_parts.PartWriter(session, settings, store, actor, _regime(cfg, day), day, reason)
    try:
        async for rows in _positions(session, day):
            await look.load_parties({r["account_id"] for r in rows})
            for row in rows:
                await parts.add(lines_of(row, day, look), part_size)
        async for rows in _valuations(session, day):
            await look.load_parties({r["account_id"] for r in rows})
            for row in rows:
                await parts.add([valuation_line(row, day, look)], part_size)
        built = await parts.close()
    except BaseException:
        await parts.discard()
        raise
    old = await files_parts.finish_day(session, "emir", day, built)
    await audit.record(session, actor, action="regulatory.emir_day_built", entity_type="regulatory_report_day",
                       entity_id=f"emir:{day.isoformat()}",
                       after={"files": [f.id for f in built], "records": sum(f.records for f in built),
                              "sha256": [f.sha256 for f in built], "superseded": old,
                              "valuations": close.positions, "collateral_portfolios": close.portfolios,
                              "close_captured_at": close.captured_at.isoformat()}, reason=reason or None,
                       category="compliance")
    return built
