"""EMIR REFIT reports built from ingested deals: XSD-valid (ESMA DATTAR 1.1.0, read back from the blob store),
new/modify/terminate per position with UTIs kept, each line traceable to its deals; a rebuild supersedes and
never overwrites; missing settings or an unidentifiable counterparty is a typed error that stores nothing."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import text

from domain.clients.storage import decrypt, default_store
from domain.regulatory import settings as config
from domain.regulatory.emir import build
from domain.regulatory.emir.schema import header_schema, report_schema
from domain.regulatory.errors import (
    CounterpartyUnidentified,
    EmirInvalid,
    NoRegulatorySettings,
    ReportInstrumentUnknown,
)
from domain.regulatory.parts import BuiltFile
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.settings import Settings
from tests.regulatory.world import CLIENT_LEI, LEI, TR_LEI, at, deal, world

NS = {"a": "urn:iso:std:iso:20022:tech:xsd:auth.030.001.03"}
ACTOR = system_actor("tests.regulatory")


async def _configure(session_factory: Any) -> None:
    cfg = config.RegulatorySettings(LEI, LEI, TR_LEI, "INVF", "CY", "Client Agreement v3")
    await in_transaction(session_factory, lambda s: config.set_settings(s, ACTOR, cfg))


async def _build(session_factory: Any, settings: Settings, day: Any, **kw: Any) -> list[BuiltFile]:
    return await in_transaction(session_factory, lambda s: build.build_day(s, settings, default_store(settings),
                                                                            ACTOR, day, **kw))


async def _document(session_factory: Any, settings: Settings, file_id: int) -> bytes:
    async with session_factory() as s:
        row = (await s.execute(text("SELECT storage_key, sha256, header_xml FROM regulatory_report_files "
                                    "WHERE id = :i"), {"i": file_id})).one()
    data = decrypt(settings, row.storage_key, await default_store(settings).get(row.storage_key))
    assert hashlib.sha256(data).hexdigest() == row.sha256
    assert header_schema().validate(etree.fromstring(row.header_xml.encode()))
    return data


async def test_a_day_of_deals_becomes_valid_new_modify_terminate_reports(session_factory: Any,
                                                                          settings: Settings) -> None:
    w = await world(session_factory)
    await _configure(session_factory)
    async with session_factory() as s, s.begin():
        await config.set_counterparty_id(s, ACTOR, w.clients["acme"], lei=CLIENT_LEI, national_id=None,
                                         national_id_country=None)
    d = w.day
    # ivan: position 1 opened and kept; position 2 opened and closed the same day; acme: position 3 opened
    await deal(session_factory, w, "ivan", deal_id=11, position_id=1, at=at(d, 9), entry=0, action=0, volume="1",
               price="1.08500")
    await deal(session_factory, w, "ivan", deal_id=12, position_id=2, at=at(d, 10), entry=0, action=1, volume="2",
               price="1.08600")
    await deal(session_factory, w, "ivan", deal_id=13, position_id=2, at=at(d, 11), entry=1, action=0, volume="2",
               price="1.08400")
    await deal(session_factory, w, "acme", deal_id=14, position_id=3, at=at(d, 12), entry=0, action=0,
               volume="0.5", price="4500.5", symbol="US500")
    files = await _build(session_factory, settings, d)
    assert [f.records for f in files] == [4]
    doc = etree.fromstring(await _document(session_factory, settings, files[0].id))
    assert report_schema().validate(doc)
    kinds = [etree.QName(r[0]).localname for r in doc.iterfind(".//a:Rpt", NS)]
    assert kinds == ["New", "New", "Termntn", "New"]
    utis = doc.xpath("//a:UnqTxIdr/text()", namespaces=NS)
    assert utis[0] == f"{LEI}S{w.server_id}P1" and utis[1] == utis[2]
    assert doc.xpath("//a:Rpt[1]//a:OthrCtrPty//a:Ntrl/a:Id/a:Id/a:Id/text()", namespaces=NS) == \
        ["GR19800517IVAN#PETRO"]
    assert doc.xpath("//a:Rpt[4]//a:OthrCtrPty//a:LEI/text()", namespaces=NS) == [CLIENT_LEI]
    assert doc.xpath("//a:Rpt[1]//a:CtrPtySd/text()", namespaces=NS) == ["SLLR"]  # the client bought
    assert doc.xpath("//a:Rpt[1]//a:NtnlAmt//a:Amt/a:Amt/text()", namespaces=NS) == ["108500"]
    async with session_factory() as s:
        lines = (await s.execute(text("SELECT seq, action, position_id, deal_ids, volume_after FROM "
                                      "regulatory_report_lines WHERE file_id = :f ORDER BY seq"),
                                 {"f": files[0].id})).all()
    assert [(ln.action, ln.position_id, list(ln.deal_ids)) for ln in lines] == [
        ("NEWT", 1, [11]), ("NEWT", 2, [12, 13]), ("TERM", 2, [12, 13]), ("NEWT", 3, [14])]

    # the next day: position 1 partly closed (modify), position 3 closed (terminate); UTIs kept
    n = d + timedelta(days=1)
    await deal(session_factory, w, "ivan", deal_id=21, position_id=1, at=at(n, 9), entry=1, action=1,
               volume="0.4", price="1.09000")
    await deal(session_factory, w, "acme", deal_id=22, position_id=3, at=at(n, 10), entry=1, action=1,
               volume="0.5", price="4510")
    nxt = await _build(session_factory, settings, n)
    doc2 = etree.fromstring(await _document(session_factory, settings, nxt[0].id))
    assert report_schema().validate(doc2)
    assert [etree.QName(r[0]).localname for r in doc2.iterfind(".//a:Rpt", NS)] == ["Mod", "Termntn"]
    assert doc2.xpath("//a:UnqTxIdr/text()", namespaces=NS) == [utis[0], utis[3]]
    assert doc2.xpath("//a:Rpt[1]//a:NtnlQty//a:TtlQty/text()", namespaces=NS) == ["60000"]


async def test_a_rebuild_supersedes_the_days_files_and_keeps_them(session_factory: Any, settings: Settings) -> None:
    w = await world(session_factory)
    await _configure(session_factory)
    await deal(session_factory, w, "jo", deal_id=31, position_id=7, at=at(w.day, 9), entry=0, action=0, volume="1",
               price="1.1")
    first = await _build(session_factory, settings, w.day)
    again = await _build(session_factory, settings, w.day, reason="correction: price feed")
    async with session_factory() as s:
        rows = {r.id: r for r in (await s.execute(text(
            "SELECT id, status, superseded_by, sha256 FROM regulatory_report_files WHERE business_date = :d"),
            {"d": w.day})).all()}
        utis = await s.scalar(text("SELECT count(*) FROM regulatory_utis WHERE server_id = :s"), {"s": w.server_id})
    assert rows[first[0].id].status == "superseded" and rows[first[0].id].superseded_by == again[0].id
    assert rows[again[0].id].status == "built"
    assert utis == 1
    assert b"JO###ONEIL" in await _document(session_factory, settings, again[0].id)


async def test_without_settings_or_an_identifiable_client_nothing_is_stored(session_factory: Any,
                                                                            settings: Settings) -> None:
    w = await world(session_factory)
    await _configure(session_factory)
    await deal(session_factory, w, "acme", deal_id=41, position_id=9, at=at(w.day, 9), entry=0, action=0,
               volume="1", price="1.1")  # a legal entity without an LEI
    with pytest.raises(CounterpartyUnidentified):
        await _build(session_factory, settings, w.day)
    async with session_factory() as s:
        assert await s.scalar(text("SELECT count(*) FROM regulatory_report_files WHERE business_date = :d"),
                              {"d": w.day}) == 0
        assert await s.scalar(text("SELECT count(*) FROM regulatory_utis WHERE server_id = :s"),
                              {"s": w.server_id}) == 0
        await s.execute(text("UPDATE trading_instruments SET symbol = 'EURUSD.gone' WHERE server_id = :s "
                             "AND symbol = 'EURUSD'"), {"s": w.server_id})
        await s.execute(text("UPDATE trading_deals SET account_id = :a WHERE server_id = :s"),
                        {"a": w.accounts["ivan"], "s": w.server_id})
        with pytest.raises(ReportInstrumentUnknown):
            await build.build_day(s, settings, default_store(settings), ACTOR, w.day)
        await s.rollback()
    async with session_factory() as s:
        await s.execute(text("DELETE FROM regulatory_settings"))
        with pytest.raises(NoRegulatorySettings):
            await build.build_day(s, settings, default_store(settings), ACTOR, w.day)
        await s.rollback()


async def test_the_daily_job_builds_a_day_and_is_declared_as_a_cron(session_factory: Any, settings: Settings) -> None:
    from jobs import regulatory
    from jobs.worker import job_functions

    w = await world(session_factory)
    await _configure(session_factory)
    await deal(session_factory, w, "jo", deal_id=51, position_id=5, at=at(w.day, 9), entry=0, action=0, volume="1",
               price="1.1")
    ctx = {"session_factory": session_factory, "settings": settings}
    done = await regulatory.build_emir_reports(ctx, w.day.isoformat())
    assert done["records"] == 1 and len(done["files"]) == 1
    again = await regulatory.build_emir_reports(ctx, w.day.isoformat())  # twice: supersedes, keeps both
    async with session_factory() as s:
        assert await s.scalar(text("SELECT status FROM regulatory_report_files WHERE id = :i"),
                              {"i": done["files"][0]}) == "superseded"
        assert await s.scalar(text("SELECT status FROM regulatory_report_files WHERE id = :i"),
                              {"i": again["files"][0]}) == "built"
    assert regulatory.build_emir_reports in job_functions() and regulatory.capture_emir_close in job_functions()
    crons = regulatory.cron_jobs(settings)
    assert [c.coroutine for c in crons] == [regulatory.capture_emir_close, regulatory.build_emir_reports,
                                            regulatory.build_mifir_reports]
    assert [(c.hour, c.minute) for c in crons] == [({0}, {5}), ({1}, {30}), ({1}, {40})]  # the close, then T+1


@pytest.mark.parametrize("failure", ["schema", "instrument"])
async def test_a_later_part_failing_takes_back_the_earlier_parts_blobs(session_factory: Any, settings: Settings,
                                                                       failure: str) -> None:
    """One report per part. The XSD refuses part 3 (a notional of 27 digits) once parts 1 and 2 are stored (blobs
    put while it was checked); or position 3's instrument is unknown once part 1 is stored and part 2 is being
    checked. Either way the build leaves no blob and no row behind."""
    w = await world(session_factory)
    await _configure(session_factory)
    for position in (1, 2):
        await deal(session_factory, w, "ivan", deal_id=60 + position, position_id=position, at=at(w.day, 9 + position),
                   entry=0, action=0, volume="1", price="1.1")
    if failure == "schema":
        await deal(session_factory, w, "ivan", deal_id=63, position_id=3, at=at(w.day, 13), entry=0, action=0,
                   volume="99999999999", price="99999999999")
    else:
        async with session_factory() as s, s.begin():
            await s.execute(text("DELETE FROM trading_instruments WHERE server_id = :s AND symbol = 'US500'"),
                            {"s": w.server_id})
        await deal(session_factory, w, "ivan", deal_id=63, position_id=3, at=at(w.day, 13), entry=0, action=0,
                   volume="1", price="4500", symbol="US500")
    store = default_store(settings)
    folder = settings.data_dir / "documents" / "regulatory" / "emir" / f"{w.day:%Y%m%d}"
    put: list[str] = []
    real_put = store.put

    async def counting_put(key: str, blob: bytes) -> None:  # the real store, keys noted to prove parts were put
        put.append(key)
        await real_put(key, blob)

    store.put = counting_put  # type: ignore[method-assign]
    expected = EmirInvalid if failure == "schema" else ReportInstrumentUnknown
    with pytest.raises(expected):
        await in_transaction(session_factory, lambda s: build.build_day(s, settings, store, ACTOR, w.day,
                                                                        part_size=1))
    assert len(put) == (2 if failure == "schema" else 1) and all(key.startswith(f"regulatory/emir/{w.day:%Y%m%d}/") for key in put)
    assert not folder.exists() or list(folder.iterdir()) == []
    async with session_factory() as s:
        assert await s.scalar(text("SELECT count(*) FROM regulatory_report_files WHERE business_date = :d"),
                              {"d": w.day}) == 0


async def test_report_lines_name_an_existing_file_and_a_file_with_lines_stays(session_factory: Any,
                                                                              settings: Settings) -> None:
    """Migration 0059's statement-level checks (in place of per-row foreign keys): a line naming no file, EMIR or
    MiFIR, is refused with foreign_key_violation and nothing is inserted; a file its lines name cannot be
    deleted or renumbered; a file without lines can."""
    w = await world(session_factory)
    await _configure(session_factory)
    await deal(session_factory, w, "jo", deal_id=71, position_id=71, at=at(w.day, 9), entry=0, action=0, volume="1",
               price="1.1")
    files = await _build(session_factory, settings, w.day)
    missing = files[0].id + 10_000_000
    async with session_factory() as s:
        before = await s.scalar(text("SELECT count(*) FROM regulatory_report_lines WHERE server_id = :s"),
                                {"s": w.server_id})
    for statement, params in (
            ("INSERT INTO regulatory_report_lines (file_id, seq, action, uti, server_id, position_id, business_date, "
             "volume_after, deal_ids) VALUES (:f, 2, 'NEWT', 'X', :s, 72, :d, 1, '{72}'), "
             "(:m, 1, 'NEWT', 'Y', :s, 73, :d, 1, '{73}')", {"f": files[0].id, "m": missing}),
            ("INSERT INTO regulatory_mifir_transactions (file_id, seq, tx_ref, server_id, deal_id, business_date) "
             "VALUES (:m, 1, 'T', :s, 74, :d)", {"m": missing}),
            ("UPDATE regulatory_report_lines SET file_id = :m WHERE file_id = :f", {"f": files[0].id, "m": missing}),
            ("DELETE FROM regulatory_report_files WHERE id = :f", {"f": files[0].id}),
            ("UPDATE regulatory_report_files SET id = :m WHERE id = :f", {"f": files[0].id, "m": missing})):
        async with session_factory() as s:
            with pytest.raises(Exception) as refused:
                await s.execute(text(statement), {"s": w.server_id, "d": w.day, **params})
            assert getattr(refused.value.orig, "sqlstate", None) == "23503", refused.value  # type: ignore[attr-defined]
            await s.rollback()
    async with session_factory() as s:
        assert await s.scalar(text("SELECT count(*) FROM regulatory_report_lines WHERE server_id = :s"),
                              {"s": w.server_id}) == before == 1
        assert await s.scalar(text("SELECT count(*) FROM regulatory_report_files WHERE id = :f"),
                              {"f": files[0].id}) == 1
    async with session_factory() as s, s.begin():  # a file no line names goes (and the check stays quiet)
        await s.execute(text("DELETE FROM regulatory_report_lines WHERE file_id = :f"), {"f": files[0].id})
        await s.execute(text("DELETE FROM regulatory_report_files WHERE id = :f"), {"f": files[0].id})
