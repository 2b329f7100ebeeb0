"""The staff client list: newest first, filtered by status, country and desk, narrowed by name or
e-mail text, keyset pages without gaps or repeats, desk scope kept, bad filter values refused with
typed errors (issue 17)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.clients import lists
from domain.clients.status import Status
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import driver
from domain.shared.pagination import PageRequest
from tests.clients.staff_world import make_client
from tests.identity.staff import make_staff
from tests.ids import db_id

CLIENTS = """query($s: ClientStatus, $c: String, $d: String, $q: String, $f: Int, $a: String) {
  clients(status: $s, country: $c, desk: $d, search: $q, first: $f, after: $a) {
    edges { cursor node { id status country desk name createdAt } } pageInfo { hasNextPage endCursor } } }"""
BASE = datetime(2026, 1, 1, tzinfo=UTC)


async def _given(session_factory: Any, settings: Any, desk: str, tag: str) -> list[tuple[int, str, str, datetime]]:
    """Seven clients on one desk: (id, status, country, created_at); three share one instant."""
    specs = [("registered", "GB", 0), ("active", "DE", 1), ("active", "GB", 2), ("registered", "GB", 2),
             ("active", "GB", 2), ("blocked", "MT", 3), ("active", "DE", 4)]
    made = []
    for i, (status, country, minute) in enumerate(specs):
        cid, _, _ = await make_client(session_factory, settings, first=f"Ann{i}", last=f"List{tag}", desk=desk,
                                      status=status, email=f"list{i}.{tag}@lists.example")
        at = BASE + timedelta(minutes=minute)
        async with session_factory() as s, s.begin():
            await s.execute(text("UPDATE clients SET country = :c, created_at = :t WHERE id = :i"),
                            {"c": country, "t": at, "i": cid})
        made.append((cid, status, country, at))
    return made


def _newest(rows: list[tuple[int, str, str, datetime]]) -> list[str]:
    return [str(r[0]) for r in sorted(rows, key=lambda r: (r[3], r[0]), reverse=True)]


async def _walk(staff: Any, page_size: int, **variables: Any) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        body = await staff(CLIENTS, {**variables, "f": page_size, "a": after})
        page = body["data"]["clients"]
        seen += [str(db_id(e["node"]["id"])) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            assert page["edges"] == [] or page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
            return seen
        after = page["pageInfo"]["endCursor"]


async def test_filters_order_newest_first_and_pages_walk_every_client_once(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    desk = f"lists-{tag}"
    made = await _given(session_factory, settings, desk, tag)
    staff = (await make_staff(http, session_factory, settings, ["compliance"])).client

    first = (await staff(CLIENTS, {"d": desk, "f": 3}))["data"]["clients"]
    assert [str(db_id(e["node"]["id"])) for e in first["edges"]] == _newest(made)[:3] and first["pageInfo"]["hasNextPage"]
    node = first["edges"][0]["node"]
    assert (node["status"], node["country"], node["desk"], node["name"]) == ("ACTIVE", "DE", desk, f"Ann6 List{tag}")
    # Pages of every size (the tie of three clients at one instant included): no gap, no repeat.
    for size in (1, 2, 3, 7, 50):
        assert await _walk(staff, size, d=desk) == _newest(made), size

    assert await _walk(staff, 2, d=desk, s="ACTIVE") == _newest([r for r in made if r[1] == "active"])
    assert await _walk(staff, 2, d=desk, c="gb") == _newest([r for r in made if r[2] == "GB"])  # ISO code, any case
    assert await _walk(staff, 1, d=desk, c="GBR", s="ACTIVE") == _newest(
        [r for r in made if r[2] == "GB" and r[1] == "active"])
    assert await _walk(staff, 2, d=desk, s="CLOSED") == []
    assert await _walk(staff, 2, d=f"other-{tag}") == []


async def test_search_narrows_by_name_or_email_and_keeps_newest_first(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    made = await _given(session_factory, settings, f"lists-{tag}", tag)
    staff = (await make_staff(http, session_factory, settings, ["compliance"])).client

    by_name = _newest(made)
    assert await _walk(staff, 2, q=f"  list{tag.upper()} ") == by_name  # name: every word of the surname
    assert await _walk(staff, 2, q=f"ann3 list{tag}") == [str(made[3][0])]
    assert await _walk(staff, 2, q=f"list4.{tag}@lists") == [str(made[4][0])]  # e-mail only
    assert await _walk(staff, 1, q=f"{tag}", s="ACTIVE", c="DE") == _newest(
        [r for r in made if r[1] == "active" and r[2] == "DE"])
    # LIKE wildcards are literal: "%%%" matches no one rather than everyone.
    assert await _walk(staff, 50, q="%%%") == []


async def test_desk_staff_list_only_their_desk(http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    home, away = f"home-{tag}", f"away-{tag}"
    mine, _, _ = await make_client(session_factory, settings, first="Mine", last=f"Desk{tag}", desk=home)
    await make_client(session_factory, settings, first="Theirs", last=f"Desk{tag}", desk=away)
    sales = (await make_staff(http, session_factory, settings, ["sales"], desk=home)).client
    assert await _walk(sales, 10, q=f"desk{tag}") == [str(mine)]
    assert await _walk(sales, 10, d=away) == []
    no_desk = (await make_staff(http, session_factory, settings, ["sales"])).client
    assert await _walk(no_desk, 10, q=f"desk{tag}") == []


async def test_bad_filter_values_are_typed_errors(http: httpx.AsyncClient, session_factory: Any,
                                                  settings: Any) -> None:
    staff = (await make_staff(http, session_factory, settings, ["compliance"])).client
    for variables, code in (({"c": "XX"}, "INVALID_COUNTRY"), ({"c": "Germany"}, "INVALID_COUNTRY"),
                            ({"d": "   "}, "DESK_INVALID"), ({"d": "x" * 65}, "DESK_INVALID"),
                            ({"q": "ab"}, "SEARCH_QUERY_INVALID"), ({"q": " a  b "}, "SEARCH_QUERY_INVALID"),
                            ({"q": "x" * 101}, "SEARCH_QUERY_INVALID"),
                            ({"a": "not-a-cursor"}, "INVALID_PAGE_ARGUMENTS"), ({"f": 0}, "INVALID_PAGE_ARGUMENTS")):
        body = await staff(CLIENTS, variables)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == code, (variables, body)
    unknown = await staff(CLIENTS, {"s": "SLEEPING"})
    assert unknown.get("data") is None and "SLEEPING" in unknown["errors"][0]["message"]
    no_role = await make_staff(http, session_factory, settings, [])
    refused = await no_role.client(CLIENTS, {})
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_search_follows_a_changed_e_mail(http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    """The e-mail a search reads is the account's current one (copied onto the client by triggers)."""
    tag = uuid.uuid4().hex[:8]
    cid, uid, _ = await make_client(session_factory, settings, first="Mail", last="Mover", email=f"old.{tag}@x.example")
    staff = (await make_staff(http, session_factory, settings, ["compliance"])).client
    assert await _walk(staff, 5, q=f"old.{tag}") == [str(cid)]
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE users SET email = :e, email_normalized = :e WHERE id = :i"),
                        {"e": f"new.{tag}@x.example", "i": uid})
    assert await _walk(staff, 5, q=f"old.{tag}") == []
    assert await _walk(staff, 5, q=f"new.{tag}") == [str(cid)]
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE clients SET last_name = :n WHERE id = :i"), {"n": f"Renamed{tag}", "i": cid})
    assert await _walk(staff, 5, q="mover") == []
    assert await _walk(staff, 5, q=f"mail renamed{tag}") == [str(cid)]
    found = await staff("query($q: String!) { searchClients(query: $q) { nodes { email client { databaseId } } } }",
                        {"q": f"new.{tag}@x"})
    assert found["data"]["searchClients"]["nodes"] == [{"email": f"new.{tag}@x.example",
                                                        "client": {"databaseId": str(cid)}}]


