"""The dealing desk over HTTP and WebSocket: queries, review and override (with refusals that change
nothing), the what-if worked example, and the throttled live exposure stream."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.risk import exposure, whatif
from domain.shared.db import in_transaction
from schema.node import global_id
from tests.identity.staff import make_staff
from tests.risk.desk_world import A_GROUP, World, drop_world, make_world
from tests.wsclient import graphql_ws

QUERIES = {
    "flags": "{ riskFlags(first: 50) { nodes { id detector status evidence } pageInfo { hasNextPage } } }",
    "rules": "{ riskRules { thresholds { detector isDefault params } segmentRules { name } limits { key } } }",
}
REVIEW = "mutation($i: ID!, $d: FlagDecision!, $n: String!) { reviewRiskFlag(id: $i, decision: $d, note: $n) {" \
         " flag { id status reviewNote } errors { code field } } }"
OVERRIDE = "mutation($c: ID!, $b: Book!, $p: Decimal!, $r: String!) { overrideSegment(clientId: $c, book: $b, " \
           "aBookPercent: $p, reason: $r) { assignments { accountId book aBookPercent targetGroup syncStatus " \
           "source } errors { code field } } }"
WHAT_IF = "query($c: [ID!]!, $b: Book!, $p: Decimal!, $s: DateTime!, $u: DateTime) { riskWhatIf(clientIds: $c, " \
          "book: $b, aBookPercent: $p, since: $s, until: $u) { lines { symbol closingDeals clientPnlUsd " \
          "brokerPnlActualUsd brokerPnlWhatIfUsd clientNetLots brokerNetLotsActual brokerNetLotsWhatIf } " \
          "total { brokerPnlWhatIfUsd } } }"


@pytest.fixture
async def world(http: httpx.AsyncClient, session_factory: Any) -> AsyncIterator[World]:
    w = await make_world(http, session_factory)
    yield w
    await drop_world(session_factory, w)


_STAFF: dict[str, Any] = {}


async def _staff(http: httpx.AsyncClient, session_factory: Any, settings: Any, role: str) -> Any:
    """One signed-in staff user per role for this module (sign-ins are rate limited)."""
    if role not in _STAFF:
        _STAFF[role] = await make_staff(http, session_factory, settings, [role])
    staff = _STAFF[role]
    staff.client.http = http
    return staff


def _codes(body: dict[str, Any]) -> set[str]:
    return {e.get("extensions", {}).get("code") for e in body.get("errors") or []}


async def _count(factory: Any, sql: str, **params: Any) -> int:
    async with factory() as s:
        return int(await s.scalar(text(sql), params) or 0)


async def test_desk_reads_for_risk_read_and_forbidden_without(
    http: httpx.AsyncClient, session_factory: Any, settings: Any, world: World
) -> None:
    w = world
    async with session_factory() as s, s.begin():
        await exposure.take_snapshot(s)
    compliance = (await _staff(http, session_factory, settings, "compliance")).client
    sales = (await _staff(http, session_factory, settings, "sales")).client
    reads = {
        **QUERIES,
        "top": ("query($y: String!) { riskTopClients(symbol: $y) { accountId clientUserId login netLots positions } }",
                {"y": w.symbol}),
        "history": ("query($y: String!, $a: DateTime!, $b: DateTime!) { riskExposureHistory(symbol: $y, since: $a, "
                    "until: $b) { takenAt netLots } }",
                    {"y": w.symbol, "a": (w.t0 - timedelta(days=1)).isoformat(),
                     "b": (w.t0 + timedelta(days=1)).isoformat()}),
        "client": ("query($c: ID!) { riskClientMetrics(clientId: $c) { accountIds closedTrades winRate realisedPnl "
                   "riskScore holdDistribution } }", {"c": str(w.client_id)}),
        "account": ("query($a: ID!) { riskAccountMetrics(accountId: $a) { closedTrades } }",
                    {"a": str(w.account_id)}),
        "assignments": ("query($c: ID!) { riskSegmentAssignments(clientId: $c, currentOnly: false) { nodes { book "
                        "source effectiveAt } } }", {"c": str(w.client_id)}),
    }  # fmt: skip
    answers: dict[str, Any] = {}
    for name, q in reads.items():
        query, variables = (q, {}) if isinstance(q, str) else q
        body = await compliance(query, variables)
        assert "errors" not in body, (name, body)
        answers[name] = body["data"]
        refused = await sales(query, variables)
        assert _codes(refused) == {"FORBIDDEN"} and not any((refused.get("data") or {}).values()), (name, refused)
    flag = next(f for f in answers["flags"]["riskFlags"]["nodes"] if f["id"] == global_id("RiskFlagType", w.flag_id))
    assert flag["status"] == "OPEN" and flag["evidence"]["deals"] == [2, 5]
    assert answers["rules"]["riskRules"]["thresholds"][0]["isDefault"] is True
    assert {t["detector"] for t in answers["rules"]["riskRules"]["thresholds"]} >= {"hedging", "news"}
    assert answers["top"]["riskTopClients"] == [{"accountId": str(w.account_id), "clientUserId": str(w.user_id),
                                                 "login": w.login, "netLots": "2", "positions": 1}]
    assert [p["netLots"] for p in answers["history"]["riskExposureHistory"]][-1:] == ["2"]
    client = answers["client"]["riskClientMetrics"]
    assert client["accountIds"] == [str(w.account_id)] and client["closedTrades"] == 2
    assert client["realisedPnl"] == "290.00" and client["riskScore"] == 40 and client["winRate"] == 0.5
    assert answers["account"]["riskAccountMetrics"]["closedTrades"] == 2
    assert [a["source"] for a in answers["assignments"]["riskSegmentAssignments"]["nodes"]] == ["override"]
    missing = await compliance("{ riskClientMetrics(clientId: \"999999999\") { closedTrades } }")
    assert _codes(missing) == {"RISK_CLIENT_NOT_FOUND"}


async def test_review_flag_and_override_segment_need_manage_and_are_audited(
    http: httpx.AsyncClient, session_factory: Any, settings: Any, world: World
) -> None:
    w = world
    dealer = (await _staff(http, session_factory, settings, "dealer")).client
    compliance = (await _staff(http, session_factory, settings, "compliance")).client
    audit0 = await _count(session_factory, "SELECT count(*) FROM audit_events")
    assigned0 = await _count(session_factory, "SELECT count(*) FROM risk_assignments WHERE account_id = :a",
                             a=w.account_id)
    # Refused: no change anywhere.
    for body in (await compliance(REVIEW, {"i": str(w.flag_id), "d": "DISMISSED", "n": "fine"}),
                 await compliance(OVERRIDE, {"c": str(w.client_id), "b": "A", "p": "100", "r": "toxic"})):
        assert _codes(body) == {"FORBIDDEN"} and not any((body.get("data") or {}).values()), body
    bad = [
        (await dealer(REVIEW, {"i": str(w.flag_id), "d": "DISMISSED", "n": " "}))["data"]["reviewRiskFlag"],
        (await dealer(REVIEW, {"i": "999999999", "d": "CONFIRMED", "n": ""}))["data"]["reviewRiskFlag"],
        (await dealer(REVIEW, {"i": global_id("RiskAlertType", w.flag_id), "d": "CONFIRMED", "n": ""}))["data"]
        ["reviewRiskFlag"],
        (await dealer(OVERRIDE, {"c": str(w.client_id), "b": "A", "p": "100", "r": ""}))["data"]["overrideSegment"],
        (await dealer(OVERRIDE, {"c": "999999999", "b": "A", "p": "100", "r": "x"}))["data"]["overrideSegment"],
        (await dealer(OVERRIDE, {"c": str(w.client_id), "b": "HYBRID", "p": "120", "r": "x"}))["data"]
        ["overrideSegment"],
    ]  # fmt: skip
    assert [b["errors"][0]["code"] for b in bad] == [
        "RISK_FLAG_REVIEW_INVALID", "RISK_FLAG_NOT_FOUND", "INVALID_ID", "RISK_SEGMENT_RULE_INVALID",
        "RISK_CLIENT_NOT_FOUND", "RISK_SEGMENT_RULE_INVALID"]  # fmt: skip
    assert await _count(session_factory, "SELECT count(*) FROM audit_events") == audit0
    assert await _count(session_factory, "SELECT count(*) FROM risk_assignments WHERE account_id = :a",
                        a=w.account_id) == assigned0
    assert await _count(session_factory, "SELECT count(*) FROM risk_flags WHERE id = :i AND status = 'open'",
                        i=w.flag_id) == 1

    done = (await dealer(REVIEW, {"i": str(w.flag_id), "d": "DISMISSED", "n": "news scalper, fine"}))
    assert done["data"]["reviewRiskFlag"] == {"flag": {"id": global_id("RiskFlagType", w.flag_id), "status": "DISMISSED",
                                                       "reviewNote": "news scalper, fine"}, "errors": []}
    again = (await dealer(REVIEW, {"i": str(w.flag_id), "d": "CONFIRMED", "n": ""}))["data"]["reviewRiskFlag"]
    assert again["errors"][0]["code"] == "RISK_FLAG_REVIEW_INVALID"
    over = (await dealer(OVERRIDE, {"c": str(w.client_id), "b": "A", "p": "0", "r": "toxic flow"}))
    assert over["data"]["overrideSegment"] == {"assignments": [
        {"accountId": str(w.account_id), "book": "A", "aBookPercent": "100", "targetGroup": A_GROUP,
         "syncStatus": "pending", "source": "override"}], "errors": []}  # fmt: skip
    async with session_factory() as s:
        actions = list(await s.scalars(text(
            "SELECT action FROM audit_events WHERE action IN ('risk.flag_reviewed', 'risk.segment_assigned') "
            "AND (entity_id = :f OR entity_id = :a) ORDER BY id"), {"f": str(w.flag_id), "a": str(w.account_id)}))
    assert actions == ["risk.flag_reviewed", "risk.segment_assigned"]


async def test_what_if_worked_example(
    http: httpx.AsyncClient, session_factory: Any, settings: Any, world: World
) -> None:
    """Client P&L in the period: +490 (B-booked) and -200 (closed after the A-book assignment at +35m).
    Actual broker P&L: -490 x 100% + 200 x 0% = -490. Booked HYBRID 25% throughout: -290 x 75% = -217.50.
    Net lots at the end: 2 long; the broker keeps 0 (A-booked), or -1.5 at 25% A-book."""
    w = world
    since, until = w.t0, w.t0 + timedelta(hours=1)
    async with session_factory() as s:
        report = await whatif.what_if(s, [w.account_id], "HYBRID", Decimal(25), since, until)
    line = report.lines[0]
    assert (line.symbol, line.closing_deals, line.client_pnl_usd) == (w.symbol, 2, Decimal("290.00"))
    assert (line.broker_pnl_actual_usd, line.broker_pnl_what_if_usd) == (Decimal("-490.00"), Decimal("-217.50"))
    assert (line.client_net_lots, line.broker_net_lots_actual, line.broker_net_lots_what_if) == (
        Decimal(2), Decimal(0), Decimal("-1.5"))
    dealer = (await _staff(http, session_factory, settings, "dealer")).client
    variables = {"c": [str(w.client_id)], "b": "B", "p": "0", "s": since.isoformat(), "u": until.isoformat()}
    body = await dealer(WHAT_IF, variables)
    assert "errors" not in body, body
    got = body["data"]["riskWhatIf"]
    assert got["lines"][0]["brokerPnlWhatIfUsd"] == "-290.00" and got["lines"][0]["brokerNetLotsWhatIf"] == "-2"
    assert got["total"]["brokerPnlWhatIfUsd"] == "-290.00"
    sales = (await _staff(http, session_factory, settings, "sales")).client
    assert _codes(await sales(WHAT_IF, variables)) == {"FORBIDDEN"}
    bad = await dealer(WHAT_IF, {**variables, "u": (since - timedelta(hours=1)).isoformat()})
    assert _codes(bad) == {"RISK_WHAT_IF_INVALID"}


async def test_exposure_updates_are_throttled_and_the_last_state_arrives(
    http: httpx.AsyncClient, session_factory: Any, settings: Any, live_server: Any, relay: Any
) -> None:
    dealer = await _staff(http, session_factory, settings, "dealer")
    sales = await _staff(http, session_factory, settings, "sales")
    sub = "subscription { exposureUpdated(maxPerSecond: 2) { eventId source coalesced lines { symbol netLots } } }"
    async with graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {sales.client.token}"}) as ws:
        await ws.subscribe(sub)
        message = await ws.receive(timeout=5)
        assert message["type"] == "error" and message["payload"][0]["extensions"]["code"] == "FORBIDDEN"
    async with graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {dealer.client.token}"}) as ws:
        await ws.subscribe(sub)
        await asyncio.sleep(0.5)
        tag = f"burst-{time.monotonic_ns()}"

        async def burst() -> None:  # 20 updates over about a second, while the dashboard reads
            for i in range(20):
                await in_transaction(session_factory, partial(exposure.publish_update, source=f"{tag}:{i}"))
                await asyncio.sleep(0.05)

        publisher = asyncio.create_task(burst())
        got: list[tuple[float, dict[str, Any]]] = []
        while not got or got[-1][1]["source"] != f"{tag}:19":
            message = await ws.receive(timeout=5)
            assert message["type"] == "next", message
            update = message["payload"]["data"]["exposureUpdated"]
            if update["source"].startswith(tag):
                got.append((time.monotonic(), update))
        await publisher
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(got)]
    assert 2 <= len(got) <= 5, [u["source"] for _, u in got]  # ~1.5 s at 2 a second, not 20
    assert all(g >= 0.45 for g in gaps), gaps
    assert sum(u["coalesced"] for _, u in got) >= 20 - len(got) - 1
