"""EMIR valuations (VALU) and collateral: every position open at a day's close gets a daily mark-to-market report
(XSD-valid), its figures captured when the day is first built so that a rebuild of a past day, after positions
and prices moved on, writes the same document; collateral per account portfolio from the platform snapshot before
the close; the underlying of a CFD on an index from the instrument's configuration (mutation, ISIN check digit,
typed errors, audited)."""

from __future__ import annotations

import hashlib
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import text

from domain.clients.storage import decrypt, default_store
from domain.regulatory import instruments as reporting
from domain.regulatory import settings as config
from domain.regulatory.emir import build, valuation
from domain.regulatory.emir.schema import report_schema
from domain.regulatory.errors import ReportPriceMissing
from domain.regulatory.parts import BuiltFile
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.settings import Settings
from tests.regulatory.world import CLIENT_LEI, LEI, TR_LEI, World, at, deal, world

NS = {"a": "urn:iso:std:iso:20022:tech:xsd:auth.030.001.03"}
ACTOR = system_actor("tests.regulatory.valuation")
SPX_ISIN = "US78378X1072"  # the S&P 500 index's ISIN (valid check digit)


def _far_day() -> date:
    """Days after every other regulatory test's (2001-2020): positions these tests leave open are never open at
    another test's close (they are removed at the end anyway)."""
    return date(2100, 1, 1) + timedelta(days=random.randrange(0, 30_000))


async def _configure(session_factory: Any, w: World) -> None:
    cfg = config.RegulatorySettings(LEI, LEI, TR_LEI, "INVF", "CY", "Client Agreement v3")
    async with session_factory() as s, s.begin():
        await config.set_settings(s, ACTOR, cfg)
        await config.set_counterparty_id(s, ACTOR, w.clients["acme"], lei=CLIENT_LEI, national_id=None,
                                         national_id_country=None)


async def _position(session_factory: Any, w: World, who: str, position_id: int, *, symbol: str, side: str,
                    volume: str, in_volume: str, open_price: str, opened: datetime) -> None:
    """The position as ingestion keeps it now (volume 0: closed, the row goes)."""
    login = 1000 + list(w.accounts).index(who)
    async with session_factory() as s, s.begin():
        if Decimal(volume) == 0:
            await s.execute(text("DELETE FROM trading_positions WHERE server_id = :s AND position_id = :p"),
                            {"s": w.server_id, "p": position_id})
            return
        await s.execute(text(
            "INSERT INTO trading_positions (server_id, position_id, login, account_id, symbol, side, volume, in_volume, "
            "in_value, opened_at, last_deal_ms) VALUES (:s, :p, :l, :a, :y, :sd, :v, :iv, :iv * CAST(:o AS numeric), "
            ":t, 0) ON CONFLICT (server_id, position_id) DO UPDATE SET volume = excluded.volume"),
            {"s": w.server_id, "p": position_id, "l": login, "a": w.accounts[who], "y": symbol, "sd": side,
             "v": volume, "iv": in_volume, "o": open_price, "t": opened})


async def _price(session_factory: Any, w: World, symbol: str, price: str, when: datetime) -> None:
    async with session_factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO risk_prices (server_id, symbol, price, price_time) VALUES (:s, :y, :p, :t) "
            "ON CONFLICT (server_id, symbol) DO UPDATE SET price = excluded.price, price_time = excluded.price_time"),
            {"s": w.server_id, "y": symbol, "p": price, "t": when})


async def _snapshot(session_factory: Any, w: World, who: str, when: datetime, *, margin: str, equity: str) -> None:
    async with session_factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO reconciliation_platform_balances (server_id, login, captured_at, currency, balance, equity, "
            "margin) VALUES (:s, :l, :t, 'USD', 10000, :e, :m)"),
            {"s": str(w.server_id), "l": 1000 + list(w.accounts).index(who), "t": when, "e": equity, "m": margin})


async def _build(session_factory: Any, settings: Settings, day: date) -> list[BuiltFile]:
    return await in_transaction(session_factory, lambda s: build.build_day(s, settings, default_store(settings),
                                                                            ACTOR, day))


