"""Regulatory reporting over the API: settings and a client's identifier set by mutation (bad input is a typed
error that changes nothing), a day built by the job, its files listed, their status recorded, downloaded
through a signed link (bytes checked against the SHA-256), a rebuild queued through the outbox; staff without
regulatory.reports are refused."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from sqlalchemy import text

from domain.shared.settings import Settings
from jobs import regulatory
from schema.node import global_id
from tests.clients.staff_world import audit_of
from tests.identity.staff import make_staff
from tests.regulatory.world import CLIENT_LEI, SETTINGS, at, deal, world

SET = """mutation($i: RegulatorySettingsInput!) { setRegulatorySettings(input: $i) {
  settings { reportingLei receiverLei sector products { assetClass emirAssetClass cfi } } errors { field code } } }"""
IDENT = """mutation($c: ID!, $l: String, $n: String, $k: String) { setClientRegulatoryIdentifier(clientId: $c, lei: $l,
  nationalId: $n, nationalIdCountry: $k) { identifier { lei nationalId nationalIdCountry } errors { field code } } }"""
FILES = """query($d: Date) { regulatoryReportFiles(businessDate: $d, first: 5) { nodes { id status records sha256
  messageId headerXml supersededById } } }"""
STATUS = """mutation($f: ID!, $s: RegulatorySubmissionStatus!, $n: String!) { recordRegulatoryReportFileStatus(
  fileId: $f, status: $s, note: $n) { file { status statusNote } errors { field code } } }"""
LINK = """mutation($f: ID!) { regulatoryReportFileLink(fileId: $f) { link { url } errors { code } } }"""
REBUILD = """mutation($d: Date!, $r: String!) { rebuildEmirReports(day: $d, reason: $r) { day errors { field code } } }"""


def _body(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer.get("errors") is None, answer
    return dict(next(iter(answer["data"].values())))


async def test_settings_identifiers_files_status_and_download(http: httpx.AsyncClient, session_factory: Any,
                                                              settings: Settings) -> None:
    officer = (await make_staff(http, session_factory, settings, ["compliance"])).client
    async with session_factory() as s:
        before = await s.scalar(text("SELECT reporting_lei FROM regulatory_settings"))
    bad = _body(await officer(SET, {"i": {**SETTINGS, "reportingLei": "529900T8BM49AURSDO56", "sector": "XXXX"}}))
    assert sorted((e["field"], e["code"]) for e in bad["errors"]) == [("reportingLei", "VALIDATION_FAILED"),
                                                                      ("sector", "VALIDATION_FAILED")]
    async with session_factory() as s:
        assert await s.scalar(text("SELECT reporting_lei FROM regulatory_settings")) == before
    done = _body(await officer(SET, {"i": {**SETTINGS, "products": [
        {"assetClass": "indices", "emirAssetClass": "EQUI", "cfi": "JEIXFC"}]}}))
    assert done["errors"] == [] and done["settings"]["receiverLei"] == SETTINGS["receiverLei"]

    w = await world(session_factory)
    acme = global_id("ClientSummary", w.clients["acme"])
    refused = _body(await officer(IDENT, {"c": acme, "l": "NOTALEI", "n": None, "k": None}))
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("lei", "VALIDATION_FAILED")]
    assert await audit_of(session_factory, "client_user", w.users["acme"]) == []
    named = _body(await officer(IDENT, {"c": acme, "l": CLIENT_LEI.lower(), "n": None, "k": None}))
    assert named["errors"] == [] and named["identifier"]["lei"] == CLIENT_LEI
    ivan = _body(await officer(IDENT, {"c": global_id("ClientSummary", w.clients["ivan"]), "l": None,
                                       "n": "12345678x", "k": "CY"}))
    assert ivan["identifier"] == {"lei": None, "nationalId": "CY12345678X", "nationalIdCountry": "CY"}

    await deal(session_factory, w, "ivan", deal_id=61, position_id=61, at=at(w.day, 9), entry=0, action=0,
               volume="1", price="1.1")
    await deal(session_factory, w, "acme", deal_id=62, position_id=62, at=at(w.day, 9), entry=0, action=1,
               volume="1", price="4000", symbol="US500")
    built = await regulatory.build_emir_reports({"session_factory": session_factory, "settings": settings},
                                                w.day.isoformat())
    assert built["records"] == 2
    listed = _body(await officer(FILES, {"d": w.day.isoformat()}))["nodes"]
    assert len(listed) == 1 and listed[0]["status"] == "BUILT" and listed[0]["records"] == 2
    fid = listed[0]["id"]

    link = _body(await officer(LINK, {"f": fid}))
    url = link["link"]["url"]
    got = await http.get(url[url.index("/documents/"):])
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/xml")
    assert hashlib.sha256(got.content).hexdigest() == listed[0]["sha256"]
    assert b"<Id>CY12345678X</Id>" in got.content and CLIENT_LEI.encode() in got.content

    rejected = _body(await officer(STATUS, {"f": fid, "s": "REJECTED", "n": "EMIR-VR-1234 notional"}))
    assert rejected["file"] == {"status": "REJECTED", "statusNote": "EMIR-VR-1234 notional"}

    bad_day = _body(await officer(REBUILD, {"d": "2999-01-01", "r": "x"}))
    assert [e["code"] for e in bad_day["errors"]] == ["VALIDATION_FAILED"]
    queued = _body(await officer(REBUILD, {"d": w.day.isoformat(), "r": "TR rejected the notional"}))
    assert queued["errors"] == [] and queued["day"] == w.day.isoformat()
    async with session_factory() as s:
        event = (await s.execute(text("SELECT payload FROM outbox WHERE job = 'rebuild_regulatory_reports' "
                                      "AND payload->>'day' = :d"), {"d": w.day.isoformat()})).one()
    assert event.payload["regime"] == "emir"
    again = await regulatory.rebuild_regulatory_reports({"session_factory": session_factory, "settings": settings},
                                                        0, "regulatory.rebuild", event.payload)
    files = _body(await officer(FILES, {"d": w.day.isoformat()}))["nodes"]
    assert [f["status"] for f in files] == ["BUILT", "SUPERSEDED"]
    assert files[1]["supersededById"] == global_id("RegulatoryReportFile", again["files"][0])
    superseded = _body(await officer(STATUS, {"f": fid, "s": "ACCEPTED", "n": ""}))
    assert [e["code"] for e in superseded["errors"]] == ["REPORT_FILE_WRONG_STATUS"]


async def test_staff_without_the_permission_are_refused(http: httpx.AsyncClient, session_factory: Any,
                                                        settings: Settings) -> None:
    support = (await make_staff(http, session_factory, settings, ["support"])).client
    answer = await support(FILES, {"d": None})
    assert answer["data"] is None and answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    answer = await support(SET, {"i": SETTINGS})
    assert answer["data"] is None
