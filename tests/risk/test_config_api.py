"""Risk configuration over the API (risk.manage): exposure limits, group books, detector thresholds,
the economic calendar and account links — each change audited with before/after, each refusal typed
and changing nothing."""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.risk import detectors, limits
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from tests.identity.staff import make_staff
from tests.ids import db_id
from tests.risk.desk_world import A_GROUP, World, drop_world, make_world

_STAFF: dict[str, Any] = {}


@pytest.fixture
async def world(http: httpx.AsyncClient, session_factory: Any) -> AsyncIterator[World]:
    w = await make_world(http, session_factory)
    yield w
    await drop_world(session_factory, w)


async def _staff(http: httpx.AsyncClient, session_factory: Any, settings: Any, role: str) -> Any:
    """One signed-in staff user per role for this module (sign-ins are rate limited)."""
    if role not in _STAFF:
        _STAFF[role] = await make_staff(http, session_factory, settings, [role])
    staff = _STAFF[role]
    staff.client.http = http
    return staff.client


async def _count(factory: Any, sql: str, **params: Any) -> int:
    async with factory() as s:
        return int(await s.scalar(text(sql), params) or 0)


async def _audits(factory: Any, action: str) -> list[dict[str, Any]]:
    async with factory() as s:
        rows = await s.execute(text("SELECT entity_id, before, after FROM audit_events WHERE action = :a ORDER BY id"),
                               {"a": action})
        return [{"entity_id": r.entity_id, "before": r.before, "after": r.after} for r in rows]


def _codes(body: dict[str, Any]) -> set[str]:
    return {e.get("extensions", {}).get("code") for e in body.get("errors") or []}