async def _document(session_factory: Any, settings: Settings, file_id: int) -> tuple[bytes, str]:
    async with session_factory() as s:
        row = (await s.execute(text("SELECT storage_key, sha256 FROM regulatory_report_files WHERE id = :i"),
                               {"i": file_id})).one()
    data = decrypt(settings, row.storage_key, await default_store(settings).get(row.storage_key))
    assert hashlib.sha256(data).hexdigest() == row.sha256
    return data, row.sha256


def _valuations(doc: Any) -> list[tuple[str, str, str, str, str]]:
    """(UTI, amount, sign, currency, portfolio) of each ValtnUpd."""
    out = []
    for r in doc.iterfind(".//a:ValtnUpd", NS):
        out.append((r.findtext(".//a:UnqTxIdr", namespaces=NS), r.findtext(".//a:CtrctVal/a:Amt", namespaces=NS),
                    r.findtext(".//a:CtrctVal/a:Sgn", namespaces=NS),
                    r.find(".//a:CtrctVal/a:Amt", NS).get("Ccy"), r.findtext(".//a:CollPrtflCd//a:Cd", namespaces=NS)))
    return out


async def _cleanup(session_factory: Any, w: World) -> None:
    async with session_factory() as s, s.begin():
        await s.execute(text("DELETE FROM trading_positions WHERE server_id = :s"), {"s": w.server_id})


