"""Referral links managed by the IB over HTTP, the public /r/<code> redirect and its click counter,
registration attribution through the landing's code, and commission explain outside disputes."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import text

from domain.ib.plans import ClauseKind, ClauseSpec, Distribution
from domain.identity import api_tokens
from domain.shared.actor import Actor, ActorKind
from schema.node import global_id
from tests.conftest import GraphQLClient, unique
from tests.ib.conftest import World
from tests.ib.test_engine import make_plan
from tests.ib.test_portal import signed_in_ib
from tests.identity.helpers import PASSWORD
from tests.identity.staff import make_staff
from tests.ids import db_id

CREATE = """mutation($i: CreateMyIbReferralLinkInput!) { createMyIbReferralLink(input: $i) {
  link { id code path name target utmSource utmCampaign clicks } errors { code field } } }"""
RENAME = """mutation($i: RenameMyIbReferralLinkInput!) { renameMyIbReferralLink(input: $i) {
  link { id name } errors { code field } } }"""
DISABLE = """mutation($i: DisableMyIbReferralLinkInput!) { disableMyIbReferralLink(input: $i) {
  link { id disabledAt } errors { code field } } }"""
LINKS = """query($all: Boolean!) { myIbManagedLinks(includeDisabled: $all) { nodes {
  id code name clicks registrations firstDeposits disabledAt } } }"""
REGISTER = """mutation($i: RegisterClientInput!) { registerClient(input: $i) { errors { code } } }"""
TABLES = ("ib_referral_links", "audit_events", "outbox")


async def _counts(factory: Any) -> dict[str, Any]:
    async with factory() as s:
        out: dict[str, Any] = {t: int(await s.scalar(text(f"SELECT count(*) FROM {t}"))) for t in TABLES}
        out["names"] = sorted((await s.execute(text(
            "SELECT id, name, disabled_at IS NULL FROM ib_referral_links"))).all())
        return out


def _payload(body: dict[str, Any]) -> dict[str, Any]:
    return next(iter(body["data"].values()))  # type: ignore[no-any-return]


async def _token(factory: Any, owner: int, scopes: list[str], settings: Any) -> str:
    async with factory() as s, s.begin():
        actor = Actor(ActorKind.IB, user_id=owner, stepped_up_at=time.time())
        made = await api_tokens.create(s, settings, actor, name="links feed", scopes=scopes, expires_in_days=5)
    return made.plaintext


async def test_links_are_managed_by_their_ib_and_count_clicks(world: World, http: httpx.AsyncClient,
                                                              settings: Any) -> None:
    ib, gql = await signed_in_ib(world, http)
    other_ib, other = await signed_in_ib(world, http)
    made = _payload(await gql(CREATE, {"i": {"name": "Spring webinar", "utmSource": "youtube",
                                             "utmCampaign": "spring-25"}}))
    link = made["link"]
    assert made["errors"] == [] and link["target"] == "REGISTRATION" and link["clicks"] == 0
    assert len(link["code"]) == 12 and link["path"] == f"/r/{link['code']}"

    # bad input and other IBs' ids: exact codes, nothing written
    before = await _counts(world.factory)
    for client, query, variables, code in [
        (gql, CREATE, {"name": " "}, ("VALIDATION_FAILED", "name")),
        (gql, CREATE, {"name": "x", "utmSource": "<script>"}, ("VALIDATION_FAILED", "utmSource")),
        (gql, RENAME, {"linkId": link["id"], "name": "y" * 81}, ("VALIDATION_FAILED", "name")),
        (other, RENAME, {"linkId": link["id"], "name": "mine now"}, ("IB_LINK_NOT_FOUND", "linkId")),
        (other, DISABLE, {"linkId": link["id"]}, ("IB_LINK_NOT_FOUND", "linkId")),
        (gql, DISABLE, {"linkId": "nope"}, ("INVALID_ID", "linkId")),
        (gql, DISABLE, {"linkId": global_id("IbPayout", db_id(link["id"]))}, ("INVALID_ID", "linkId")),
    ]:
        body = await client(query, {"i": variables})
        assert [(e["code"], e["field"]) for e in _payload(body)["errors"]] == [code], body
    assert await _counts(world.factory) == before
    assert (await other(LINKS, {"all": True}))["data"]["myIbManagedLinks"]["nodes"] == []

    renamed = _payload(await gql(RENAME, {"i": {"linkId": link["id"], "name": "Spring webinar (EN)"}}))
    assert renamed == {"link": {"id": link["id"], "name": "Spring webinar (EN)"}, "errors": []}

    # the public redirect: counted once per visitor and day, lands on registration with the code and UTM
    for _ in range(3):
        response = await http.get(f"/r/{link['code']}")
        assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{settings.public_base_url}/register"
    assert parse_qs(location.query) == {"ib_code": [link["code"]], "utm_source": ["youtube"],
                                        "utm_campaign": ["spring-25"]}
    unknown = await http.get("/r/NOSUCHCODE99")
    assert unknown.status_code == 302 and unknown.headers["location"] == f"{settings.public_base_url}/register"
    # a client registering from the landing is attributed to the IB through the link
    reg = await http.post("/graphql", json={"query": REGISTER, "variables": {"i": {
        "email": f"{unique('ref')}@example.com", "password": PASSWORD, "attribution": {"ibCode": link["code"]}}}})
    assert reg.json()["data"]["registerClient"]["errors"] == []
    listed = (await gql(LINKS, {"all": False}))["data"]["myIbManagedLinks"]["nodes"]
    assert listed == [{"id": link["id"], "code": link["code"], "name": "Spring webinar (EN)", "clicks": 1,
                       "registrations": 1, "firstDeposits": 0, "disabledAt": None}]
    rows = await world.sql("SELECT count(*) FROM ib_client_attributions a JOIN ib_referral_links l "
                           "ON l.id = a.link_id WHERE l.code = :c AND a.ib_id = :ib", c=link["code"], ib=ib)
    assert rows[0][0] == 1

    # a partner token with ib.tree.read reads the links but cannot manage them
    token = GraphQLClient(http, await _token(world.factory, ib, ["ib.tree.read"], settings))
    assert [x["id"] for x in (await token(LINKS, {"all": True}))["data"]["myIbManagedLinks"]["nodes"]] == [link["id"]]
    body = await token(DISABLE, {"i": {"linkId": link["id"]}})
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"

    # disabled: no longer counted nor attributing, listed only on request; a second disable is refused
    done = _payload(await gql(DISABLE, {"i": {"linkId": link["id"]}}))
    assert done["errors"] == [] and done["link"]["disabledAt"] is not None
    response = await http.get(f"/r/{link['code']}")
    assert response.headers["location"] == f"{settings.public_base_url}/register"
    body = await gql(DISABLE, {"i": {"linkId": link["id"]}})
    assert [e["code"] for e in _payload(body)["errors"]] == ["IB_LINK_DISABLED"]
    assert (await gql(LINKS, {"all": False}))["data"]["myIbManagedLinks"]["nodes"] == []
    assert [x["clicks"] for x in (await gql(LINKS, {"all": True}))["data"]["myIbManagedLinks"]["nodes"]] == [1]
    audit = await world.sql("SELECT action FROM audit_events WHERE entity_type = 'ib_referral_link' "
                            "AND entity_id = :i ORDER BY id", i=str(db_id(link["id"])))
    assert [r[0] for r in audit] == ["ib.link_created", "ib.link_renamed", "ib.link_disabled"]
    assert other_ib != ib


EXPLAIN = """query($l: ID!) { myIbCommissionLine(lineId: $l) { lineId ibId level amount currency formula
  line deal clause } }"""
STAFF_EXPLAIN = """query($l: ID!) { ibCommissionLine(lineId: $l) { lineId ibId amount formula deal clause } }"""


async def test_explain_any_line_for_its_ib_and_for_staff(world: World, http: httpx.AsyncClient,
                                                        session_factory: Any, settings: Any) -> None:
    ib, gql = await signed_in_ib(world, http)
    other_ib, other = await signed_in_ib(world, http)
    login = await world.account(await world.client_of(ib))
    await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (Decimal(5),),
                                                              max_total=Decimal(5))], ibs=(ib,))
    await world.trade([world.deal(login, volume="2")])
    line = (await world.sql("SELECT id FROM ib_commission_lines WHERE ib_id = :ib", ib=ib))[0][0]

    mine = (await gql(EXPLAIN, {"l": str(line)}))["data"]["myIbCommissionLine"]
    assert (mine["lineId"], mine["ibId"], mine["level"], mine["amount"], mine["currency"]) == \
        (str(line), str(ib), 0, "10.00", "USD")
    assert mine["deal"]["login"] == login and mine["clause"]["kind"] == "per_lot" and mine["formula"]
    # someone else's line, an unknown one and a malformed id are all "not found"
    for client, line_id in [(other, str(line)), (gql, "999999999"), (gql, "x")]:
        body = await client(EXPLAIN, {"l": line_id})
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "IB_NOT_FOUND", body
    # staff with ib.read see any line; without it they are refused
    finance = (await make_staff(http, session_factory, settings, ["finance"])).client
    staff = (await finance(STAFF_EXPLAIN, {"l": str(line)}))["data"]["ibCommissionLine"]
    assert (staff["ibId"], staff["amount"]) == (str(ib), "10.00")
    support = (await make_staff(http, session_factory, settings, ["support"])).client
    body = await support(STAFF_EXPLAIN, {"l": str(line)})
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(STAFF_EXPLAIN, {"l": str(line)})
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # a partner token with ib.tree.read explains its own lines
    token = GraphQLClient(http, await _token(world.factory, ib, ["ib.tree.read"], settings))
    assert (await token(EXPLAIN, {"l": str(line)}))["data"]["myIbCommissionLine"]["amount"] == "10.00"
    assert other_ib != ib


async def test_an_ib_does_not_see_who_below_its_visible_depth(world: World, http: httpx.AsyncClient) -> None:
    master, gql = await signed_in_ib(world, http)
    a = await world.ib(master)
    login = await world.account(await world.client_of(a))
    await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (Decimal(5), Decimal(8)),
                                                              max_total=Decimal(8))], ibs=(a,))
    await world.trade([world.deal(login, volume="1")])
    await world.sql("UPDATE ib_partners SET visible_depth = 0 WHERE user_id = :m", m=master)
    line = (await world.sql("SELECT id FROM ib_commission_lines WHERE ib_id = :ib", ib=master))[0][0]
    got = (await gql(EXPLAIN, {"l": str(line)}))["data"]["myIbCommissionLine"]
    assert got["level"] == 1 and got["amount"] == "3.00"
    assert got["line"]["client_id"] is None and got["line"]["login"] is None and got["deal"]["login"] is None


def test_the_visitor_key_holds_no_address_and_changes_daily() -> None:
    from datetime import UTC, datetime

    from domain.ib.links import landing_url, visitor_key

    day = datetime(2026, 3, 1, 12, tzinfo=UTC)
    key = visitor_key("s3cret", "ABCDEFGHJKLM", "203.0.113.7", day)
    assert "203.0.113.7" not in key and "ABCDEFGHJKLM" not in key
    assert key == visitor_key("s3cret", "ABCDEFGHJKLM", "203.0.113.7", day.replace(hour=23))
    assert key != visitor_key("s3cret", "ABCDEFGHJKLM", "203.0.113.8", day)
    assert key != visitor_key("s3cret", "ABCDEFGHJKLM", "203.0.113.7", datetime(2026, 3, 2, tzinfo=UTC))
    assert key != visitor_key("other", "ABCDEFGHJKLM", "203.0.113.7", day)
    from domain.ib.links import Landing

    assert landing_url("https://portal.example/join?lang=en", Landing("ABC", "registration", {"utm_medium": "x y"})) \
        == "https://portal.example/join?lang=en&ib_code=ABC&utm_medium=x+y"


REFERRAL = """mutation($i: CreateMyIbReferralLinkInput!) { createMyIbReferralLink(input: $i) {
  link { id code path referralUrl } errors { code field } } }"""
REFERRAL_LIST = """{ myIbManagedLinks { nodes { id referralUrl registrations } } }"""
REFERRAL_NODE = """query($id: ID!) { node(id: $id) { ... on IbManagedLink { id referralUrl } } }"""


async def test_referral_url_comes_from_the_api_and_following_it_attributes_a_registration(
        world: World, http: httpx.AsyncClient, settings: Any, monkeypatch: Any) -> None:
    ib, gql = await signed_in_ib(world, http)
    _, other = await signed_in_ib(world, http)
    made = _payload(await gql(REFERRAL, {"i": {"name": "Autumn"}}))
    link = made["link"]
    assert made["errors"] == []
    # no setting: the origin this request reached (here the API itself)
    origin = str(http.base_url).rstrip("/")
    assert settings.ib_referral_base_url == ""
    assert link["referralUrl"] == f"{origin}{link['path']}" == f"{origin}/r/{link['code']}"

    # behind a portal that proxies /graphql and /r/: the portal's origin, as the request reached it
    proxied = await http.post("/graphql", json={"query": REFERRAL_LIST},
                              headers={"Authorization": f"Bearer {gql.token}", "Host": "portal.example:5174"})
    assert proxied.json()["data"]["myIbManagedLinks"]["nodes"] == [
        {"id": link["id"], "referralUrl": f"http://portal.example:5174/r/{link['code']}", "registrations": 0}]

    # the configured public base URL wins, on every path that returns the link
    monkeypatch.setattr(settings, "ib_referral_base_url", "https://go.broker.example/")
    configured = f"https://go.broker.example/r/{link['code']}"
    assert (await gql(REFERRAL_LIST))["data"]["myIbManagedLinks"]["nodes"][0]["referralUrl"] == configured
    assert (await gql(REFERRAL_NODE, {"id": link["id"]}))["data"]["node"] == {"id": link["id"],
                                                                              "referralUrl": configured}
    renamed = _payload(await gql("""mutation($i: RenameMyIbReferralLinkInput!) { renameMyIbReferralLink(input: $i) {
      link { referralUrl } errors { code } } }""", {"i": {"linkId": link["id"], "name": "Autumn 2"}}))
    assert renamed == {"link": {"referralUrl": configured}, "errors": []}
    # another IB: the link is not its own (node answers null, its list is empty), and it cannot rename it
    assert (await other(REFERRAL_NODE, {"id": link["id"]}))["data"]["node"] is None
    assert (await other(REFERRAL_LIST))["data"]["myIbManagedLinks"]["nodes"] == []
    monkeypatch.setattr(settings, "ib_referral_base_url", "")

    # following the link: the API's /r/ counts the click and lands with the code; registering from the landing
    # attributes the new client to the IB through that link
    followed = await http.get(urlsplit(link["referralUrl"]).path)
    assert followed.status_code == 302
    landing = parse_qs(urlsplit(followed.headers["location"]).query)
    assert landing == {"ib_code": [link["code"]]}
    email = f"{unique('followed')}@example.com"
    reg = await http.post("/graphql", json={"query": REGISTER, "variables": {"i": {
        "email": email, "password": PASSWORD, "attribution": {"ibCode": landing["ib_code"][0]}}}})
    assert reg.json()["data"]["registerClient"]["errors"] == []
    rows = await world.sql("SELECT a.ib_id, l.code FROM ib_client_attributions a JOIN users u ON u.id = a.client_id "
                           "JOIN ib_referral_links l ON l.id = a.link_id WHERE u.email_normalized = :e", e=email)
    assert [tuple(r) for r in rows] == [(ib, link["code"])]
    assert (await gql(REFERRAL_LIST))["data"]["myIbManagedLinks"]["nodes"][0]["registrations"] == 1