def _errs(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


AUDIT_RISK = "SELECT count(*) FROM audit_events WHERE action LIKE 'risk.%'"

SET_LIMIT = """mutation($s: String!, $k: String!, $l: Decimal, $u: Money) { setRiskLimit(scope: $s, key: $k,
  maxNetLots: $l, maxNotionalUsd: $u) { limit { id scope key maxNetLots maxNotionalUsd } errors { code field } } }"""
DELETE_LIMIT = "mutation($i: ID!) { deleteRiskLimit(id: $i) { limit { id scope key } errors { code field } } }"


async def test_limits_create_update_delete_with_alerts(
    http: httpx.AsyncClient, session_factory: Any, settings: Any, world: World
) -> None:
    dealer = await _staff(http, session_factory, settings, "dealer")
    compliance = await _staff(http, session_factory, settings, "compliance")
    before_limits = await _count(session_factory, "SELECT count(*) FROM risk_limits")
    audit0 = await _count(session_factory, AUDIT_RISK)
    # Refused: without risk.manage, bad scope keys, nothing to delete.
    denied = await compliance(SET_LIMIT, {"s": "region", "k": "Unknown", "l": "0.01"})
    assert _codes(denied) == {"FORBIDDEN"} and not any((denied.get("data") or {}).values())
    bad = [(await dealer(SET_LIMIT, v))["data"]["setRiskLimit"] for v in (
        {"s": "region", "k": "Atlantis", "l": "1"}, {"s": "book", "k": "C", "l": "1"},
        {"s": "desk", "k": "x", "l": "1"}, {"s": "book", "k": "B"})]
    assert [(_errs(b), b["errors"][0]["field"]) for b in bad] == [
        (["RISK_LIMIT_INVALID"], "key"), (["RISK_LIMIT_INVALID"], "key"), (["RISK_LIMIT_INVALID"], "scope"),
        (["RISK_LIMIT_INVALID"], "maxNetLots")]  # fmt: skip
    gone = (await dealer(DELETE_LIMIT, {"i": "999999999"}))["data"]["deleteRiskLimit"]
    assert _errs(gone) == ["RISK_LIMIT_NOT_FOUND"]
    assert _errs((await dealer(DELETE_LIMIT, {"i": "x"}))["data"]["deleteRiskLimit"]) == ["INVALID_ID"]  # not an id at all
    assert await _count(session_factory, "SELECT count(*) FROM risk_limits") == before_limits
    assert await _count(session_factory, AUDIT_RISK) == audit0

    # Region and book limits, created then updated (before/after audited).
    made = (await dealer(SET_LIMIT, {"s": "region", "k": "Unknown", "l": "0.01"}))["data"]["setRiskLimit"]
    assert made["errors"] == [] and made["limit"]["scope"] == "region" and made["limit"]["maxNetLots"] == "0.01"
    book = (await dealer(SET_LIMIT, {"s": "book", "k": "b", "u": "1000000"}))["data"]["setRiskLimit"]
    assert book["limit"]["key"] == "B" and book["limit"]["maxNotionalUsd"] == "1000000.00"
    lid = made["limit"]["id"]
    try:
        updated = (await dealer(SET_LIMIT, {"s": "region", "k": "Unknown", "l": "0.5"}))["data"]["setRiskLimit"]
        assert updated["limit"]["id"] == lid and updated["limit"]["maxNetLots"] == "0.5"
        sets = [a for a in await _audits(session_factory, "risk.limit_set") if a["entity_id"] == str(db_id(lid))]
        assert sets[-1]["before"]["max_net_lots"] == "0.01" and sets[-1]["after"]["max_net_lots"] == "0.5"
        listed = (await dealer("{ riskLimits { id scope key } }"))["data"]["riskLimits"]
        assert {"id": lid, "scope": "region", "key": "Unknown"} in listed

        # The world's client has no country: its open 2 lots count for region "Unknown"; the alert opens.
        await in_transaction(session_factory, lambda s: limits.evaluate(s, system_actor("test")))
        alerts = (await dealer("{ riskAlerts { nodes { id scope key measure } } }"))["data"]["riskAlerts"]["nodes"]
        mine = [a for a in alerts if (a["scope"], a["key"]) == ("region", "Unknown")]
        assert [a["measure"] for a in mine] == ["net_lots"]
    finally:
        deleted = (await dealer(DELETE_LIMIT, {"i": lid}))["data"]["deleteRiskLimit"]
        await dealer(DELETE_LIMIT, {"i": book["limit"]["id"]})
    assert deleted == {"limit": {"id": lid, "scope": "region", "key": "Unknown"}, "errors": []}
    assert await _count(session_factory, "SELECT count(*) FROM risk_limits") == before_limits
    cleared = await _audits(session_factory, "risk.limit_cleared")
    assert any(a["entity_id"] == str(db_id(mine[0]["id"])) for a in cleared)
    dropped = [a for a in await _audits(session_factory, "risk.limit_deleted") if a["entity_id"] == str(db_id(lid))]
    assert dropped[0]["before"]["key"] == "Unknown" and dropped[0]["after"] == {"open_alerts_cleared": 1}
    alerts = (await dealer("{ riskAlerts { nodes { scope key } } }"))["data"]["riskAlerts"]["nodes"]
    assert {"scope": "region", "key": "Unknown"} not in alerts


SET_BOOK = """mutation($s: ID!, $g: String!, $b: Book!, $p: Decimal) { setRiskGroupBook(serverId: $s, group: $g,
  book: $b, aBookPercent: $p) { groupBook { serverId group book aBookPercent } errors { code field } } }"""
UNSET_BOOK = """mutation($s: ID!, $g: String!) { unsetRiskGroupBook(serverId: $s, group: $g) {
  groupBook { group book } errors { code field } } }"""
OVERRIDE = """mutation($c: ID!, $b: Book!, $p: Decimal!) { overrideSegment(clientId: $c, book: $b, aBookPercent: $p,
  reason: "desk") { assignments { targetGroup } errors { code } } }"""


async def test_group_books_drive_segmentation(
    http: httpx.AsyncClient, session_factory: Any, settings: Any, world: World
) -> None:
    w = world
    dealer = await _staff(http, session_factory, settings, "dealer")
    sales = await _staff(http, session_factory, settings, "sales")
    rows = "SELECT count(*) FROM risk_group_books WHERE server_id = :s"
    n0, audit0 = await _count(session_factory, rows, s=w.server_id), await _count(session_factory, AUDIT_RISK)
    assert _codes(await sales(SET_BOOK, {"s": str(w.server_id), "g": "x", "b": "A"})) == {"FORBIDDEN"}
    bad = [(await dealer(SET_BOOK, v))["data"]["setRiskGroupBook"] for v in (
        {"s": str(w.server_id), "g": "desk\\h", "b": "HYBRID"},
        {"s": str(w.server_id), "g": "desk\\h", "b": "HYBRID", "p": "100"},
        {"s": str(w.server_id), "g": "desk\\h", "b": "HYBRID", "p": "33.333"},
        {"s": str(w.server_id), "g": "desk\\a2", "b": "A", "p": "50"},
        {"s": str(w.server_id), "g": " ", "b": "B"},
        {"s": "999999999", "g": "desk\\a2", "b": "A"})]
    assert [_errs(b) for b in bad] == [["RISK_GROUP_BOOK_INVALID"]] * 5 + [["RISK_SERVER_NOT_FOUND"]]
    missing = (await dealer(UNSET_BOOK, {"s": str(w.server_id), "g": "desk\\none"}))["data"]["unsetRiskGroupBook"]
    assert _errs(missing) == ["RISK_GROUP_BOOK_NOT_FOUND"]
    assert await _count(session_factory, rows, s=w.server_id) == n0
    assert await _count(session_factory, AUDIT_RISK) == audit0

    hybrid = (await dealer(SET_BOOK, {"s": str(w.server_id), "g": "desk\\h", "b": "HYBRID", "p": "40"}))
    assert hybrid["data"]["setRiskGroupBook"] == {"groupBook": {"serverId": str(w.server_id), "group": "desk\\h",
                                                                "book": "HYBRID", "aBookPercent": "40"}, "errors": []}
    # Without an A group on the server, an A-book override has nowhere to go.
    gone = (await dealer(UNSET_BOOK, {"s": str(w.server_id), "g": A_GROUP}))["data"]["unsetRiskGroupBook"]
    assert gone == {"groupBook": {"group": A_GROUP, "book": "A"}, "errors": []}
    refused = (await dealer(OVERRIDE, {"c": str(w.client_id), "b": "A", "p": "100"}))["data"]["overrideSegment"]
    assert _errs(refused) == ["RISK_GROUP_MAPPING_MISSING"]
    await dealer(SET_BOOK, {"s": str(w.server_id), "g": "desk\\pro", "b": "A"})
    moved = (await dealer(OVERRIDE, {"c": str(w.client_id), "b": "A", "p": "100"}))["data"]["overrideSegment"]
    assert moved == {"assignments": [{"targetGroup": "desk\\pro"}], "errors": []}
    hybrid_move = (await dealer(OVERRIDE, {"c": str(w.client_id), "b": "HYBRID", "p": "50"}))["data"]
    assert hybrid_move["overrideSegment"]["assignments"] == [{"targetGroup": "desk\\h"}]
    # Re-mapping is audited with before and after.
    await dealer(SET_BOOK, {"s": str(w.server_id), "g": "desk\\h", "b": "B"})
    trail = [a for a in await _audits(session_factory, "risk.group_book_set")
             if a["entity_id"] == f"{w.server_id}:desk\\h"]  # fmt: skip
    assert trail[-1]["before"] == {"book": "HYBRID", "a_book_pct": "40.00"}
    assert trail[-1]["after"]["book"] == "B" and trail[-1]["after"]["a_book_pct"] == "0"
    listed = (await dealer("query($s: ID) { riskGroupBooks(serverId: $s) { group book aBookPercent } }",
                           {"s": str(w.server_id)}))["data"]["riskGroupBooks"]
    assert listed == [{"group": "desk\\b", "book": "B", "aBookPercent": "0"},
                      {"group": "desk\\h", "book": "B", "aBookPercent": "0"},
                      {"group": "desk\\pro", "book": "A", "aBookPercent": "100"}]  # fmt: skip
    unset = [a for a in await _audits(session_factory, "risk.group_book_unset")
             if a["entity_id"] == f"{w.server_id}:{A_GROUP}"]  # fmt: skip
    assert unset[-1]["before"] == {"book": "A", "a_book_pct": "100.00"}


SET_TH = """mutation($d: String!, $p: [ThresholdParamInput!]!, $g: String!, $y: String!) { setRiskThreshold(
  detector: $d, params: $p, group: $g, symbol: $y) { threshold { detector group symbol params } errors { code field } } }"""
CLEAR_TH = """mutation($d: String!, $g: String!) { clearRiskThreshold(detector: $d, group: $g) {
  threshold { params } errors { code } } }"""
EFFECTIVE = "query($d: String!, $g: String!) { riskEffectiveThresholds(detector: $d, group: $g) }"


async def test_detector_thresholds_per_group(http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    dealer = await _staff(http, session_factory, settings, "dealer")
    compliance = await _staff(http, session_factory, settings, "compliance")
    group = f"cfg\\{uuid.uuid4().hex[:8]}"
    th_rows = "SELECT count(*) FROM risk_thresholds"
    n0, audit0 = await _count(session_factory, th_rows), await _count(session_factory, AUDIT_RISK)
    good: dict[str, Any] = {"d": "latency_arbitrage", "p": [{"name": "min_trades", "value": "20"},
                                           {"name": "min_short_share", "value": "0.8"}], "g": group, "y": "*"}
    assert _codes(await compliance(SET_TH, good)) == {"FORBIDDEN"}
    variants: list[dict[str, Any]] = [
        {"d": "astrology"}, {"p": [{"name": "min_tardes", "value": "1"}]}, {"p": [{"name": "min_trades", "value": "-1"}]},
        {"p": []}, {"p": [{"name": "min_trades", "value": "1"}, {"name": "min_trades", "value": "2"}]},
        {"d": "hedging", "p": [{"name": "window_ms", "value": "100"}]},
        {"d": "hedging", "g": "*", "p": [{"name": "window_ms", "value": "3600000"}]}]
    bad = [(await dealer(SET_TH, {**good, **v}))["data"]["setRiskThreshold"] for v in variants]
    assert [_errs(b) for b in bad] == [["RISK_THRESHOLD_INVALID"]] * 7
    missing = (await dealer(CLEAR_TH, {"d": "news", "g": group}))["data"]["clearRiskThreshold"]
    assert _errs(missing) == ["RISK_THRESHOLD_NOT_FOUND"]
    assert await _count(session_factory, th_rows) == n0 and await _count(session_factory, AUDIT_RISK) == audit0

    done = (await dealer(SET_TH, good))["data"]["setRiskThreshold"]
    assert done == {"threshold": {"detector": "latency_arbitrage", "group": group, "symbol": "*",
                                  "params": {"min_trades": 20, "min_short_share": 0.8}}, "errors": []}
    try:
        eff = (await dealer(EFFECTIVE, {"d": "latency_arbitrage", "g": group}))["data"]["riskEffectiveThresholds"]
        assert eff == {**detectors.DEFAULTS["latency_arbitrage"], "min_trades": 20, "min_short_share": 0.8}
        # What the detectors load is what the query shows.
        async with session_factory() as s:
            assert (await detectors.load_thresholds(s)).get("latency_arbitrage", group) == eff
        listed = (await dealer("query($d: String) { riskThresholds(detector: $d) { group isDefault params } }",
                               {"d": "latency_arbitrage"}))["data"]["riskThresholds"]
        assert listed[0]["isDefault"] and {"group": group, "isDefault": False, "params": done["threshold"]["params"]} \
            in listed
        again = (await dealer(SET_TH, {**good, "p": [{"name": "min_trades", "value": "30"}]}))["data"]
        assert again["setRiskThreshold"]["threshold"]["params"] == {"min_trades": 30}
        trail = [a for a in await _audits(session_factory, "risk.threshold_set")
                 if a["entity_id"] == f"latency_arbitrage:{group}:*"]  # fmt: skip
        assert trail[-1]["before"]["min_trades"] == 20 and trail[-1]["after"]["min_trades"] == 30
    finally:
        cleared = (await dealer(CLEAR_TH, {"d": "latency_arbitrage", "g": group}))["data"]["clearRiskThreshold"]
    assert cleared == {"threshold": {"params": {"min_trades": 30.0}}, "errors": []}
    eff = (await dealer(EFFECTIVE, {"d": "latency_arbitrage", "g": group}))["data"]["riskEffectiveThresholds"]
    assert eff == detectors.DEFAULTS["latency_arbitrage"]
    assert await _count(session_factory, th_rows) == n0


IMPORT = """mutation($f: CalendarFormat!, $c: String!) { importRiskCalendar(format: $f, content: $c) {
  result { events added duplicates } errors { code field message } } }"""
EVENTS = """query($c: String) { riskCalendarEvents(currency: $c, first: 10) { nodes { id at currency impact title } } }"""
DELETE_EVENT = "mutation($i: ID!) { deleteRiskCalendarEvent(id: $i) { event { title } errors { code } } }"


async def test_calendar_import_csv_and_ics(http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    dealer = await _staff(http, session_factory, settings, "dealer")
    support = await _staff(http, session_factory, settings, "support")
    cur = "Q" + "".join(random.choices(string.ascii_uppercase, k=2))  # a code of our own: the rows are this test's
    csv_text = (f"time_utc,currency,impact,title\n2020-03-06T13:30:00Z,{cur},high,Non-Farm Payrolls\n"
                f"2020-03-06T15:00:00+01:00,{cur.lower()},Medium,Factory orders\n")
    rows = "SELECT count(*) FROM risk_calendar"
    n0, audit0 = await _count(session_factory, rows), await _count(session_factory, AUDIT_RISK)
    assert _codes(await support(IMPORT, {"f": "CSV", "c": csv_text})) == {"FORBIDDEN"}
    # A file with bad lines: every one reported with its line and a typed error; nothing stored.
    broken = csv_text + f"yesterday,{cur},high,Broken\n2020-03-06T16:00:00Z,{cur},extreme,\n"
    body = (await dealer(IMPORT, {"f": "CSV", "c": broken}))["data"]["importRiskCalendar"]
    assert body["result"] is None
    assert [(e["code"], e["field"], e["message"].split(":")[0]) for e in body["errors"]] == [
        ("RISK_CALENDAR_TIME_INVALID", "content", "line 4"), ("RISK_CALENDAR_IMPACT_INVALID", "content", "line 5"),
        ("RISK_CALENDAR_TITLE_INVALID", "content", "line 5")]  # fmt: skip
    header = (await dealer(IMPORT, {"f": "CSV", "c": "when,what\n1,2\n"}))["data"]["importRiskCalendar"]
    assert _errs(header) == ["RISK_CALENDAR_INVALID"]
    not_ics = (await dealer(IMPORT, {"f": "ICS", "c": csv_text}))["data"]["importRiskCalendar"]
    assert _errs(not_ics) == ["RISK_CALENDAR_INVALID"]
    assert await _count(session_factory, rows) == n0 and await _count(session_factory, AUDIT_RISK) == audit0

    first = (await dealer(IMPORT, {"f": "CSV", "c": csv_text}))["data"]["importRiskCalendar"]
    assert first == {"result": {"events": 2, "added": 2, "duplicates": 0}, "errors": []}
    again = (await dealer(IMPORT, {"f": "CSV", "c": csv_text}))["data"]["importRiskCalendar"]
    assert again == {"result": {"events": 2, "added": 0, "duplicates": 2}, "errors": []}
    ics = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//broker//calendar//EN",
        "BEGIN:VEVENT", "UID:a@x", "DTSTAMP:20200301T000000Z", "DTSTART:20200306T133000Z",
        f"SUMMARY:{cur}: Non-Farm Payrolls", "CATEGORIES:High Impact", "END:VEVENT",  # the CSV's first: known
        "BEGIN:VEVENT", "UID:b@x", "DTSTAMP:20200301T000000Z", "DTSTART;TZID=Europe/Berlin:20200310T100000",
        "SUMMARY:CPI - Low Impact", f"CATEGORIES:{cur}", "END:VEVENT",
        "BEGIN:VEVENT", "UID:c@x", "DTSTAMP:20200301T000000Z", "DTSTART:20200311T120000Z",
        f"SUMMARY:[{cur}] Rate decision", "PRIORITY:1", "END:VEVENT",
        "END:VCALENDAR", ""])  # fmt: skip
    bad_ics = ics.replace("DTSTART:20200311T120000Z", "DTSTART;VALUE=DATE:20200311").replace(
        f"CATEGORIES:{cur}", "CATEGORIES:Economy")
    body = (await dealer(IMPORT, {"f": "ICS", "c": bad_ics}))["data"]["importRiskCalendar"]
    assert [(e["code"], e["message"].split(":")[0]) for e in body["errors"]] == [
        ("RISK_CALENDAR_CURRENCY_INVALID", "line 11"), ("RISK_CALENDAR_TIME_INVALID", "line 18")]
    imported = (await dealer(IMPORT, {"f": "ICS", "c": ics}))["data"]["importRiskCalendar"]
    assert imported == {"result": {"events": 3, "added": 2, "duplicates": 1}, "errors": []}

    events = (await dealer(EVENTS, {"c": cur}))["data"]["riskCalendarEvents"]["nodes"]
    assert [(e["at"][:19], e["impact"], e["title"]) for e in events] == [
        ("2020-03-06T13:30:00", "HIGH", "Non-Farm Payrolls"), ("2020-03-06T14:00:00", "MEDIUM", "Factory orders"),
        ("2020-03-10T09:00:00", "LOW", "CPI"), ("2020-03-11T12:00:00", "HIGH", "Rate decision")]  # fmt: skip
    audited = await _audits(session_factory, "risk.calendar_imported")
    assert audited[-1]["after"] == {"format": "ics", "events": 3, "added": 2}
    for e in events:
        assert (await dealer(DELETE_EVENT, {"i": e["id"]}))["data"]["deleteRiskCalendarEvent"]["errors"] == []
    again_gone = (await dealer(DELETE_EVENT, {"i": events[0]["id"]}))["data"]["deleteRiskCalendarEvent"]
    assert _errs(again_gone) == ["RISK_CALENDAR_EVENT_NOT_FOUND"]
    assert await _count(session_factory, rows) == n0


LINK = """mutation($a: ID!, $b: ID!, $k: AccountLinkKind!, $d: String!) { linkRiskAccounts(accountA: $a, accountB: $b,
  kind: $k, detail: $d) { link { accountA accountB kind detail loginA } errors { code field } } }"""
UNLINK = """mutation($a: ID!, $b: ID!, $k: AccountLinkKind!) { unlinkRiskAccounts(accountA: $a, accountB: $b,
  kind: $k) { link { kind } errors { code field } } }"""
LINKS = "query($a: ID) { riskAccountLinks(accountId: $a) { nodes { accountA accountB kind detail } } }"


async def test_account_links(http: httpx.AsyncClient, session_factory: Any, settings: Any, world: World) -> None:
    w = world
    dealer = await _staff(http, session_factory, settings, "dealer")
    compliance = await _staff(http, session_factory, settings, "compliance")
    async with session_factory() as s, s.begin():
        other = int(await s.scalar(text(
            "INSERT INTO trading_accounts (server_id, login, user_id, \"group\", leverage, currency) "
            "VALUES (:s, :l, :u, 'desk\\b', 100, 'USD') RETURNING id"),
            {"s": w.server_id, "l": w.login + 1, "u": w.user_id}))  # fmt: skip
    rows = "SELECT count(*) FROM risk_account_links WHERE :x IN (account_a, account_b)"
    audit0 = await _count(session_factory, AUDIT_RISK)
    v = {"a": str(other), "b": str(w.account_id), "k": "SAME_PERSON", "d": "same passport"}
    assert _codes(await compliance(LINK, v)) == {"FORBIDDEN"}
    bad = [(await dealer(LINK, {**v, **x}))["data"]["linkRiskAccounts"] for x in (
        {"b": str(other)}, {"b": "999999999"}, {"a": "nope"}, {"d": "x" * 201})]
    assert [(_errs(b), b["errors"][0]["field"]) for b in bad] == [
        (["RISK_ACCOUNT_LINK_INVALID"], "accountB"), (["RISK_ACCOUNT_NOT_FOUND"], "accountB"),
        (["RISK_ACCOUNT_NOT_FOUND"], "accountA"), (["RISK_ACCOUNT_LINK_INVALID"], "detail")]  # fmt: skip
    missing = (await dealer(UNLINK, {"a": v["a"], "b": v["b"], "k": "SAME_IP"}))["data"]["unlinkRiskAccounts"]
    assert _errs(missing) == ["RISK_ACCOUNT_LINK_NOT_FOUND"]
    assert await _count(session_factory, rows, x=other) == 0 and await _count(session_factory, AUDIT_RISK) == audit0

    made = (await dealer(LINK, v))["data"]["linkRiskAccounts"]
    low, high = sorted((w.account_id, other))
    assert made == {"link": {"accountA": str(low), "accountB": str(high), "kind": "SAME_PERSON",
                             "detail": "same passport", "loginA": str(w.login if low == w.account_id else w.login + 1)},
                    "errors": []}  # fmt: skip
    twice = (await dealer(LINK, v))["data"]["linkRiskAccounts"]
    assert twice["errors"] == [] and await _count(session_factory, rows, x=other) == 1
    await dealer(LINK, {**v, "k": "SAME_DEVICE", "d": ""})
    linked = await _audits(session_factory, "risk.accounts_linked")
    assert [a["entity_id"] for a in linked if a["entity_id"].startswith(f"{low}:{high}:")] == [
        f"{low}:{high}:person", f"{low}:{high}:device"]
    listed = (await dealer(LINKS, {"a": str(other)}))["data"]["riskAccountLinks"]["nodes"]
    assert sorted(x["kind"] for x in listed) == ["SAME_DEVICE", "SAME_PERSON"]
    # The hedging detector sees the declared links.
    async with session_factory() as s:
        kinds = list(await s.scalars(text(
            "SELECT kind FROM risk_account_links WHERE account_a = :a AND account_b = :b ORDER BY kind"),
            {"a": low, "b": high}))  # fmt: skip
    assert kinds == ["device", "person"]

    done = (await dealer(UNLINK, {"a": v["b"], "b": v["a"], "k": "SAME_PERSON"}))["data"]["unlinkRiskAccounts"]
    assert done == {"link": {"kind": "SAME_PERSON"}, "errors": []}
    await dealer(UNLINK, {"a": v["a"], "b": v["b"], "k": "SAME_DEVICE"})
    assert (await dealer(LINKS, {"a": str(other)}))["data"]["riskAccountLinks"]["nodes"] == []
    unlinked = [a for a in await _audits(session_factory, "risk.accounts_unlinked")
                if a["entity_id"] == f"{low}:{high}:person"]  # fmt: skip
    assert unlinked[-1]["before"]["detail"] == "same passport"