async def test_open_partly_closed_and_closed_positions_are_valued_daily_and_a_rebuild_says_the_same(
        session_factory: Any, settings: Settings) -> None:
    w = await world(session_factory)
    await _configure(session_factory, w)
    d1 = _far_day()
    d2, d3 = d1 + timedelta(days=1), d1 + timedelta(days=2)
    uti = {p: f"{LEI}S{w.server_id}P{p}" for p in (101, 102, 103, 104, 105)}
    ivan, acme, jo = (f"S{w.server_id}L{1000 + i}" for i in range(3))
    try:
        async with session_factory() as s, s.begin():
            await reporting.set_reporting(s, ACTOR, w.server_id, "US500", reportable=None, underlying_isin=SPX_ISIN,
                                          underlying_index_name="S&P 500")
        # day 1: ivan buys 1 lot (101) and 1 lot (103), jo sells 2 lots (102)
        await deal(session_factory, w, "ivan", deal_id=1, position_id=101, at=at(d1, 9), entry=0, action=0,
                   volume="1", price="1.085")
        await deal(session_factory, w, "jo", deal_id=2, position_id=102, at=at(d1, 10), entry=0, action=1,
                   volume="2", price="1.086")
        await deal(session_factory, w, "ivan", deal_id=3, position_id=103, at=at(d1, 11), entry=0, action=0,
                   volume="1", price="1.080")
        await _position(session_factory, w, "ivan", 101, symbol="EURUSD", side="BUY", volume="1", in_volume="1",
                        open_price="1.085", opened=at(d1, 9))
        await _position(session_factory, w, "jo", 102, symbol="EURUSD", side="SELL", volume="2", in_volume="2",
                        open_price="1.086", opened=at(d1, 10))
        await _position(session_factory, w, "ivan", 103, symbol="EURUSD", side="BUY", volume="1", in_volume="1",
                        open_price="1.080", opened=at(d1, 11))
        await _price(session_factory, w, "EURUSD", "1.09", at(d1, 23, 59))
        await _snapshot(session_factory, w, "ivan", at(d1, 23, 55), margin="217.00", equity="11500.00")
        await _snapshot(session_factory, w, "jo", at(d1, 23, 55), margin="434.50", equity="9200.00")

        first = await _build(session_factory, settings, d1)
        data1, sha1 = await _document(session_factory, settings, first[0].id)
        doc1 = etree.fromstring(data1)
        assert report_schema().validate(doc1), report_schema().error_log
        assert [etree.QName(r[0]).localname for r in doc1.iterfind(".//a:Rpt", NS)] == \
            ["New", "New", "New", "ValtnUpd", "ValtnUpd", "ValtnUpd"]
        # broker's side: ivan's long gains 500 (the broker loses it), jo's short loses 800 (the broker gains it)
        assert _valuations(doc1) == [(uti[101], "500", "false", "USD", ivan), (uti[102], "800", "true", "USD", jo),
                                     (uti[103], "1000", "false", "USD", ivan)]
        assert doc1.xpath("//a:ValtnUpd//a:Valtn/a:Tp/text()", namespaces=NS) == ["MTMA"] * 3
        assert doc1.xpath("//a:New//a:CollPrtflCd//a:Cd/text()", namespaces=NS) == [ivan, jo, ivan]
        async with session_factory() as s:
            coll = await valuation.collateral(s, d1)
            lines = (await s.execute(text(
                "SELECT l.position_id, l.volume_after, l.deal_ids FROM regulatory_report_lines l "
                "WHERE l.file_id = :f AND l.action = 'VALU' ORDER BY l.seq"), {"f": first[0].id})).all()
        assert [(c.portfolio_code, c.margin_posted, c.equity) for c in coll if c.server_id == w.server_id] == [
            (ivan, Decimal("217.00"), Decimal("11500.00")), (jo, Decimal("434.50"), Decimal("9200.00"))]
        assert [(ln.position_id, ln.volume_after, list(ln.deal_ids)) for ln in lines] == [
            (101, 1, []), (102, 2, []), (103, 1, [])]

        # day 2: jo closes 0.5 of 102, ivan closes 103, acme opens 0.5 US500 (104); day 3 (already ingested when
        # day 2 is built): ivan closes 0.4 of 101, jo opens 105. Prices move on.
        await deal(session_factory, w, "jo", deal_id=4, position_id=102, at=at(d2, 9), entry=1, action=0,
                   volume="0.5", price="1.091")
        await deal(session_factory, w, "ivan", deal_id=5, position_id=103, at=at(d2, 10), entry=1, action=1,
                   volume="1", price="1.092")
        await deal(session_factory, w, "acme", deal_id=6, position_id=104, at=at(d2, 11), entry=0, action=0,
                   volume="0.5", price="4500", symbol="US500")
        await deal(session_factory, w, "ivan", deal_id=7, position_id=101, at=at(d3, 9), entry=1, action=1,
                   volume="0.4", price="1.1")
        await deal(session_factory, w, "jo", deal_id=8, position_id=105, at=at(d3, 10), entry=0, action=0,
                   volume="1", price="1.1")
        await _position(session_factory, w, "jo", 102, symbol="EURUSD", side="SELL", volume="1.5", in_volume="2",
                        open_price="1.086", opened=at(d1, 10))
        await _position(session_factory, w, "ivan", 103, symbol="EURUSD", side="BUY", volume="0", in_volume="1",
                        open_price="1.080", opened=at(d1, 11))
        await _position(session_factory, w, "acme", 104, symbol="US500", side="BUY", volume="0.5", in_volume="0.5",
                        open_price="4500", opened=at(d2, 11))
        await _position(session_factory, w, "ivan", 101, symbol="EURUSD", side="BUY", volume="0.6", in_volume="1",
                        open_price="1.085", opened=at(d1, 9))
        await _position(session_factory, w, "jo", 105, symbol="EURUSD", side="BUY", volume="1", in_volume="1",
                        open_price="1.1", opened=at(d3, 10))
        await _price(session_factory, w, "EURUSD", "1.10", at(d3, 12))
        await _price(session_factory, w, "US500", "4550", at(d3, 12))
        await _snapshot(session_factory, w, "ivan", at(d2, 23, 55), margin="110.00", equity="12000.00")

        # a rebuild of day 1 now: the same document, byte for byte (today's positions and prices do not leak in)
        again = await _build(session_factory, settings, d1)
        data1b, sha1b = await _document(session_factory, settings, again[0].id)
        assert sha1b == sha1 and data1b == data1
        async with session_factory() as s:
            assert [(c.portfolio_code, c.margin_posted) for c in await valuation.collateral(s, d1)
                    if c.server_id == w.server_id] == [(ivan, Decimal("217.00")), (jo, Decimal("434.50"))]

        second = await _build(session_factory, settings, d2)
        doc2 = etree.fromstring((await _document(session_factory, settings, second[0].id))[0])
        assert report_schema().validate(doc2), report_schema().error_log
        assert [etree.QName(r[0]).localname for r in doc2.iterfind(".//a:Rpt", NS)] == \
            ["Mod", "Termntn", "New", "ValtnUpd", "ValtnUpd", "ValtnUpd"]
        # 101 valued at its volume at day 2's close (1 lot: the 0.4 closed on day 3 is taken back), 102 at 1.5,
        # 103 closed (no valuation), 104 on the index, 105 opened after the close (none)
        assert _valuations(doc2) == [(uti[101], "1500", "false", "USD", ivan), (uti[102], "2100", "true", "USD", jo),
                                     (uti[104], "25", "false", "USD", acme)]
        assert doc2.xpath("//a:New//a:UndrlygInstrm/a:Indx/a:ISIN/text()", namespaces=NS) == [SPX_ISIN]
        assert doc2.xpath("//a:New//a:UndrlygInstrm/a:Indx/a:Nm/text()", namespaces=NS) == ["S&P 500"]
        async with session_factory() as s:
            coll2 = [c for c in await valuation.collateral(s, d2) if c.server_id == w.server_id]
        # ivan's latest snapshot before day 2's close; acme has no snapshot (no collateral figure, still its code)
        assert [(c.portfolio_code, c.margin_posted, c.snapshot_at) for c in coll2] == [
            (ivan, Decimal("110.00"), at(d2, 23, 55)), (jo, Decimal("434.50"), at(d1, 23, 55))]
    finally:
        await _cleanup(session_factory, w)


