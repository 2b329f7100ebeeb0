"""The staff client list: newest first, filtered by status, country and desk, narrowed by name or
e-mail text, keyset pages without gaps or repeats, desk scope kept, bad filter values refused with
typed errors (issue 17)."""

from __future__ import annotations

import re
import unicodedata
import uuid
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


COUNTED = """query($q: String, $f: Int, $a: String) {
  clients(search: $q, first: $f, after: $a) { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }"""

BACK_OFFICE = Actor(kind=ActorKind.STAFF, user_id=None, permissions=frozenset({"kyc.review"}))


def _fold(text: str) -> str:
    """Lower-cased without accents (as unaccent folds this test's letters)."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(ch))


def _tokens(cid: int, first: str, last: str, email: str, phone: str) -> set[str]:
    """A client's search words as the list's description states them (migration 0070)."""
    local, domain = _fold(email).split("@")
    national = re.sub(r"[^0-9]", "", phone.split(" ", 1)[1])
    return {*_fold(f"{first} {last}").split(), _fold(email), *re.split(r"[._+-]+", local)[1:], domain,
            re.sub(r"[^0-9]", "", phone), national, str(cid)}


def _query_words(q: str) -> list[str]:
    if re.fullmatch(r"[\s0-9+().-]*[0-9][\s0-9+().-]*", q):
        return [re.sub(r"[^0-9]", "", q)]
    return _fold(q).split()


async def _reference_world(session_factory: Any, settings: Any, tag: str, digits: str) -> list[dict[str, Any]]:
    """Ten clients on two desks, names sharing word starts, accents, e-mails and phones of their own."""
    specs = [("Ann", f"Lee{tag}", "active", "GB", "home"), ("Anna", f"Leeds{tag}", "active", "DE", "home"),
             ("José", f"Núñez{tag}", "registered", "GB", "home"), ("Zoë", f"Lee{tag}", "active", "GB", "home"),
             ("Annabel", f"Smith-Lee{tag}", "blocked", "MT", "home"), ("Jo", f"Anderson{tag}", "active", "GB", "home"),
             ("Ann", f"Núñez{tag}", "registered", "DE", "home"), ("Lee", f"Ann{tag}", "active", "GB", "away"),
             ("Anna", f"Lee{tag}", "active", "GB", "away"), ("Renée", f"Jo{tag}", "active", "DE", "home")]
    made = []
    for i, (first, last, status, country, desk) in enumerate(specs):
        email = f"{_fold(first)}.{tag}{i}@{tag}.example"
        phone = f"+357 {digits}{i}"
        cid, _, _ = await make_client(session_factory, settings, first=first, last=last, desk=f"{desk}-{tag}",
                                      status=status, email=email, phone=phone)
        at = BASE + timedelta(minutes=i // 3)  # three at an instant: the id breaks the tie
        async with session_factory() as s, s.begin():
            await s.execute(text("UPDATE clients SET country = :c, created_at = :t WHERE id = :i"),
                            {"c": country, "t": at, "i": cid})
        made.append({"id": cid, "status": status, "country": country, "desk": f"{desk}-{tag}", "at": at,
                     "tokens": _tokens(cid, first, last, email, phone)})
    return made


async def _domain_walk(conn: Any, actor: Actor, f: lists.ClientFilter, size: int) -> tuple[list[int], int | None]:
    """Every page forward (the total from the first), then every page backward: the same order."""
    seen: list[int] = []
    after = None
    total = None
    while True:
        page = await lists.newest(conn, actor, f, PageRequest(size=size, after=after, count_total=after is None))
        total = page.total if after is None else total
        seen += [r["id"] for r in page.items]
        if not page.has_next_page:
            break
        after = (page.items[-1]["created_at"], page.items[-1]["id"])
    back: list[int] = []
    before = None
    while True:
        page = await lists.newest(conn, actor, f, PageRequest(size=size, before=before, backward=True))
        back = [r["id"] for r in page.items] + back
        if not page.has_previous_page:
            break
        before = (page.items[0]["created_at"], page.items[0]["id"])
    assert back == seen
    return seen, total


@pytest.mark.parametrize(("alone", "checked"), [(lists.ALONE, lists.CHECKED), (0, lists.CHECKED), (0, 0)],
                         ids=["as-counted", "checked", "walk"])
async def test_search_pages_match_a_reference_filter_every_way(
        session_factory: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, alone: int, checked: int) -> None:
    """Every combination of words, status, country, desk and desk scope gives the pages a plain Python
    filter over this test's clients gives (newest first, each word starting a word of the client), by
    each way to the page (forced by the bounds: the rarest word's clients alone or checked, or a walk);
    a total exact where the way counts it, null for a walk."""
    monkeypatch.setattr(lists, "ALONE", alone)
    monkeypatch.setattr(lists, "CHECKED", checked)
    monkeypatch.setattr(lists, "_words_seen", {})  # counts capped by these bounds
    tag = uuid.uuid4().hex[:8]
    digits = str(uuid.uuid4().int)[:9]
    made = await _reference_world(session_factory, settings, tag, digits)
    home, away = f"home-{tag}", f"away-{tag}"
    scoped = [f"lee{tag}", f"ann {tag}", f"anna {tag}", f"ann lee{tag}", f"JOSÉ {tag}", f"jose nunez{tag}",
              f"núñez{tag} {tag}", f"zoe {tag}", f"lee {tag}", f"smith-lee{tag}", f"jo {tag}", f"ren {tag}",
              f"{tag}.example", f"ann.{tag}", f"anna.{tag}1 {tag}", f"{tag}", f"zzz {tag}", f"%{tag}", f"_nn {tag}",
              f"{made[2]['id']} {tag}", f"leeds{tag} anna ann"]
    unscoped = [f"+357 {digits}", f"{digits}1", f"(357) {digits}-4", f"357{digits}7"]
    desk_staff = Actor(kind=ActorKind.STAFF, user_id=None, permissions=frozenset({"clients.read"}), desk=home)
    async with session_factory() as s:
        conn = await driver(s)
        cases = [(q, st, co, dk) for q in scoped for st in (None, "active") for co in (None, "GB")
                 for dk in (None, home)] + [(q, None, None, dk) for q in unscoped for dk in (home, away)]
        for q, st, co, dk in cases:
            words = _query_words(q)
            for actor in (BACK_OFFICE, desk_staff):
                expected = [r for r in made if (st is None or r["status"] == st) and (co is None or r["country"] == co)
                            and (dk is None or r["desk"] == dk) and (actor is BACK_OFFICE or r["desk"] == home)
                            and all(any(t.startswith(w) for t in r["tokens"]) for w in words)]
                order = [r["id"] for r in sorted(expected, key=lambda r: (r["at"], r["id"]), reverse=True)]
                f = lists.client_filter(status=Status(st) if st else None, country=co, desk=dk, search=q)
                seen, total = await _domain_walk(conn, actor, f, 2)
                assert seen == order, (q, st, co, dk, actor.desk)
                walked = alone == 0 and checked == 0
                # A walk's total is null, unless a word starts no token at all (nothing to walk for: 0).
                assert total in ((None, len(order)) if walked else (len(order),)), (q, st, co, dk, actor.desk)


async def test_search_tokens_follow_profile_name_and_e_mail_changes(session_factory: Any, settings: Any) -> None:
    """The token table holds exactly the client's words (search_tokens, at the client's creation time)
    after each change of phone, name, e-mail or creation time, and the list finds the new words only."""
    tag = uuid.uuid4().hex[:8]
    cid, _, _ = await make_client(session_factory, settings, first="Émile", last=f"Zola{tag}",
                                    email=f"emile.{tag}@old.example", phone="+33 1 4000 0001")

    async def tokens() -> tuple[set[str], set[str]]:
        async with session_factory() as s:
            row = (await s.execute(text("SELECT search_tokens FROM clients WHERE id = :i"), {"i": cid})).scalar_one()
            table = {r[0] for r in await s.execute(text("SELECT token FROM client_search_tokens WHERE client_id = :i"),
                                                   {"i": cid})}
        return set(row.split()), table

    words, table = await tokens()
    assert words == table == {"emile", f"zola{tag}", f"emile.{tag}@old.example", tag, "old.example", "33140000001",
                              "140000001", str(cid)}
    changes = [("UPDATE clients SET profile = profile || '{\"phone\": \"+44 7700 900123\"}' WHERE id = :i",
                {"447700900123", "7700900123"}, {"33140000001", "140000001"}),
               ("UPDATE clients SET first_name = 'Émilie' WHERE id = :i", {"emilie"}, {"emile"}),
               ("UPDATE users SET email = 'z.new@new.example', email_normalized = 'z.new@new.example' "
                "WHERE id = (SELECT user_id FROM clients WHERE id = :i)",
                {"z.new@new.example", "new", "new.example"}, {f"emile.{tag}@old.example", tag, "old.example"})]
    for sql, added, gone in changes:
        async with session_factory() as s, s.begin():
            await s.execute(text(sql), {"i": cid})
        words, table = await tokens()
        assert words == table and added <= words and not gone & words, sql
    async with session_factory() as s:
        conn = await driver(s)
        for q, hit in (("+44 7700 900123", True), ("emilie", True), ("z.new@new", True), ("emile.", False)):
            found = await lists.newest(conn, BACK_OFFICE, lists.client_filter(search=q), PageRequest(size=50))
            assert (cid in [r["id"] for r in found.items]) is hit, q
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE clients SET created_at = :t WHERE id = :i"), {"t": BASE, "i": cid})
        at = {r[0] for r in await s.execute(text("SELECT created_at FROM client_search_tokens WHERE client_id = :i"),
                                            {"i": cid})}
    assert at == {BASE}


async def test_search_is_planned_for_its_words_on_every_run(session_factory: Any, settings: Any) -> None:
    """A search's page keeps no cached prepared statement on the connection (PostgreSQL would plan one
    generically after five runs, without seeing how many clients the words keep). Many runs on one
    connection, alone and with a status, each page right and no statement with a word left prepared."""
    tag = uuid.uuid4().hex[:8]
    desk = f"lists-{tag}"
    made = await _given(session_factory, settings, desk, tag)
    staff = Actor(kind=ActorKind.STAFF, user_id=None, permissions=frozenset(), desk=desk)
    async with session_factory() as s, s.begin():
        conn = await driver(s)
        for i in range(8):
            common = await lists.newest(conn, staff, lists.client_filter(search=f"list{tag}"),
                                        PageRequest(size=3, count_total=True))
            assert [str(r[0]) for r in common.items] == _newest(made)[:3] and common.total == len(made)
            rare = await lists.newest(conn, BACK_OFFICE, lists.client_filter(search=f"list{i % 7}.{tag}@"),
                                      PageRequest())
            assert [r[0] for r in rare.items] == [made[i % 7][0]]
            active = await lists.newest(conn, staff, lists.client_filter(status=Status.ACTIVE, search=f"list{tag}"),
                                        PageRequest())
            assert [str(r[0]) for r in active.items] == _newest([r for r in made if r[1] == "active"])
        kept = await conn.fetch("SELECT statement FROM pg_prepared_statements WHERE (statement LIKE "
                                "'%search_tokens LIKE $%' OR statement LIKE '%FROM client_search_tokens WHERE token >= $%') "
                                "AND statement NOT LIKE '%pg_prepared%'")
    assert kept == []
