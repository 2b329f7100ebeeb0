"""Leverage changes on a live account: at or below the cap auto-approved and set on the platform,
no cap configured -> a dealer decides, above the cap refused with no trace; the platform (the
simulator, read back through the MT5 adapter) ends at the recorded leverage, and a failed
platform call is retried by the job."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from domain.clients import leverage
from domain.clients.accounts import open_live_account
from jobs.clients import apply_leverage_changes
from tests.clients.flow import DECIDE, SUBMIT, snapshot, to_documents
from tests.clients.test_live_account import DEALER
from tests.conftest import GraphQLClient
from tests.identity.staff import make_staff
from tests.ids import db_id

REQUEST = """mutation($a: ID!, $l: Int!) { requestLeverageChange(accountId: $a, leverage: $l) {
  request { id status fromLeverage toLeverage cap autoApproved } errors { field code } } }"""
DECIDE_LEVERAGE = """mutation($i: ID!, $ok: Boolean!, $r: String!) { decideLeverageChange(id: $i, approve: $ok, reason: $r) {
  request { id status toLeverage } errors { field code } } }"""
MINE = "{ myLeverageRequests(first: 10) { edges { node { id status toLeverage } } pageInfo { hasNextPage } } }"


async def _active(http: httpx.AsyncClient, session_factory: Any, settings: Any, upload_url: str,
                  country: str = "DE") -> tuple[GraphQLClient, str, int]:
    """An approved client with a live account on the simulator: (client, account id, login)."""
    phone = {"SC": "+248 2 510 123"}.get(country, "+49 30 901820")
    client, _, client_id = await to_documents(http, session_factory, upload_url, country=country, phone=phone)
    assert (await client(SUBMIT))["data"]["submitApplication"]["errors"] == []
    compliance = await make_staff(http, session_factory, settings, ["compliance"])
    await compliance.client(DECIDE, {"c": client_id, "d": "APPROVE", "r": "ok"})
    request = await open_live_account(session_factory, settings, DEALER, db_id(client_id))
    assert request.trading_account_id is not None
    return client, str(request.trading_account_id), request.login


async def _on_platform(client_sim: Any, login: int) -> int:
    platform = client_sim.platform()
    try:
        return int((await platform.get_account(login)).leverage)
    finally:
        await platform.aclose()


async def _trail(session_factory: Any, account_id: str) -> list[tuple[str, str]]:
    async with session_factory() as s:
        rows = await s.execute(text(
            "SELECT action, category FROM audit_events WHERE entity_type = 'trading_account' AND entity_id = :a "
            "AND action LIKE 'leverage_change.%' ORDER BY id"), {"a": account_id})
        return [(a, c) for a, c in rows]


async def _counts(session_factory: Any) -> dict[str, Any]:
    counts: dict[str, Any] = await snapshot(session_factory)
    async with session_factory() as s:
        counts["leverage_requests"] = await s.scalar(text("SELECT count(*) FROM leverage_requests"))
        counts["leverages"] = list(await s.execute(text("SELECT id, leverage FROM trading_accounts ORDER BY id")))
    return counts


async def test_within_cap_is_auto_approved_and_above_cap_refused_without_trace(
        http: httpx.AsyncClient, session_factory: Any, settings: Any, upload_url: str, brokerage: int,
        client_sim: Any) -> None:
    # given a German retail client (ESMA: 30:1 on FX majors) with an account opened at the cap
    client, account_id, login = await _active(http, session_factory, settings, upload_url)
    assert await _on_platform(client_sim, login) == 30

    # when they ask for 10:1, then then back up to 30:1
    down = (await client(REQUEST, {"a": account_id, "l": 10}))["data"]["requestLeverageChange"]
    assert down["errors"] == [] and down["request"] == {**down["request"], "status": "applied", "autoApproved": True,
                                                         "fromLeverage": 30, "toLeverage": 10, "cap": 30}
    assert await _on_platform(client_sim, login) == 10
    up = (await client(REQUEST, {"a": account_id, "l": 30}))["data"]["requestLeverageChange"]
    assert up["request"]["status"] == "applied" and await _on_platform(client_sim, login) == 30

    # then above the cap is refused and leaves nothing behind, on the platform either
    before = await _counts(session_factory)
    above = (await client(REQUEST, {"a": account_id, "l": 31}))["data"]["requestLeverageChange"]
    assert above == {"request": None, "errors": [{"field": "leverage", "code": "LEVERAGE_ABOVE_CAP"}]}
    assert await _counts(session_factory) == before
    assert await _on_platform(client_sim, login) == 30
    assert await _trail(session_factory, account_id) == [
        ("leverage_change.requested", "leverage_change"), ("leverage_change.applied", "leverage_change")] * 2
    mine = (await client(MINE))["data"]["myLeverageRequests"]
    assert [e["node"]["toLeverage"] for e in mine["edges"]] == [30, 10]


async def test_uncapped_change_waits_for_a_dealer(http: httpx.AsyncClient, session_factory: Any, settings: Any,
                                                  upload_url: str, brokerage: int, client_sim: Any) -> None:
    # given a client in an unregulated jurisdiction with no cap configured (account at 100:1)
    client, account_id, login = await _active(http, session_factory, settings, upload_url, country="SC")
    asked = (await client(REQUEST, {"a": account_id, "l": 200}))["data"]["requestLeverageChange"]["request"]
    assert asked["status"] == "pending" and asked["autoApproved"] is False and asked["cap"] is None
    assert await _on_platform(client_sim, login) == 100
    # a second request while one is open is refused
    second = (await client(REQUEST, {"a": account_id, "l": 300}))["data"]["requestLeverageChange"]
    assert second["errors"] == [{"field": "accountId", "code": "LEVERAGE_REQUEST_PENDING"}]

    # staff without trading.manage cannot decide; a dealer approves and the platform follows
    compliance = await make_staff(http, session_factory, settings, ["compliance"])
    refused = await compliance.client(DECIDE_LEVERAGE, {"i": asked["id"], "ok": True, "r": ""})
    assert refused["data"] is None or refused["data"]["decideLeverageChange"] is None
    dealer = await make_staff(http, session_factory, settings, ["dealer"])
    approved = (await dealer.client(DECIDE_LEVERAGE, {"i": asked["id"], "ok": True, "r": "experienced"})
                )["data"]["decideLeverageChange"]
    assert approved == {"request": {"id": asked["id"], "status": "applied", "toLeverage": 200}, "errors": []}
    assert await _on_platform(client_sim, login) == 200
    again = (await dealer.client(DECIDE_LEVERAGE, {"i": asked["id"], "ok": False, "r": "no"})
             )["data"]["decideLeverageChange"]
    assert again["errors"] == [{"field": "id", "code": "INVALID_STATUS_TRANSITION"}]

    # a rejection needs a reason and leaves the platform alone
    third = (await client(REQUEST, {"a": account_id, "l": 500}))["data"]["requestLeverageChange"]["request"]
    no_reason = (await dealer.client(DECIDE_LEVERAGE, {"i": third["id"], "ok": False, "r": " "})
                 )["data"]["decideLeverageChange"]
    assert no_reason["errors"] == [{"field": "reason", "code": "VALIDATION_FAILED"}]
    rejected = (await dealer.client(DECIDE_LEVERAGE, {"i": third["id"], "ok": False, "r": "too high"})
                )["data"]["decideLeverageChange"]
    assert rejected["request"]["status"] == "rejected" and await _on_platform(client_sim, login) == 200
    assert [a for a, _ in await _trail(session_factory, account_id)] == [
        "leverage_change.requested", "leverage_change.approved", "leverage_change.applied",
        "leverage_change.requested", "leverage_change.rejected"]


async def test_failed_platform_call_is_retried_by_the_job(http: httpx.AsyncClient, session_factory: Any,
                                                          settings: Any, upload_url: str, brokerage: int,
                                                          client_sim: Any) -> None:
    client, account_id, login = await _active(http, session_factory, settings, upload_url, country="SC")
    asked = (await client(REQUEST, {"a": account_id, "l": 50}))["data"]["requestLeverageChange"]["request"]

    class Down:
        async def update_account(self, login: int, **changes: Any) -> Any:
            raise ConnectionError("platform unreachable")

        async def aclose(self) -> None:
            return None

    async with session_factory() as s, s.begin():
        row = await leverage.request_for(s, db_id(asked["id"]))
        await leverage.decide(s, DEALER, row, approve=True, reason="ok")
    stuck = await leverage.apply(session_factory, settings, DEALER, db_id(asked["id"]),
                                 platforms=lambda server: Down())  # type: ignore[arg-type,return-value]
    assert stuck.status == "approved" and await _on_platform(client_sim, login) == 100

    # the retry job applies it, and running it twice records it once
    ctx = {"session_factory": session_factory, "settings": settings}
    await apply_leverage_changes(ctx)
    await apply_leverage_changes(ctx)
    assert await _on_platform(client_sim, login) == 50
    assert [a for a, _ in await _trail(session_factory, account_id)].count("leverage_change.applied") == 1
    mine = (await client(MINE))["data"]["myLeverageRequests"]["edges"]
    assert mine[0]["node"] == {"id": asked["id"], "status": "applied", "toLeverage": 50}