async def test_an_open_position_without_a_price_stores_nothing(session_factory: Any, settings: Settings) -> None:
    w = await world(session_factory)
    await _configure(session_factory, w)
    d = _far_day()
    try:
        await deal(session_factory, w, "jo", deal_id=1, position_id=201, at=at(d, 9), entry=0, action=0, volume="1",
                   price="1.1")
        await _position(session_factory, w, "jo", 201, symbol="EURUSD", side="BUY", volume="1", in_volume="1",
                        open_price="1.1", opened=at(d, 9))
        with pytest.raises(ReportPriceMissing):
            await _build(session_factory, settings, d)
        async with session_factory() as s:
            assert await s.scalar(text("SELECT count(*) FROM regulatory_report_files WHERE business_date = :d"),
                                  {"d": d}) == 0
            assert await s.scalar(text("SELECT count(*) FROM regulatory_valuation_days WHERE business_date = :d"),
                                  {"d": d}) == 0
            assert await s.scalar(text("SELECT count(*) FROM regulatory_utis WHERE server_id = :s"),
                                  {"s": w.server_id}) == 0
        await _price(session_factory, w, "EURUSD", "1.2", at(d, 23))
        files = await _build(session_factory, settings, d)
        assert files[0].records == 2
    finally:
        await _cleanup(session_factory, w)


async def test_the_underlying_is_configured_per_instrument_with_typed_errors(session_factory: Any) -> None:
    w = await world(session_factory)

    async def current() -> tuple[Any, ...]:
        async with session_factory() as s:
            return tuple((await s.execute(text(
                "SELECT underlying_isin, underlying_index_name, mifir_reportable FROM trading_instruments "
                "WHERE server_id = :s AND symbol = 'US500'"), {"s": w.server_id})).one())

    async with session_factory() as s, s.begin():
        done = await reporting.set_reporting(s, ACTOR, w.server_id, "US500", reportable=True,
                                             underlying_isin=" us78378x1072 ", underlying_index_name="  S&P   500 ")
    assert (done.underlying_isin, done.underlying_index_name) == (SPX_ISIN, "S&P 500")
    before = await current()
    for symbol, isin, name, error, field in (
            ("US500", "US78378X1073", None, ValidationFailed, "underlyingIsin"),  # wrong check digit
            ("US500", None, "x" * 51, ValidationFailed, "underlyingIndexName"),
            ("EURUSD", None, "Euro", ValidationFailed, "underlyingIndexName"),  # not an index
            ("NOPE", None, None, NotFound, "symbol")):
        async with session_factory() as s:
            with pytest.raises(error) as raised:
                await reporting.set_reporting(s, ACTOR, w.server_id, symbol, reportable=False, underlying_isin=isin,
                                              underlying_index_name=name)
            await s.rollback()
        assert raised.value.field == field
        assert await current() == before
    async with session_factory() as s:
        audited = (await s.execute(text(
            "SELECT after FROM audit_events WHERE action = 'regulatory.instrument_reporting_set' AND entity_id = :e"),
            {"e": f"{w.server_id}:US500"})).scalars().all()
    assert [a["underlying_index_name"] for a in audited] == ["S&P 500"]


