"""Reports over HTTP: reports.read deny by default (a client, staff without it, a token without the
scope), desk scoping, drill-down rows summing to the figure, and bad input refused with nothing changed."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
from sqlalchemy import text

from domain.identity import api_tokens
from domain.identity.permissions import PERMISSIONS
from domain.ledger.wallets import deposit_to_wallet
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction
from jobs.reporting import sweep
from schema.node import global_id
from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.identity.staff import make_staff
from tests.reporting.world import DAY0, World, deal_rollup, ingest, make_world, random_deals

FIGURES = "deals volumeLots spreadMarkupUsd commissionUsd feeUsd swapUsd clientPnlUsd bBookPnlUsd netRevenueUsd " \
          "unpricedDeals"
REVENUE = f"""query($s: Date!, $u: Date!, $d: RevenueDimension!, $b: ReportBucket, $t: Int) {{
  revenueReport(since: $s, until: $u, dimension: $d, bucket: $b, top: $t) {{
    buckets lines {{ key other total {{ {FIGURES} }} points {{ bucket figures {{ deals netRevenueUsd }} }} }}
    total {{ {FIGURES} }} }} }}"""
DEALS = """query($s: Date!, $u: Date!, $d: RevenueDimension, $k: String, $a: String) {
  revenueReportDeals(since: $s, until: $u, dimension: $d, key: $k, first: 200, after: $a) {
    nodes { tradingServerId dealId desk book group netRevenueUsd commissionUsd volumeLots }
    pageInfo { hasNextPage endCursor } } }"""
MONEY = """query($s: Date!, $u: Date!, $d: MoneyFlowDimension!) {
  moneyFlowReport(since: $s, until: $u, dimension: $d) {
    lines { key other total { deposits depositsUsd withdrawals netDepositsUsd firstDeposits firstDepositsUsd } }
    total { deposits depositsUsd firstDeposits } } }"""
POSTINGS = """query($s: Date!, $u: Date!, $d: MoneyFlowDimension, $k: String, $f: Boolean) {
  moneyFlowReportPostings(since: $s, until: $u, direction: DEPOSIT, dimension: $d, key: $k, firstDeposits: $f,
                          first: 200) { nodes { userId amount amountUsd desk firstDeposit } } }"""
FUNNEL = "query($s: Date!, $u: Date!, $d: FunnelDimension!) { funnelReport(since: $s, until: $u, dimension: $d) " \
         "{ total { registered } } }"
REBUILD = "mutation($s: Date!, $u: Date!) { rebuildReportRollups(since: $s, until: $u) { rebuild { dealRows } " \
          "errors { code field } } }"
MARKUP = "mutation($i: ID!, $g: String!, $p: Decimal!) { setReportSpreadMarkup(serverId: $i, group: $g, " \
         "markupPips: $p) { spreadMarkup { group markupPips } errors { code field } } }"


def _codes(body: dict[str, Any]) -> set[str]:
    return {str((e.get("extensions") or {}).get("code")) for e in body.get("errors") or []}


async def _world(session_factory: Any, n: int = 120) -> World:
    world = await make_world(session_factory)
    await ingest(session_factory, world, random_deals(world, random.Random(11), n))
    await sweep(session_factory)
    return world


async def _all_deals(client: GraphQLClient, variables: dict[str, Any]) -> list[dict[str, Any]]:
    out, after = [], None
    while True:
        body = await client(DEALS, {**variables, "a": after})
        assert "errors" not in body, body
        page = body["data"]["revenueReportDeals"]
        out += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


PERIOD = {"s": DAY0.isoformat(), "u": (DAY0 + timedelta(days=3)).isoformat()}


async def test_reports_are_closed_to_clients_staff_without_reports_read_and_tokens_without_the_scope(
    http: httpx.AsyncClient, session_factory: Any, settings: Any
) -> None:
    client = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    support = (await make_staff(http, session_factory, settings, ["support"])).client
    staff = await make_staff(http, session_factory, settings, ["administrator"])
    actor = Actor(ActorKind.STAFF, user_id=staff.user_id, permissions=frozenset(PERMISSIONS), stepped_up_at=time.time())
    async with session_factory() as s, s.begin():
        other_scope = (await api_tokens.create(s, settings, actor, name="t", scopes=["trading.read"],
                                               expires_in_days=1)).plaintext
        with_scope = (await api_tokens.create(s, settings, actor, name="t", scopes=["reports.read"],
                                              expires_in_days=1)).plaintext
    variables = {**PERIOD, "d": "SYMBOL"}
    for who, code in ((client, "FORBIDDEN"), (support, "FORBIDDEN"), (GraphQLClient(http), "UNAUTHENTICATED"),
                      (GraphQLClient(http, other_scope), "INSUFFICIENT_SCOPE")):
        for query, vs in ((REVENUE, variables), (MONEY, {**PERIOD, "d": "METHOD"}), (DEALS, {**PERIOD}),
                          (POSTINGS, {**PERIOD}), (FUNNEL, {**PERIOD, "d": "COUNTRY"})):
            body = await who(query, vs)
            assert body.get("data") is None and _codes(body) == {code}, (code, body)
    body = await GraphQLClient(http, with_scope)(REVENUE, variables)
    assert "errors" not in body, body
    # the upkeep needs reports.manage, which reports.read alone does not give
    assert _codes(await GraphQLClient(http, with_scope)(REBUILD, PERIOD)) == {"INSUFFICIENT_SCOPE"}


async def test_desk_staff_see_their_desk_back_office_every_desk_and_drill_rows_sum_to_each_figure(
    http: httpx.AsyncClient, session_factory: Any, settings: Any
) -> None:
    world = await _world(session_factory)
    rows = await deal_rollup(session_factory, world.server_id)
    mine = [r for r in rows if r[4] == world.desk]
    assert mine and len(mine) < len(rows)
    desk_staff = (await make_staff(http, session_factory, settings, ["ib_manager"], desk=world.desk)).client
    deskless = (await make_staff(http, session_factory, settings, ["ib_manager"])).client
    finance = (await make_staff(http, session_factory, settings, ["finance"])).client

    # by desk: desk staff see only their desk's line; staff without a desk see nothing; finance every desk
    by_desk = {**PERIOD, "d": "DESK", "t": 50}
    seen = (await desk_staff(REVENUE, by_desk))["data"]["revenueReport"]
    assert [x["key"] for x in seen["lines"]] == [world.desk]
    assert seen["total"]["deals"] == sum(r[5] for r in mine)
    assert (await deskless(REVENUE, by_desk))["data"]["revenueReport"]["lines"] == []
    every = {x["key"] for x in (await finance(REVENUE, by_desk))["data"]["revenueReport"]["lines"]}
    assert {world.desk, world.other_desk} <= every

    # drill: each symbol line's deals (desk-scoped) sum to the line's figures, per component
    by_symbol = (await desk_staff(REVENUE, {**PERIOD, "d": "SYMBOL", "b": "WEEK"}))["data"]["revenueReport"]
    assert by_symbol["buckets"] == [(DAY0 - timedelta(days=DAY0.weekday())).isoformat()]
    for line in by_symbol["lines"]:
        deals = await _all_deals(desk_staff, {**PERIOD, "d": "SYMBOL", "k": line["key"]})
        assert {d["desk"] for d in deals} == {world.desk}
        assert len(deals) == line["total"]["deals"]
        assert sum(Decimal(d["netRevenueUsd"]) for d in deals if d["netRevenueUsd"]) == \
            Decimal(line["total"]["netRevenueUsd"])
        assert sum(Decimal(d["commissionUsd"]) for d in deals if d["commissionUsd"]) == \
            Decimal(line["total"]["commissionUsd"])
        assert sum(Decimal(d["volumeLots"]) for d in deals) == Decimal(line["total"]["volumeLots"])
    # the other desk's deals are not among any drill of the desk staff
    other = await _all_deals(desk_staff, {**PERIOD, "d": "DESK", "k": world.other_desk})
    assert other == []
    # top 1 by book: one line of its own, the rest in "other", the lines adding up to the total
    top1 = (await finance(REVENUE, {**PERIOD, "d": "BOOK", "t": 1}))["data"]["revenueReport"]
    assert len(top1["lines"]) == 2 and top1["lines"][1]["other"] is True and top1["lines"][1]["key"] is None
    assert sum(x["total"]["deals"] for x in top1["lines"]) == top1["total"]["deals"]


async def test_money_flow_by_country_drills_to_postings_and_first_deposits(
    http: httpx.AsyncClient, session_factory: Any, settings: Any
) -> None:
    world = await make_world(session_factory)
    actor = system_actor("tests.reporting")
    for i, uid in enumerate(world.user_ids):
        for k in range(2):
            await in_transaction(session_factory, partial(
                deposit_to_wallet, actor=actor, user_id=uid, currency="USD", amount=Decimal(50 + i + k),
                idempotency_key=f"api-{uid}-{k}"))
    await sweep(session_factory)
    desk_staff = (await make_staff(http, session_factory, settings, ["ib_manager"], desk=world.desk)).client
    async with session_factory() as s:
        today = await s.scalar(text("SELECT (now() AT TIME ZONE 'UTC')::date"))
    period = {"s": today.isoformat(), "u": (today + timedelta(days=1)).isoformat()}
    report = (await desk_staff(MONEY, {**period, "d": "COUNTRY"}))["data"]["moneyFlowReport"]
    mine = [i for i in range(len(world.user_ids)) if i % 3]  # the world's desk: accounts 1, 2, 4, 5
    assert report["total"]["deposits"] == 2 * len(mine)
    assert report["total"]["firstDeposits"] == len(mine)
    for line in report["lines"]:
        posts = (await desk_staff(POSTINGS, {**period, "d": "COUNTRY", "k": line["key"]}))["data"][
            "moneyFlowReportPostings"]["nodes"]
        assert sum(Decimal(p["amountUsd"]) for p in posts) == Decimal(line["total"]["depositsUsd"])
        firsts = (await desk_staff(POSTINGS, {**period, "d": "COUNTRY", "k": line["key"], "f": True}))["data"][
            "moneyFlowReportPostings"]["nodes"]
        assert len(firsts) == line["total"]["firstDeposits"]
        assert sum(Decimal(p["amount"]) for p in firsts) == Decimal(line["total"]["firstDepositsUsd"])


async def test_bad_input_gets_typed_errors_and_changes_nothing(
    http: httpx.AsyncClient, session_factory: Any, settings: Any
) -> None:
    world = await _world(session_factory, 30)
    finance = (await make_staff(http, session_factory, settings, ["finance"])).client
    before = await deal_rollup(session_factory, world.server_id)

    async def audits() -> int:
        async with session_factory() as s:
            return int(await s.scalar(text("SELECT count(*) FROM audit_events WHERE action LIKE 'reporting.%'")))

    audit_before = await audits()
    reversed_ = {"s": PERIOD["u"], "u": PERIOD["s"]}
    assert _codes(await finance(REVENUE, {**reversed_, "d": "SYMBOL"})) == {"REPORT_PERIOD_INVALID"}
    assert _codes(await finance(DEALS, reversed_)) == {"REPORT_PERIOD_INVALID"}
    assert _codes(await finance(REVENUE, {**PERIOD, "d": "SYMBOL", "t": 0})) == {"REPORT_DIMENSION_INVALID"}
    unknown = await finance(REVENUE, {**PERIOD, "d": "PLANET"})
    assert unknown.get("data") is None and _codes(unknown) == {"BAD_USER_INPUT"}
    body = await finance(REBUILD, reversed_)
    assert body["data"]["rebuildReportRollups"] == {"rebuild": None,
                                                    "errors": [{"code": "REPORT_PERIOD_INVALID", "field": "until"}]}
    sid = global_id("TradingServer", world.server_id)
    for args, code in (({"i": sid, "g": "rep\\b", "p": "-1"}, "REPORT_MARKUP_INVALID"),
                       ({"i": sid, "g": " ", "p": "1"}, "REPORT_MARKUP_INVALID"),
                       ({"i": global_id("TradingServer", 10**12), "g": "x", "p": "1"}, "REPORT_SERVER_NOT_FOUND")):
        out = (await finance(MARKUP, args))["data"]["setReportSpreadMarkup"]
        assert out["spreadMarkup"] is None and [e["code"] for e in out["errors"]] == [code]
    assert await deal_rollup(session_factory, world.server_id) == before
    assert await audits() == audit_before
    async with session_factory() as s:
        assert await s.scalar(text("SELECT markup_pips FROM reporting_spread_markups WHERE server_id = :s AND "
                                   "grp = 'rep\\b'"), {"s": world.server_id}) == Decimal("0.7")

    # and the good path: a markup set, then a rebuild that applies it (audited)
    ok = (await finance(MARKUP, {"i": sid, "g": "rep\\a", "p": "1.5"}))["data"]["setReportSpreadMarkup"]
    assert ok == {"spreadMarkup": {"group": "rep\\a", "markupPips": "1.5"}, "errors": []}
    done = (await finance(REBUILD, PERIOD))["data"]["rebuildReportRollups"]
    assert done["errors"] == [] and done["rebuild"]["dealRows"] > 0
    assert await audits() == audit_before + 2
