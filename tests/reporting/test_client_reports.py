"""Client reports over HTTP: lifetime value and cohorts, IB return, geography and attribution, LP costs.

Each figure is compared with a reference computed from the test's own rows: the deals of each client listed
by the revenue drill-down (per deal, from the raw deals), the deposits the test made, the commission lines it
wrote. The database is shared: desk staff of the test world's own desk read the reports, so only the test's
clients are in them."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
from sqlalchemy import text

from domain.ledger.wallets import deposit_to_wallet
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from jobs.reporting import sweep
from schema.node import global_id
from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.identity.staff import make_staff
from tests.reporting.world import DAY0, GROUPS, World, deal_rollup, ingest, make_world, random_deals

CLIENT_FIGURES = "registrations firstDeposits firstDepositsUsd firstTrades tradingClients depositingClients deals " \
                 "volumeLots depositsUsd withdrawalsUsd netDepositsUsd netRevenueUsd"
CLIENT_REPORT = f"""query($s: Date!, $u: Date!, $d: ClientReportDimension!) {{
  clientReport(since: $s, until: $u, dimension: $d) {{ lines {{ key figures {{ {CLIENT_FIGURES} }} }}
    total {{ {CLIENT_FIGURES} }} source {{ replica reason }} }} }}"""
COHORTS = """query($s: Date!, $u: Date!) { cohortReport(since: $s, until: $u) { cohorts { month clients
  firstDepositsUsd lifetimeNetRevenueUsd averageLifetimeValueUsd lifetimeNetDepositsUsd
  months { monthsSince depositingClients tradingClients netRevenueUsd } } source { replica } } }"""
IB_FIGURES = "clients newClients tradingClients deals volumeLots depositsUsd netRevenueUsd commissionsUsd returnUsd"
IB_RETURN = f"""query($s: Date!, $u: Date!, $i: Int, $t: Int) {{
  ibReturnReport(since: $s, until: $u, ibUserId: $i, top: $t) {{ lines {{ ibUserId direct {{ {IB_FIGURES} }}
    subtree {{ {IB_FIGURES} }} }} total {{ {IB_FIGURES} }} }} }}"""
CLIENTS = """query($s: Date!, $u: Date!, $d: ClientReportDimension, $k: String, $c: Date, $i: Int, $t: Boolean) {
  reportClients(since: $s, until: $u, dimension: $d, key: $k, cohortMonth: $c, ibUserId: $i, subtree: $t,
                first: 100) { nodes { userId country region campaign deals volumeLots depositsUsd netRevenueUsd
                lifetimeNetRevenueUsd firstDepositInPeriod registeredInPeriod firstTradeDay }
                source { replica reason } } }"""
LINES = """query($s: Date!, $u: Date!, $i: Int!, $t: Boolean) {
  reportIbCommissionLines(since: $s, until: $u, ibUserId: $i, subtree: $t, first: 100) {
    nodes { ibUserId clientUserId amountUsd } } }"""
DEALS = """query($s: Date!, $u: Date!, $w: Int, $a: String) {
  revenueReportDeals(since: $s, until: $u, userId: $w, first: 200, after: $a) {
    nodes { time login netRevenueUsd lpCostUsd volumeLots symbol } pageInfo { hasNextPage endCursor }
    source { replica reason } } }"""
REVENUE = """query($s: Date!, $u: Date!) { revenueReport(since: $s, until: $u, dimension: DESK) {
  lines { key total { lpCostUsd netRevenueUsd deals } } } }"""
LP = "mutation($i: ID!, $y: String!, $p: Decimal!) { setReportLpCommission(serverId: $i, symbol: $y, " \
     "perLotUsd: $p) { lpCommission { symbol perLotUsd } errors { code field } } }"
LP_PER_LOT = Decimal("2.5")
A_BOOK_PCT = {GROUPS[0]: 0, GROUPS[1]: 100, GROUPS[2]: 40, GROUPS[3]: 0}


def _codes(body: dict[str, Any]) -> set[str]:
    return {str((e.get("extensions") or {}).get("code")) for e in body.get("errors") or []}


async def _drain(session_factory: Any) -> None:
    for _ in range(50):  # other tests' batches may be pending too
        if (await sweep(session_factory))["batches"] == 0:
            return


async def _new_ib(s: Any, tag: str, parent: int | None) -> int:
    uid = int(await s.scalar(text(
        "INSERT INTO users (email, email_normalized) VALUES (:e, :e) RETURNING id"), {"e": f"ib-{tag}@example.com"}))
    await s.execute(text("INSERT INTO ib_partners (user_id, status) VALUES (:u, 'approved')"), {"u": uid})
    at = datetime(2024, 1, 1, tzinfo=UTC)
    await s.execute(text("INSERT INTO ib_closure (ancestor_id, descendant_id, depth, valid_from) VALUES (:u, :u, 0, :t)"),
                    {"u": uid, "t": at})
    if parent is not None:
        await s.execute(text("INSERT INTO ib_closure (ancestor_id, descendant_id, depth, valid_from) "
                             "VALUES (:p, :u, 1, :t)"), {"p": parent, "u": uid, "t": at})
    return uid


async def _line(s: Any, ib: int, client: int, amount: Decimal, at: datetime, level: int) -> None:
    await s.execute(text(
        "INSERT INTO ib_commission_lines (kind, source, deal_time, client_id, ib_id, level, direct_ib_id, plan_id, "
        "plan_version_id, clause_no, clause_kind, formula, inputs, quantity, rate, fx_rate, amount, currency) VALUES "
        "('accrual', 'cpa', :t, :c, :i, :l, :i, 1, 1, 1, 'cpa', 'x', '{}', 1, 1, 1, :a, 'USD')"),
        {"t": at, "c": client, "i": ib, "a": amount, "l": level})


@dataclasses.dataclass
class Setup:
    world: World
    today: date
    period: dict[str, str]
    mine: list[int]  # the world's desk's clients
    country: dict[int, str]
    campaign: dict[int, str]
    deposits: dict[int, Decimal]
    parent_ib: int
    child_ib: int


async def _setup(http: httpx.AsyncClient, session_factory: Any, settings: Any, finance: GraphQLClient) -> Setup:
    world = await make_world(session_factory)
    lp = await finance(LP, {"i": global_id("TradingServer", world.server_id), "y": "EURUSD", "p": str(LP_PER_LOT)})
    assert lp["data"]["setReportLpCommission"]["errors"] == [], lp
    async with session_factory() as s:
        today = await s.scalar(text("SELECT (now() AT TIME ZONE 'UTC')::date"))
    tag = uuid.uuid4().hex[:8]
    campaign = {u: f"camp-{tag}-{i % 2}" for i, u in enumerate(world.user_ids)}
    country = {u: ("DE", "CY", "GB")[i % 3] for i, u in enumerate(world.user_ids)}
    mine = [u for i, u in enumerate(world.user_ids) if i % 3]
    async with session_factory() as s, s.begin():
        for u, c in campaign.items():
            await s.execute(text("UPDATE clients SET attribution = jsonb_build_object('utm_campaign', CAST(:c AS text), "
                                 "'utm_source', 'news') WHERE user_id = :u"), {"c": c, "u": u})
        parent = await _new_ib(s, f"{tag}-p", None)
        child = await _new_ib(s, f"{tag}-c", parent)
        for u, ib in ((world.user_ids[1], parent), (world.user_ids[2], parent), (world.user_ids[4], child),
                      (world.user_ids[3], child)):  # the last on the other desk
            await s.execute(text("INSERT INTO ib_client_attributions (client_id, ib_id, source, valid_from) "
                                 "VALUES (:c, :i, 'registration', now())"), {"c": u, "i": ib})
        noon = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=12)
        await _line(s, child, world.user_ids[4], Decimal(10), noon, 0)
        await _line(s, parent, world.user_ids[4], Decimal(4), noon, 1)
        await _line(s, parent, world.user_ids[3], Decimal(99), noon, 0)  # other desk: not the desk staff's
    actor = system_actor("tests.reporting")
    deposits: dict[int, Decimal] = {}
    for i, uid in enumerate(world.user_ids[:5]):
        amount = Decimal(100 + i)
        await in_transaction(session_factory, partial(
            deposit_to_wallet, actor=actor, user_id=uid, currency="USD", amount=amount,
            idempotency_key=f"clients-{uid}"))
        deposits[uid] = amount
    # the world's deals, moved to today on: after every first deposit's day
    shift = datetime.combine(today, datetime.min.time(), UTC) - datetime.combine(DAY0, datetime.min.time(), UTC)
    deals = [dataclasses.replace(d, time=d.time + shift, time_msc=d.time_msc + int(shift.total_seconds() * 1000))
             for d in random_deals(world, random.Random(21), 160)]
    world.deals[:] = deals
    await ingest(session_factory, world, deals)
    await _drain(session_factory)
    period = {"s": today.isoformat(), "u": (today + timedelta(days=3)).isoformat()}
    return Setup(world, today, period, mine, country, campaign, deposits, parent, child)


async def _deals_of(client: GraphQLClient, period: dict[str, str], user_id: int) -> list[dict[str, Any]]:
    out, after = [], None
    while True:
        body = await client(DEALS, {**period, "w": user_id, "a": after})
        assert "errors" not in body, body
        page = body["data"]["revenueReportDeals"]
        assert page["source"] == {"replica": False, "reason": "NOT_CONFIGURED"}
        out += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


def _sum(rows: list[dict[str, Any]], key: str) -> Decimal:
    return sum((Decimal(r[key]) for r in rows if r[key] is not None), Decimal(0))


async def test_client_reports_equal_references_from_the_tests_own_rows(
    http: httpx.AsyncClient, session_factory: Any, settings: Any
) -> None:
    finance = (await make_staff(http, session_factory, settings, ["finance"])).client
    st = await _setup(http, session_factory, settings, finance)
    world, period = st.world, st.period
    desk_staff = (await make_staff(http, session_factory, settings, ["ib_manager"], desk=world.desk)).client
    deals = {u: await _deals_of(desk_staff, period, u) for u in st.mine}
    assert any(deals.values())
    revenue = {u: _sum(rows, "netRevenueUsd") for u, rows in deals.items()}
    volume = {u: _sum(rows, "volumeLots") for u, rows in deals.items()}

    # LP cost: the A-booked share of each EURUSD deal's volume at 2.5 USD a lot, against the deals themselves
    login_group = {login: GROUPS[i % len(GROUPS)] for i, login in enumerate(world.logins)}
    mine_logins = {world.logins[i] for i, u in enumerate(world.user_ids) if u in st.mine}
    expected_lp = sum((d.volume * LP_PER_LOT * A_BOOK_PCT[login_group[d.login]] / 100 for d in world.deals
                       if d.symbol == "EURUSD" and d.action in (0, 1) and d.login in mine_logins), Decimal(0))
    assert expected_lp > 0
    by_desk = (await desk_staff(REVENUE, period))["data"]["revenueReport"]["lines"]
    assert [x["key"] for x in by_desk] == [world.desk]
    assert Decimal(by_desk[0]["total"]["lpCostUsd"]) == expected_lp
    assert sum(_sum(rows, "lpCostUsd") for rows in deals.values()) == expected_lp
    assert Decimal(by_desk[0]["total"]["netRevenueUsd"]) == sum(revenue.values())

    # geography: by country, then by region (all of them European), each line drilling to its clients
    report = (await desk_staff(CLIENT_REPORT, {**period, "d": "COUNTRY"}))["data"]["clientReport"]
    assert report["source"] == {"replica": False, "reason": "NOT_CONFIGURED"}
    assert {x["key"] for x in report["lines"]} == {st.country[u] for u in st.mine}
    for line in report["lines"]:
        users = [u for u in st.mine if st.country[u] == line["key"]]
        f = line["figures"]
        assert Decimal(f["netRevenueUsd"]) == sum(revenue[u] for u in users)
        assert f["deals"] == sum(len(deals[u]) for u in users)
        assert Decimal(f["volumeLots"]) == sum(volume[u] for u in users)
        assert Decimal(f["depositsUsd"]) == sum(st.deposits.get(u, Decimal(0)) for u in users)
        assert f["registrations"] == len(users)
        assert f["firstDeposits"] == sum(1 for u in users if u in st.deposits)
        assert f["firstTrades"] == f["tradingClients"] == sum(1 for u in users if deals[u])
        rows = (await desk_staff(CLIENTS, {**period, "d": "COUNTRY", "k": line["key"]}))["data"]["reportClients"]
        assert sorted(r["userId"] for r in rows["nodes"]) == sorted(users)
        assert _sum(rows["nodes"], "netRevenueUsd") == Decimal(f["netRevenueUsd"])
    regions = (await desk_staff(CLIENT_REPORT, {**period, "d": "REGION"}))["data"]["clientReport"]
    assert [(x["key"], x["figures"]) for x in regions["lines"]] == [("Europe", report["total"])]
    europe = (await desk_staff(CLIENTS, {**period, "d": "REGION", "k": "Europe"}))["data"]["reportClients"]["nodes"]
    assert sorted(r["userId"] for r in europe) == sorted(st.mine)

    # attribution: by campaign
    camps = (await desk_staff(CLIENT_REPORT, {**period, "d": "CAMPAIGN"}))["data"]["clientReport"]
    assert {x["key"] for x in camps["lines"]} == {st.campaign[u] for u in st.mine}
    for line in camps["lines"]:
        users = [u for u in st.mine if st.campaign[u] == line["key"]]
        assert Decimal(line["figures"]["netRevenueUsd"]) == sum(revenue[u] for u in users)
        assert line["figures"]["firstDeposits"] == sum(1 for u in users if u in st.deposits)

    # cohorts and lifetime value: one cohort (this month), its lifetime net revenue the clients' deals since
    cohorts = (await desk_staff(COHORTS, {"s": st.today.isoformat(), "u": (st.today + timedelta(days=1)).isoformat()}
                                ))["data"]["cohortReport"]["cohorts"]
    month = st.today.replace(day=1)
    depositors = [u for u in st.mine if u in st.deposits]
    assert [c["month"] for c in cohorts] == [month.isoformat()]
    cohort = cohorts[0]
    assert cohort["clients"] == len(depositors)
    assert Decimal(cohort["firstDepositsUsd"]) == sum(st.deposits[u] for u in depositors)
    assert Decimal(cohort["lifetimeNetRevenueUsd"]) == sum(revenue[u] for u in depositors)
    assert Decimal(cohort["lifetimeNetDepositsUsd"]) == sum(st.deposits[u] for u in depositors)
    traded_in: dict[int, set[int]] = defaultdict(set)
    for u in depositors:
        for d in deals[u]:
            t = datetime.fromisoformat(d["time"])
            traded_in[(t.year - month.year) * 12 + t.month - month.month].add(u)
    assert cohort["months"][0]["depositingClients"] == len(depositors)
    for m in cohort["months"]:
        assert m["tradingClients"] == len(traded_in.get(m["monthsSince"], set()))
    ltv = (await desk_staff(CLIENTS, {**period, "c": month.isoformat()}))["data"]["reportClients"]["nodes"]
    assert sorted(r["userId"] for r in ltv) == sorted(depositors)
    assert {r["userId"]: Decimal(r["lifetimeNetRevenueUsd"]) for r in ltv} == {u: revenue[u] for u in depositors}

    # IB return: the parent's own clients (1, 2), the child's (4; 3 is on the other desk), the subtree both
    ibs = (await desk_staff(IB_RETURN, {**period, "i": st.parent_ib}))["data"]["ibReturnReport"]
    lines = {x["ibUserId"]: x for x in ibs["lines"]}
    assert set(lines) == {st.parent_ib, st.child_ib}
    u1, u2, u4 = world.user_ids[1], world.user_ids[2], world.user_ids[4]
    parent, child = lines[st.parent_ib], lines[st.child_ib]
    assert parent["direct"]["clients"] == 2 and child["direct"]["clients"] == 1
    assert Decimal(parent["direct"]["netRevenueUsd"]) == revenue[u1] + revenue[u2]
    assert Decimal(child["direct"]["netRevenueUsd"]) == revenue[u4]
    assert Decimal(parent["subtree"]["netRevenueUsd"]) == revenue[u1] + revenue[u2] + revenue[u4]
    assert Decimal(parent["direct"]["depositsUsd"]) == st.deposits[u1] + st.deposits[u2]
    assert (Decimal(parent["direct"]["commissionsUsd"]), Decimal(child["direct"]["commissionsUsd"])) == (Decimal(4), Decimal(10))
    assert Decimal(parent["subtree"]["commissionsUsd"]) == 14
    assert Decimal(parent["subtree"]["returnUsd"]) == Decimal(parent["subtree"]["netRevenueUsd"]) - 14
    drill = (await desk_staff(LINES, {**period, "i": st.parent_ib, "t": True}))["data"]["reportIbCommissionLines"]
    assert _sum(drill["nodes"], "amountUsd") == 14
    sub = (await desk_staff(CLIENTS, {**period, "i": st.parent_ib, "t": True}))["data"]["reportClients"]["nodes"]
    assert sorted(r["userId"] for r in sub) == sorted([u1, u2, u4])
    assert _sum(sub, "netRevenueUsd") == Decimal(parent["subtree"]["netRevenueUsd"])
    # back office sees the other desk's client and line too
    every = (await finance(IB_RETURN, {**period, "i": st.parent_ib}))["data"]["ibReturnReport"]
    assert {x["ibUserId"]: x["subtree"]["clients"] for x in every["lines"]}[st.parent_ib] == 4
    assert Decimal(every["total"]["commissionsUsd"]) == 113


async def test_client_reports_are_closed_and_desk_scoped_and_bad_input_changes_nothing(
    http: httpx.AsyncClient, session_factory: Any, settings: Any
) -> None:
    world = await make_world(session_factory)
    await ingest(session_factory, world, random_deals(world, random.Random(5), 40))
    await _drain(session_factory)
    period = {"s": DAY0.isoformat(), "u": (DAY0 + timedelta(days=3)).isoformat()}
    client = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    support = (await make_staff(http, session_factory, settings, ["support"])).client
    for who in (client, support):
        for query, vs in ((CLIENT_REPORT, {**period, "d": "COUNTRY"}), (COHORTS, period), (IB_RETURN, period),
                          (CLIENTS, period), (LINES, {**period, "i": 1})):
            body = await who(query, vs)
            assert body.get("data") is None and _codes(body) == {"FORBIDDEN"}, body
    # staff of another desk see none of the world's clients; staff without a desk nothing at all
    other = (await make_staff(http, session_factory, settings, ["ib_manager"], desk=f"x-{uuid.uuid4().hex[:6]}")).client
    deskless = (await make_staff(http, session_factory, settings, ["ib_manager"])).client
    for who in (other, deskless):
        body = await who(CLIENTS, {**period, "d": "COUNTRY", "k": "CY"})
        assert set(world.user_ids).isdisjoint(r["userId"] for r in body["data"]["reportClients"]["nodes"])
        rows = (await who(DEALS, {**period, "w": world.user_ids[1]}))["data"]["revenueReportDeals"]["nodes"]
        assert rows == []
    assert (await deskless(CLIENT_REPORT, {**period, "d": "COUNTRY"}))["data"]["clientReport"]["lines"] == []

    finance = (await make_staff(http, session_factory, settings, ["finance"])).client
    reversed_ = {"s": period["u"], "u": period["s"]}
    for query, vs in ((CLIENT_REPORT, {**reversed_, "d": "COUNTRY"}), (COHORTS, reversed_), (IB_RETURN, reversed_),
                      (CLIENTS, reversed_)):
        assert _codes(await finance(query, vs)) == {"REPORT_PERIOD_INVALID"}
    assert _codes(await finance(IB_RETURN, {**period, "t": 0})) == {"REPORT_DIMENSION_INVALID"}
    assert _codes(await finance(CLIENTS, {**period, "c": "2025-03-02"})) == {"REPORT_DIMENSION_INVALID"}

    async def state() -> tuple[Any, ...]:
        async with session_factory() as s:
            return (await s.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'reporting.lp_commission_set'")),
                    await s.scalar(text("SELECT count(*) FROM reporting_lp_commissions WHERE server_id = :s"),
                                   {"s": world.server_id}),
                    await deal_rollup(session_factory, world.server_id))

    before = await state()
    sid = global_id("TradingServer", world.server_id)
    for args, code, field in (({"i": sid, "y": "EURUSD", "p": "-1"}, "REPORT_LP_COMMISSION_INVALID", "perLotUsd"),
                              ({"i": sid, "y": "EURUSD", "p": "0.000000001"}, "REPORT_LP_COMMISSION_INVALID",
                               "perLotUsd"),
                              ({"i": sid, "y": "  ", "p": "1"}, "REPORT_LP_COMMISSION_INVALID", "symbol"),
                              ({"i": global_id("TradingServer", 10**12), "y": "EURUSD", "p": "1"},
                               "REPORT_SERVER_NOT_FOUND", "serverId")):
        out = (await finance(LP, args))["data"]["setReportLpCommission"]
        assert out == {"lpCommission": None, "errors": [{"code": code, "field": field}]}, args
    assert await state() == before
    # reports.read alone may not set it
    desk_staff = (await make_staff(http, session_factory, settings, ["ib_manager"], desk=world.desk)).client
    assert _codes(await desk_staff(LP, {"i": sid, "y": "EURUSD", "p": "1"})) == {"FORBIDDEN"}
    assert await state() == before