INSTRUMENT = """mutation($s: ID!, $y: String!, $i: String, $n: String) { setInstrumentRegulatoryReporting(serverId: $s,
  symbol: $y, underlyingIsin: $i, underlyingIndexName: $n) { instrument { underlyingIsin underlyingIndexName }
  errors { field code } } }"""
COLLATERAL = """query($d: Date!, $c: ID) { regulatoryCollateral(businessDate: $d, clientId: $c) { portfolioCode login
  tradingAccountId clientId currency marginPosted equity snapshotAt } }"""


async def test_the_underlying_and_the_collateral_over_the_api(http: Any, session_factory: Any,
                                                              settings: Settings) -> None:
    from jobs import regulatory
    from schema.node import global_id
    from tests.identity.staff import make_staff

    officer = (await make_staff(http, session_factory, settings, ["compliance"])).client
    support = (await make_staff(http, session_factory, settings, ["support"])).client
    w = await world(session_factory)
    await _configure(session_factory, w)
    server = global_id("TradingServer", w.server_id)
    bad = (await officer(INSTRUMENT, {"s": server, "y": "US500", "i": "US78378X1070", "n": "S&P 500"}))["data"]
    assert bad["setInstrumentRegulatoryReporting"]["errors"] == [{"field": "underlyingIsin",
                                                                  "code": "VALIDATION_FAILED"}]
    done = (await officer(INSTRUMENT, {"s": server, "y": "US500", "i": SPX_ISIN, "n": "S&P 500"}))["data"]
    assert done["setInstrumentRegulatoryReporting"] == {
        "instrument": {"underlyingIsin": SPX_ISIN, "underlyingIndexName": "S&P 500"}, "errors": []}
    d = _far_day()
    try:
        await deal(session_factory, w, "acme", deal_id=1, position_id=301, at=at(d, 9), entry=0, action=1,
                   volume="2", price="4500", symbol="US500")
        await _position(session_factory, w, "acme", 301, symbol="US500", side="SELL", volume="2", in_volume="2",
                        open_price="4500", opened=at(d, 9))
        await _price(session_factory, w, "US500", "4490.5", at(d, 23, 50))
        await _snapshot(session_factory, w, "acme", at(d, 23, 55), margin="180.1", equity="5019")
        built = await regulatory.build_emir_reports({"session_factory": session_factory, "settings": settings},
                                                    d.isoformat())
        assert built["records"] == 2  # New and ValtnUpd
        acme = global_id("ClientSummary", w.clients["acme"])
        answer = (await officer(COLLATERAL, {"d": d.isoformat(), "c": acme}))["data"]["regulatoryCollateral"]
        assert answer == [{"portfolioCode": f"S{w.server_id}L1001", "login": "1001",
                           "tradingAccountId": global_id("TradingAccount", w.accounts["acme"]), "clientId": acme,
                           "currency": "USD", "marginPosted": "180.10", "equity": "5019.00",
                           "snapshotAt": at(d, 23, 55).isoformat()}]
        other = global_id("ClientSummary", w.clients["jo"])
        assert (await officer(COLLATERAL, {"d": d.isoformat(), "c": other}))["data"]["regulatoryCollateral"] == []
        refused = await support(COLLATERAL, {"d": d.isoformat(), "c": None})
        assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        async with session_factory() as s:
            doc = etree.fromstring((await _document(session_factory, settings, built["files"][0]))[0])
            assert await s.scalar(text("SELECT count(*) FROM regulatory_valuations WHERE business_date = :d "
                                       "AND server_id = :s"), {"d": d, "s": w.server_id}) == 1
        # the client is short 2 at 4500, marked at 4490.5: the client gains 19, the broker loses it
        assert _valuations(doc) == [(f"{LEI}S{w.server_id}P301", "19", "false", "USD", f"S{w.server_id}L1001")]
    finally:
        await _cleanup(session_factory, w)


