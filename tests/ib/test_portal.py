"""The IB portal over HTTP: a master IB with a 3-level downline (and a 4th level it may not see),
a sibling master, masked PII, not-found for clients outside the downline, and partner tokens."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx

from domain.ib import network, partners
from domain.ib.plans import ClauseKind, ClauseSpec, Distribution
from domain.identity import api_tokens
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import in_transaction
from tests.conftest import GraphQLClient
from tests.ib.conftest import STAFF, World
from tests.ib.test_engine import make_plan
from tests.identity.helpers import register

D = Decimal
TREE = "query($d: Int) { myIbTree(depth: $d) { visibleDepth depth members { nodes { ibId parentId depth clients " \
       "contact { email } } } } }"
CLIENT = "query($c: ID!) { myIbClient(clientId: $c) { clientId depth status lots contact { name email masked } " \
         "deposits { currency amount } } }"


@dataclass
class Net:
    master: int
    gql: GraphQLClient
    a: int
    b: int
    c: int
    d: int
    sibling: int
    client_a: int
    client_c: int
    client_d: int
    client_sibling: int
    email_a: str


async def signed_in_ib(world: World, http: httpx.AsyncClient) -> tuple[int, GraphQLClient]:
    """A user registered through the API, then approved as a top-level IB: the portal's caller."""
    reg = await register(GraphQLClient(http))
    uid = int(reg["viewer"]["id"])

    async def go(s: Any) -> None:
        await network.apply(s, STAFF, uid)
        await network.approve(s, STAFF, uid, at=world.day - timedelta(days=30))

    await in_transaction(world.factory, go)
    return uid, GraphQLClient(http, reg["accessToken"])


async def client_named(world: World, ib: int, local: str) -> tuple[int, str]:
    email = f"{local}{uuid.uuid4().hex[:8]}@example.com"
    rows = await world.sql("INSERT INTO users (email, email_normalized, is_client, display_name) "
                           "VALUES (:e, :e, true, 'John Smith') RETURNING id", e=email)
    uid = int(rows[0][0])
    await world.sql("INSERT INTO ib_client_attributions (client_id, ib_id, source, valid_from) "
                    "VALUES (:c, :ib, 'registration', :at)", c=uid, ib=ib, at=world.day - timedelta(days=20))
    return uid, email


async def network_of(world: World, http: httpx.AsyncClient) -> Net:
    master, gql = await signed_in_ib(world, http)
    a = await world.ib(master)
    b = await world.ib(a)
    c = await world.ib(b)
    d = await world.ib(c)  # depth 4: below the default visible depth of 3
    sibling = await world.ib()
    client_a, email_a = await client_named(world, a, "john")
    return Net(master, gql, a, b, c, d, sibling, client_a, await world.client_of(c), await world.client_of(d),
               await world.client_of(sibling), email_a)


async def test_tree_stops_at_the_visible_depth_and_never_shows_the_sibling(world: World,
                                                                          http: httpx.AsyncClient) -> None:
    net = await network_of(world, http)
    body = await net.gql(TREE, {"d": 10})
    tree = body["data"]["myIbTree"]
    assert tree["visibleDepth"] == 3 and tree["depth"] == 3
    assert [(int(m["ibId"]), m["depth"], int(m["parentId"])) for m in tree["members"]["nodes"]] == [
        (net.a, 1, net.master), (net.b, 2, net.a), (net.c, 3, net.b)]
    assert all(m["contact"]["email"].count("***") == 2 for m in tree["members"]["nodes"])
    shallow = (await net.gql(TREE, {"d": 1}))["data"]["myIbTree"]
    assert [int(m["ibId"]) for m in shallow["members"]["nodes"]] == [net.a]
    # clients: own downline to depth 3 only (not D's client, not the sibling's)
    body = await net.gql("{ myIbClients(first: 50) { nodes { clientId depth } } }")
    seen = {int(n["clientId"]): n["depth"] for n in body["data"]["myIbClients"]["nodes"]}
    assert seen == {net.client_a: 1, net.client_c: 3}


async def test_clients_outside_the_visible_downline_are_not_found(world: World, http: httpx.AsyncClient) -> None:
    net = await network_of(world, http)
    for outsider in (net.client_sibling, net.client_d, net.master, 10**12):
        body = await net.gql(CLIENT, {"c": str(outsider)})
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "IB_CLIENT_NOT_FOUND", body
    body = await net.gql("query($c: ID!) { myIbCommissions(groupBy: LEVEL, clientId: $c) { key } }",
                         {"c": str(net.client_sibling)})
    assert body["errors"][0]["extensions"]["code"] == "IB_CLIENT_NOT_FOUND"


async def test_pii_is_masked_unless_the_brokerage_allows_it_for_this_ib(world: World,
                                                                       http: httpx.AsyncClient) -> None:
    net = await network_of(world, http)
    masked = (await net.gql(CLIENT, {"c": str(net.client_a)}))["data"]["myIbClient"]
    assert masked["contact"] == {"name": "J*** S***", "email": "j***@e***.com", "masked": True}
    assert net.email_a not in str(masked)
    await in_transaction(world.factory, lambda s: partners.update_settings(
        s, STAFF, net.master, partners.SettingsChange(show_client_pii=True)))
    shown = (await net.gql(CLIENT, {"c": str(net.client_a)}))["data"]["myIbClient"]
    assert shown["contact"] == {"name": "John Smith", "email": net.email_a, "masked": False}


