"""MiFIR transaction reports built from ingested deals: one XSD-valid auth.016 report per deal on a reportable
instrument (shares and indices by default, forex excluded, staff override), the client identified per RTS 22
(NIDN where recorded, else CONCAT; LEI for a legal entity); a document that does not fit the XSD or an
unidentifiable client stores nothing; the authority's auth.031 feedback marks rejections, and a correction
resubmits them in a new file without touching the rejected one."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from lxml import etree
from sqlalchemy import text

from domain.clients.storage import decrypt, default_store
from domain.regulatory import instruments as reporting
from domain.regulatory import settings as config
from domain.regulatory.errors import CounterpartyUnidentified, FeedbackUnmatched, MifirInvalid
from domain.regulatory.mifir import build, feedback
from domain.regulatory.mifir.schema import header_schema, report_schema
from domain.regulatory.parts import BuiltFile
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.errors import InvalidFields, ValidationFailed
from domain.shared.settings import Settings
from tests.identity.staff import make_staff
from tests.regulatory.world import CLIENT_LEI, LEI, SETTINGS, TR_LEI, World, at, deal, world

NS = {"a": "urn:iso:std:iso:20022:tech:xsd:auth.016.001.01"}
ACTOR = system_actor("tests.regulatory")
AAPL_ISIN = "US0378331005"


async def _configure(session_factory: Any) -> None:
    cfg = config.RegulatorySettings(LEI, LEI, TR_LEI, "INVF", "CY", "Client Agreement v3")
    await in_transaction(session_factory, lambda s: config.set_settings(s, ACTOR, cfg))


async def _stock(session_factory: Any, w: World, symbol: str = "AAPL", size: str = "1") -> None:
    async with session_factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO trading_instruments (server_id, symbol, canonical, asset_class, contract_size, "
            "base_currency, quote_currency, digits, pip_size) VALUES (:s, :y, :y, 'stocks', :cs, 'USD', 'USD', 2, "
            "0.01)"), {"s": w.server_id, "y": symbol, "cs": size})


async def _build(session_factory: Any, settings: Settings, day: Any, **kw: Any) -> list[BuiltFile]:
    return await in_transaction(session_factory, lambda s: build.build_day(s, settings, default_store(settings),
                                                                            ACTOR, day, **kw))


async def _document(session_factory: Any, settings: Settings, file_id: int) -> etree._Element:
    async with session_factory() as s:
        row = (await s.execute(text("SELECT storage_key, sha256, header_xml, regime FROM regulatory_report_files "
                                    "WHERE id = :i"), {"i": file_id})).one()
    data = decrypt(settings, row.storage_key, await default_store(settings).get(row.storage_key))
    assert hashlib.sha256(data).hexdigest() == row.sha256 and row.regime == "mifir"
    assert header_schema().validate(etree.fromstring(row.header_xml.encode()))
    doc = etree.fromstring(data)
    assert report_schema().validate(doc), report_schema().error_log
    return doc


def _feedback(message_id: str, status: str, records: list[tuple[str, str, list[str]]]) -> bytes:
    recs = "".join(
        f"<RcrdSts><OrgnlRcrdId>{ref}</OrgnlRcrdId><Sts>{sts}</Sts>"
        + "".join(f"<VldtnRule><Id>{c}</Id><Desc>rule {c}</Desc></VldtnRule>" for c in codes) + "</RcrdSts>"
        for ref, sts, codes in records)
    return (f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:auth.031.001.01">'
            f"<FinInstrmRptgStsAdvc><StsAdvc><MsgRptIdr>{message_id}</MsgRptIdr><MsgSts><Sts>{status}</Sts></MsgSts>"
            f"{recs}</StsAdvc></FinInstrmRptgStsAdvc></Document>").encode()


def _file_rejected(message_id: str) -> bytes:
    return (f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:auth.031.001.01"><FinInstrmRptgStsAdvc><StsAdvc>'
            f"<MsgRptIdr>{message_id}</MsgRptIdr><MsgSts><Sts>RJCT</Sts><VldtnRule><Id>FIL-105</Id><Desc>bad file"
            "</Desc></VldtnRule></MsgSts></StsAdvc></FinInstrmRptgStsAdvc></Document>").encode()


async def test_reportable_deals_become_valid_auth016_reports_with_rts22_identification(
        session_factory: Any, settings: Settings) -> None:
    w = await world(session_factory)
    await _configure(session_factory)
    await _stock(session_factory, w)
    async with session_factory() as s, s.begin():
        await config.set_counterparty_id(s, ACTOR, w.clients["acme"], lei=CLIENT_LEI, national_id=None,
                                         national_id_country=None)
        await config.set_counterparty_id(s, ACTOR, w.clients["jo"], lei=None, national_id="AB123456",
                                         national_id_country="CY")
        await reporting.set_reporting(s, ACTOR, w.server_id, "AAPL", reportable=None, underlying_isin=AAPL_ISIN)
    d = w.day
    await deal(session_factory, w, "ivan", deal_id=101, position_id=1, at=at(d, 9), entry=0, action=0, volume="2",
               price="4500.5", symbol="US500")
    await deal(session_factory, w, "ivan", deal_id=102, position_id=2, at=at(d, 9), entry=0, action=0, volume="1",
               price="1.085")  # forex: not reportable
    await deal(session_factory, w, "acme", deal_id=103, position_id=3, at=at(d, 10), entry=0, action=1,
               volume="10", price="190.25", symbol="AAPL")
    await deal(session_factory, w, "jo", deal_id=104, position_id=4, at=at(d, 11), entry=0, action=0, volume="3",
               price="191", symbol="AAPL")
    files = await _build(session_factory, settings, d)
    assert [f.records for f in files] == [3]
    doc = await _document(session_factory, settings, files[0].id)
    assert doc.xpath("//a:New/a:TxId/text()", namespaces=NS) == [f"S{w.server_id}D{i}" for i in (101, 103, 104)]
    first = "//a:FinInstrmRptgTxRpt/a:Tx[1]/a:New"
    # ivan bought: the buyer is the client by CONCAT, the seller the broker by LEI
    assert doc.xpath(f"{first}/a:Buyr//a:Prsn/a:Othr/a:Id/text()", namespaces=NS) == ["GR19800517IVAN#PETRO"]
    assert doc.xpath(f"{first}/a:Buyr//a:Prtry/text()", namespaces=NS) == ["CONCAT"]
    assert doc.xpath(f"{first}/a:Buyr//a:BirthDt/text()", namespaces=NS) == ["1980-05-17"]
    assert doc.xpath(f"{first}/a:Sellr//a:LEI/text()", namespaces=NS) == [LEI]
    assert doc.xpath(f"{first}/a:Tx/a:TradVn/text()", namespaces=NS) == ["XOFF"]
    assert doc.xpath(f"{first}/a:Tx/a:TradgCpcty/text()", namespaces=NS) == ["DEAL"]
    assert doc.xpath(f"{first}/a:Tx/a:Qty/a:Unit/text()", namespaces=NS) == ["2"]
    assert doc.xpath(f"{first}/a:Tx//a:Amt/text()", namespaces=NS) == ["4500.5"]
    assert doc.xpath(f"{first}//a:UndrlygInstrm//a:RefRate/a:Nm/text()", namespaces=NS) == ["US500"]
    second = "//a:FinInstrmRptgTxRpt/a:Tx[2]/a:New"  # acme sold: the client is the seller, by LEI
    assert doc.xpath(f"{second}/a:Sellr//a:LEI/text()", namespaces=NS) == [CLIENT_LEI]
    assert doc.xpath(f"{second}/a:Buyr//a:LEI/text()", namespaces=NS) == [LEI]
    assert doc.xpath(f"{second}//a:UndrlygInstrm//a:ISIN/text()", namespaces=NS) == [AAPL_ISIN]
    third = "//a:FinInstrmRptgTxRpt/a:Tx[3]/a:New"  # jo has a national id recorded: NIDN
    assert doc.xpath(f"{third}/a:Buyr//a:Othr/a:Id/text()", namespaces=NS) == ["CYAB123456"]
    assert doc.xpath(f"{third}/a:Buyr//a:Cd/text()", namespaces=NS) == ["NIDN"]
    async with session_factory() as s:
        rows = (await s.execute(text("SELECT seq, tx_ref, deal_id, status FROM regulatory_mifir_transactions "
                                     "WHERE file_id = :f ORDER BY seq"), {"f": files[0].id})).all()
    assert [(r.deal_id, r.status) for r in rows] == [(101, "built"), (103, "built"), (104, "built")]

    # staff turn the index off and forex on: the rebuild follows, and supersedes the first file
    async with session_factory() as s, s.begin():
        await reporting.set_reporting(s, ACTOR, w.server_id, "US500", reportable=False, underlying_isin=None)
        await reporting.set_reporting(s, ACTOR, w.server_id, "EURUSD", reportable=True, underlying_isin=None)
    again = await _build(session_factory, settings, d, reason="instruments reviewed")
    doc = await _document(session_factory, settings, again[0].id)
    assert doc.xpath("//a:New/a:TxId/text()", namespaces=NS) == [f"S{w.server_id}D{i}" for i in (102, 103, 104)]
    async with session_factory() as s:
        assert (await s.execute(text("SELECT status, superseded_by FROM regulatory_report_files WHERE id = :i"),
                                {"i": files[0].id})).one() == ("superseded", again[0].id)


async def test_a_document_off_the_schema_or_an_unidentified_client_stores_nothing(session_factory: Any,
                                                                                   settings: Settings) -> None:
    w = await world(session_factory)
    await _configure(session_factory)
    await _stock(session_factory, w, "ZERO", size="0")  # a quantity of 0 units: the XSD refuses it
    await deal(session_factory, w, "ivan", deal_id=201, position_id=1, at=at(w.day, 9), entry=0, action=0,
               volume="1", price="10", symbol="ZERO")
    with pytest.raises((MifirInvalid, InvalidFields)) as caught:
        await _build(session_factory, settings, w.day)
    errors = caught.value.errors if isinstance(caught.value, InvalidFields) else [caught.value]
    assert all(e.code == "MIFIR_SCHEMA_INVALID" for e in errors)
    assert any("Qty/Unit" in (e.field or "") for e in errors), [e.field for e in errors]

    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE trading_instruments SET contract_size = 1 WHERE server_id = :s"),
                        {"s": w.server_id})
        await s.execute(text("UPDATE clients SET date_of_birth = NULL WHERE id = :c"), {"c": w.clients["ivan"]})
    with pytest.raises(CounterpartyUnidentified):
        await _build(session_factory, settings, w.day)
    async with session_factory() as s:
        assert await s.scalar(text("SELECT count(*) FROM regulatory_report_files WHERE business_date = :d "
                                   "AND regime = 'mifir'"), {"d": w.day}) == 0
        assert await s.scalar(text("SELECT count(*) FROM regulatory_mifir_transactions WHERE business_date = :d"),
                              {"d": w.day}) == 0


async def test_bad_instrument_settings_are_refused_and_change_nothing(session_factory: Any) -> None:
    w = await world(session_factory)
    async with session_factory() as s, s.begin():
        with pytest.raises(ValidationFailed) as bad:
            await reporting.set_reporting(s, ACTOR, w.server_id, "US500", reportable=True,
                                          underlying_isin="US0378331006")  # wrong check digit
        assert bad.value.field == "underlyingIsin"
        found = await reporting.get(s, w.server_id, "US500")
    assert (found.mifir_reportable, found.overridden, found.underlying_isin) == (True, False, None)
    assert reporting.isin_ok(AAPL_ISIN) and reporting.isin_ok("DE0008469008")


async def test_feedback_marks_rejections_and_a_correction_supersedes_them(session_factory: Any,
                                                                          settings: Settings) -> None:
    w = await world(session_factory)
    await _configure(session_factory)
    d = w.day
    for i, who in ((301, "ivan"), (302, "jo"), (303, "ivan")):
        await deal(session_factory, w, who, deal_id=i, position_id=i, at=at(d, 9), entry=0, action=1, volume="1",
                   price="4400", symbol="US500")
    files = await _build(session_factory, settings, d)
    async with session_factory() as s:
        message_id = await s.scalar(text("SELECT message_id FROM regulatory_report_files WHERE id = :i"),
                                    {"i": files[0].id})
    with pytest.raises(MifirInvalid):  # off the auth.031 schema
        await in_transaction(session_factory, lambda s: feedback.apply(s, ACTOR, b"<Document xmlns='x'/>"))
    with pytest.raises(FeedbackUnmatched):
        await in_transaction(session_factory, lambda s: feedback.apply(
            s, ACTOR, _feedback("NEVERSENT", "RJCT", [])))
    ref1, ref2 = f"S{w.server_id}D301", f"S{w.server_id}D302"
    done = await in_transaction(session_factory, lambda s: feedback.apply(s, ACTOR, _feedback(
        message_id, "PART", [(ref1, "ACPT", []), (ref2, "RJCT", ["CON-412", "CON-023"]), ("S0D0", "RJCT", [])])))
    # 303 is not named: PART lists the rejected records, the rest were accepted
    assert (done.accepted, done.rejected, done.unknown) == (2, 1, ["S0D0"])
    async with session_factory() as s:
        rows = {r.tx_ref: r for r in (await s.execute(text(
            "SELECT tx_ref, status, error_codes, corrected_by FROM regulatory_mifir_transactions WHERE file_id = :f"),
            {"f": files[0].id})).all()}
        assert await s.scalar(text("SELECT status FROM regulatory_report_files WHERE id = :i"),
                              {"i": files[0].id}) == "rejected"
    assert rows[ref1].status == "accepted" and rows[ref2].status == "rejected"
    assert rows[f"S{w.server_id}D303"].status == "accepted"
    assert rows[ref2].error_codes == ["CON-412", "CON-023"]

    fixed = await _build(session_factory, settings, d, corrections=True, reason="CON-412 fixed")
    doc = await _document(session_factory, settings, fixed[0].id)
    assert doc.xpath("//a:New/a:TxId/text()", namespaces=NS) == [ref2]  # only the rejected one, same TxId
    async with session_factory() as s:
        old = (await s.execute(text("SELECT status, corrected_by FROM regulatory_mifir_transactions "
                                    "WHERE file_id = :f AND tx_ref = :r"), {"f": files[0].id, "r": ref2})).one()
        kept = await s.scalar(text("SELECT status FROM regulatory_report_files WHERE id = :i"), {"i": files[0].id})
    assert old == ("rejected", fixed[0].id) and kept == "rejected"  # the rejected file is kept as it was
    assert await _build(session_factory, settings, d, corrections=True) == []  # nothing left to correct


async def test_over_the_api_instrument_flag_feedback_and_rebuild_by_regime(http: httpx.AsyncClient,
                                                                           session_factory: Any,
                                                                           settings: Settings) -> None:
    from jobs import regulatory
    from schema.node import global_id

    officer = (await make_staff(http, session_factory, settings, ["compliance"])).client
    answer = await officer("mutation($i: RegulatorySettingsInput!) { setRegulatorySettings(input: $i) { "
                           "errors { code } } }", {"i": SETTINGS})
    assert answer["data"]["setRegulatorySettings"]["errors"] == []
    w = await world(session_factory)
    flag = ("mutation($s: ID!, $y: String!, $r: Boolean, $i: String) { setInstrumentRegulatoryReporting("
            "serverId: $s, symbol: $y, mifirReportable: $r, underlyingIsin: $i) { instrument { mifirReportable "
            "overridden underlyingIsin } errors { code field } } }")
    sid = global_id("TradingServer", w.server_id)
    bad = (await officer(flag, {"s": sid, "y": "EURUSD", "r": True, "i": "XX"}))["data"]
    assert bad["setInstrumentRegulatoryReporting"]["errors"] == [{"code": "VALIDATION_FAILED",
                                                                  "field": "underlyingIsin"}]
    good = (await officer(flag, {"s": sid, "y": "EURUSD", "r": True, "i": None}))["data"]
    assert good["setInstrumentRegulatoryReporting"] == {
        "instrument": {"mifirReportable": True, "overridden": True, "underlyingIsin": None}, "errors": []}
    await deal(session_factory, w, "ivan", deal_id=401, position_id=1, at=at(w.day, 9), entry=0, action=0,
               volume="1", price="1.1")
    queued = (await officer("mutation($d: Date!) { rebuildRegulatoryReports(regime: MIFIR, day: $d, reason: "
                            "\"first\") { day errors { code } } }", {"d": w.day.isoformat()}))["data"]
    assert queued["rebuildRegulatoryReports"]["errors"] == []
    async with session_factory() as s:
        event = (await s.execute(text("SELECT topic, payload FROM outbox WHERE job = 'rebuild_regulatory_reports' "
                                      "AND payload->>'day' = :d"), {"d": w.day.isoformat()})).one()
    assert event.payload["regime"] == "mifir"
    ctx = {"session_factory": session_factory, "settings": settings}
    built = await regulatory.rebuild_regulatory_reports(ctx, 0, event.topic, event.payload)
    assert built["records"] == 1
    async with session_factory() as s:
        message_id = await s.scalar(text("SELECT message_id FROM regulatory_report_files WHERE id = :i"),
                                    {"i": built["files"][0]})
    xml = _feedback(message_id, "RJCT", [(f"S{w.server_id}D401", "RJCT", ["CON-070"])]).decode()
    assert (await in_transaction(session_factory, lambda s: feedback.apply(s, ACTOR, _file_rejected(message_id)))
            ).rejected == 1  # a whole file refused: its record takes the message's rule
    applied = (await officer("mutation($x: String!) { applyMifirFeedback(xml: $x) { result { accepted rejected "
                             "files { status mifirTransactions(status: REJECTED) { nodes { transactionReference "
                             "errorCodes } } } } errors { code } } }", {"x": xml}))["data"]["applyMifirFeedback"]
    assert applied["errors"] == [] and applied["result"]["rejected"] == 1
    assert applied["result"]["files"][0]["mifirTransactions"]["nodes"] == [
        {"transactionReference": f"S{w.server_id}D401", "errorCodes": ["CON-070"]}]  # the later answer holds
    refused = (await officer("mutation($x: String!) { applyMifirFeedback(xml: $x) { errors { code field } } }",
                             {"x": "<nope"}))["data"]["applyMifirFeedback"]
    assert [e["code"] for e in refused["errors"]] == ["MIFIR_SCHEMA_INVALID"]
    wrong = (await officer("mutation($d: Date!) { rebuildRegulatoryReports(regime: EMIR, day: $d, reason: \"x\", "
                           "correctionsOnly: true) { errors { code field } } }", {"d": w.day.isoformat()}))["data"]
    assert wrong["rebuildRegulatoryReports"]["errors"] == [{"code": "VALIDATION_FAILED", "field": "correctionsOnly"}]