def test_the_underlying_element_per_asset_class_fits_the_schema() -> None:
    import io

    from domain.regulatory.emir import writer

    apple = "US0378331005"
    assert writer.underlying("stocks", apple, None) == f"<UndrlygInstrm><ISIN>{apple}</ISIN></UndrlygInstrm>"
    assert writer.underlying("indices", None, "DAX & Co") == \
        "<UndrlygInstrm><Indx><Nm>DAX &amp; Co</Nm></Indx></UndrlygInstrm>"
    assert writer.underlying("forex", None, None) == "" and writer.underlying("indices", None, None) == ""
    party = writer.Party("NTRL", "GR19800517IVAN#PETRO", "GR")
    moment = at(date(2026, 6, 15), 10)
    lines = [writer.Line(action, f"{LEI}S1P{n}", 1, n, (n,), Decimal("1"), "SLLR", party, "EQUI", "JESXCC", False,
                         "USD", Decimal("190.5"), Decimal("190.5"), Decimal("1"), moment, moment.date(), moment.date(),
                         portfolio, under, value, moment)
             for n, (action, portfolio, under, value) in enumerate((
                 ("NEWT", "S1L1000", writer.underlying("stocks", apple, None), Decimal(0)),
                 ("NEWT", "", writer.underlying("indices", None, "DAX"), Decimal(0)),
                 ("VALU", "S1L1000", "", Decimal("-12.345678")),
                 ("VALU", "", "", Decimal("0"))), start=1)]
    out = io.BytesIO()
    writer.write_document(out, writer.Reporter(LEI, LEI, "INVF", "Client Agreement"), lines)
    doc = etree.fromstring(out.getvalue())
    assert report_schema().validate(doc), report_schema().error_log
    assert _valuations(doc) == [(f"{LEI}S1P3", "12.34568", "false", "USD", "S1L1000"),
                                (f"{LEI}S1P4", "0", "true", "USD", None)]
    assert doc.xpath("//a:ValtnUpd//a:NoPrtfl/text()", namespaces=NS) == ["NOAP"]


async def test_the_close_job_values_a_position_closed_before_the_build_at_the_close_price(
        session_factory: Any, settings: Settings) -> None:
    """The 00:05 close job captures what stands at the close; by the 01:30 build the position is closed (its row
    gone) and the price has moved: the day still reports the position's valuation, at the price of the close."""
    from jobs.regulatory import capture_emir_close

    w = await world(session_factory)
    await _configure(session_factory, w)
    d = _far_day()
    uti = f"{LEI}S{w.server_id}P301"
    try:
        await deal(session_factory, w, "ivan", deal_id=31, position_id=301, at=at(d, 15), entry=0, action=0,
                   volume="1", price="1.085")
        await _position(session_factory, w, "ivan", 301, symbol="EURUSD", side="BUY", volume="1", in_volume="1",
                        open_price="1.085", opened=at(d, 15))
        await _price(session_factory, w, "EURUSD", "1.09", at(d, 23, 59))
        done = await capture_emir_close({"session_factory": session_factory, "settings": settings}, d.isoformat())
        assert done.get("fresh") is True, done
        # after the close: the position is closed at 1.095 and the price moves on before the build
        nxt = d + timedelta(days=1)
        await deal(session_factory, w, "ivan", deal_id=32, position_id=301, at=at(nxt, 0, 30), entry=1, action=1,
                   volume="1", price="1.095")
        await _position(session_factory, w, "ivan", 301, symbol="EURUSD", side="BUY", volume="0", in_volume="1",
                        open_price="1.085", opened=at(d, 15))
        await _price(session_factory, w, "EURUSD", "1.20", at(nxt, 1, 0))
        built = await _build(session_factory, settings, d)
        doc = etree.fromstring((await _document(session_factory, settings, built[0].id))[0])
        assert report_schema().validate(doc), report_schema().error_log
        # valued at the close's 1.09: the client's long gains 500, the broker reports it negative
        assert [(u, amount, sign) for u, amount, sign, _c, _p in _valuations(doc)] == [(uti, "500", "false")]
        # a second run of the close job keeps what was captured
        again = await capture_emir_close({"session_factory": session_factory, "settings": settings}, d.isoformat())
        assert again["fresh"] is False
    finally:
        await _cleanup(session_factory, w)