async def test_commissions_by_level_and_client_and_statement_csv(world: World, http: httpx.AsyncClient) -> None:
    # given $10/lot override: A 6, master 10 -> master earns 4/lot at level 1 on A's client
    net = await network_of(world, http)
    login = await world.account(net.client_a)
    await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (D(6), D(10)), max_total=D(10))],
                    ibs=(net.a,))
    await world.trade([world.deal(login, volume="2"), world.deal(login, volume="0.5")])
    period = {"s": world.day.isoformat(), "u": (world.day + timedelta(days=1)).isoformat()}
    q = "query($s: DateTime, $u: DateTime, $g: IbCommissionGroupBy!) { myIbCommissions(groupBy: $g, since: $s, " \
        "until: $u) { key currency amount lines lots } }"
    by_level = (await net.gql(q, {**period, "g": "LEVEL"}))["data"]["myIbCommissions"]
    # 2.5 lots x 4 = 10.00
    assert by_level == [{"key": "1", "currency": "USD", "amount": "10.00", "lines": 2, "lots": "2.5"}]
    by_client = (await net.gql(q, {**period, "g": "CLIENT"}))["data"]["myIbCommissions"]
    assert [(g["key"], g["amount"]) for g in by_client] == [(str(net.client_a), "10.00")]
    csv_text = (await net.gql("query($s: DateTime!, $u: DateTime!) { myIbStatementCsv(since: $s, until: $u) }",
                              period))["data"]["myIbStatementCsv"]
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("line_id,time,kind") and len(lines) == 3
    assert sum(D(row.split(",")[-2]) for row in lines[1:]) == D("10.00")
    # The same lines as a connection, newest first, amounts at the currency's scale, paged one by one.
    q_lines = "query($s: DateTime, $u: DateTime, $a: String) { myIbCommissionLines(since: $s, until: $u, first: 1, " \
              "after: $a) { pageInfo { hasNextPage endCursor } nodes { id databaseId dealTime kind source level " \
              "clientId symbol volume amount currency formula } } }"
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        conn = (await net.gql(q_lines, {**period, "a": after}))["data"]["myIbCommissionLines"]
        seen += conn["nodes"]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    csv_ids = [row.split(",")[0] for row in lines[1:]]
    assert [n["databaseId"] for n in seen] == list(reversed(csv_ids))
    assert sorted((n["volume"], n["amount"], n["level"], n["clientId"]) for n in seen) == [
        ("0.5", "2.00", 1, str(net.client_a)), ("2", "8.00", 1, str(net.client_a))]
    assert seen[0]["dealTime"] >= seen[1]["dealTime"]
    # Its own lines only: another IB sees none of them, by the list or by their ids.
    _, other = await signed_in_ib(world, http)
    assert (await other(q_lines, {**period, "a": None}))["data"]["myIbCommissionLines"]["nodes"] == []
    hidden = await other("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [n["id"] for n in seen]})
    assert hidden["data"]["nodes"] == [None, None]
    bad = await net.gql(q_lines, {**period, "a": "garbage"})
    assert bad["data"] is None and bad["errors"][0]["extensions"]["code"] == "INVALID_PAGE_ARGUMENTS"
    pdf_b64 = (await net.gql("query($s: DateTime!, $u: DateTime!) { myIbStatementPdf(since: $s, until: $u) }",
                             period))["data"]["myIbStatementPdf"]
    pdf = base64.b64decode(pdf_b64)
    assert pdf.startswith(b"%PDF-") and b"Total USD: 10.00" in pdf


async def _token(world: World, owner: int, scopes: list[str], settings: Any) -> str:
    async with world.factory() as s, s.begin():
        actor = Actor(ActorKind.IB, user_id=owner, stepped_up_at=time.time())
        made = await api_tokens.create(s, settings, actor, name="partner feed", scopes=scopes, expires_in_days=5)
    return made.plaintext


async def test_partner_token_reads_the_tree_only_with_its_scope(world: World, http: httpx.AsyncClient,
                                                                settings: Any) -> None:
    net = await network_of(world, http)
    tree_token = GraphQLClient(http, await _token(world, net.master, ["ib.tree.read"], settings))
    body = await tree_token(TREE, {"d": 2})
    assert [int(m["ibId"]) for m in body["data"]["myIbTree"]["members"]["nodes"]] == [net.a, net.b]
    body = await tree_token(CLIENT, {"c": str(net.client_sibling)})
    assert body["errors"][0]["extensions"]["code"] == "IB_CLIENT_NOT_FOUND"
    # the token cannot reach staff queries or other contexts' data it was not scoped for
    body = await tree_token("query($i: ID!) { ibPerformance(ibId: $i) { clients } }", {"i": str(net.master)})
    assert body["errors"][0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"
    other = GraphQLClient(http, await _token(world, net.master, ["profile.read"], settings))
    body = await other(TREE)
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"


async def test_a_client_who_is_not_an_ib_is_refused(http: httpx.AsyncClient) -> None:
    reg = await register(GraphQLClient(http))
    body = await GraphQLClient(http, reg["accessToken"])(TREE)
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anon = await GraphQLClient(http)(TREE)
    assert anon["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