BACKWARD = """query($q: String, $l: Int, $b: String) {
  clients(search: $q, last: $l, before: $b) { edges { cursor node { id } } pageInfo { hasPreviousPage startCursor } } }"""


async def test_search_pages_backward_as_forward(http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    made = await _given(session_factory, settings, f"lists-{tag}", tag)
    staff = (await make_staff(http, session_factory, settings, ["compliance"])).client
    forward = await _walk(staff, 2, q=f"list{tag}")
    assert forward == _newest(made)
    seen: list[str] = []
    before = None
    while True:
        page = (await staff(BACKWARD, {"q": f"list{tag}", "l": 2, "b": before}))["data"]["clients"]
        seen = [str(db_id(e["node"]["id"])) for e in page["edges"]] + seen
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert seen == forward


def _answer(many: bool) -> Callable[[Any], Awaitable[bool]]:
    async def answer(conn: Any) -> bool:
        return many
    return answer


COUNTED = """query($q: String, $f: Int, $a: String) {
  clients(search: $q, first: $f, after: $a) { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }"""


@pytest.mark.parametrize(("hits", "budget"), [(0, 20_000), (1, 20_000), (1, 2), (2, 20_000)])
async def test_search_pages_alike_on_every_way_to_the_page(
        http: httpx.AsyncClient, session_factory: Any, settings: Any, monkeypatch: pytest.MonkeyPatch,
        hits: int, budget: int) -> None:
    """Text takes the planner's way, the trigram index, or a bounded walk then the trigram index, by
    how many sampled values hold it (lists.HITS, stood in for here): the same pages every way, and a
    total counted where cheap (few clients, or text rarely sampled) and null where it is not."""
    tag = uuid.uuid4().hex[:8]
    made = await _given(session_factory, settings, f"lists-{tag}", tag)
    staff = (await make_staff(http, session_factory, settings, ["compliance"])).client
    monkeypatch.setattr(lists, "HITS", f"SELECT {hits} + 0 * length({{}})")
    monkeypatch.setattr(lists, "_many", _answer(True))  # as if the clients were many
    monkeypatch.setattr(lists, "WALK_BUDGET", budget)
    assert await _walk(staff, 2, q=f"list{tag}") == _newest(made)
    assert await _walk(staff, 3, q=f"list{tag}", s="ACTIVE") == _newest([r for r in made if r[1] == "active"])
    assert await _walk(staff, 2, q=f"list3.{tag}@") == [str(made[3][0])]
    assert await _walk(staff, 2, q=f"nobody{tag}") == []

    total = (await staff(COUNTED, {"q": f"list{tag}", "f": 2}))["data"]["clients"]["totalCount"]
    assert total == (None if hits >= 2 else len(made))
    monkeypatch.setattr(lists, "_many", _answer(False))  # few clients: the planner's way, every total counted
    assert await _walk(staff, 2, q=f"list{tag}") == _newest(made)
    total = (await staff(COUNTED, {"q": f"list{tag}", "f": 2}))["data"]["clients"]["totalCount"]
    assert total == len(made)


async def test_search_is_planned_for_its_text_on_every_run(session_factory: Any, settings: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A text search keeps no cached prepared statement on the connection: PostgreSQL would plan one
    generically after five runs (without the pattern: the newest-first walk for every text, every
    client read for a rare one). Many runs on one connection, alone and with a status, each page still
    right and no statement with the text condition left prepared (nor its total's)."""
    tag = uuid.uuid4().hex[:8]
    desk = f"lists-{tag}"
    made = await _given(session_factory, settings, desk, tag)
    staff = Actor(kind=ActorKind.STAFF, user_id=None, permissions=frozenset(), desk=desk)
    monkeypatch.setattr(lists, "_many", _answer(False))
    async with session_factory() as s, s.begin():
        conn = await driver(s)
        for i in range(8):
            common = await lists.newest(conn, staff, lists.client_filter(search=f"list{tag}"),
                                        PageRequest(size=3, count_total=True))
            assert [str(r[0]) for r in common.items] == _newest(made)[:3] and common.total == len(made)
            rare = await lists.newest(conn, staff, lists.client_filter(search=f"list{i % 7}.{tag}@"), PageRequest())
            assert [r[0] for r in rare.items] == [made[i % 7][0]]
            active = await lists.newest(conn, staff, lists.client_filter(status=Status.ACTIVE, search=f"list{tag}"),
                                        PageRequest())
            assert [str(r[0]) for r in active.items] == _newest([r for r in made if r[1] == "active"])
        kept = await conn.fetch("SELECT statement FROM pg_prepared_statements WHERE statement LIKE "
                                "'%FROM clients WHERE%search_text LIKE $%' AND statement NOT LIKE '%pg_prepared%'")
    assert kept == []
