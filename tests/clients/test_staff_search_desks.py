"""Staff client search (by id, login, e-mail, name, phone; ranked, paginated, desk-scoped), desk
assignment, and the user id shown beside the client id (issue 16, staff)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from schema.node import global_id
from tests.clients.staff_world import audit_of, give_login, make_client, scalar
from tests.identity.staff import make_staff
from tests.ids import db_id

SEARCH = """query($q: String!, $f: Int, $a: String) { searchClients(query: $q, first: $f, after: $a) {
  edges { cursor node { rank matchedOn email client { id userId name desk } } } pageInfo { hasNextPage endCursor } } }"""
ASSIGN = """mutation($c: ID!, $d: String, $r: String! = "") { assignClientDesk(clientId: $c, desk: $d, reason: $r) {
  client { id userId desk } errors { field code } } }"""
CLIENT = "query($i: ID!) { client(id: $i) { id userId desk } }"


def _ids(body: dict[str, Any]) -> list[str]:
    return [str(db_id(e["node"]["client"]["id"])) for e in body["data"]["searchClients"]["edges"]]


async def test_search_finds_by_id_login_email_name_and_phone(http: httpx.AsyncClient, session_factory: Any,
                                                             settings: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    surname = f"Q{tag}son"
    cid, uid, email = await make_client(session_factory, settings, first="Marta", last=surname,
                                        phone="+49 (30) 5550-" + tag[:4].translate(str.maketrans("abcdef", "123456")),
                                        email=f"marta.{tag}@mail.example")
    other, _, _ = await make_client(session_factory, settings, first="Ola", last=surname)
    login = await give_login(session_factory, settings, uid)
    staff = (await make_staff(http, session_factory, settings, ["compliance"])).client

    by_id = await staff(SEARCH, {"q": str(cid)})
    first = by_id["data"]["searchClients"]["edges"][0]["node"]
    assert first["client"] == {"id": global_id("ClientSummary", cid), "userId": str(uid), "name": f"Marta {surname}",
                               "desk": None}
    assert (first["rank"], first["matchedOn"], first["email"]) == (1.0, "id", email)

    by_login = (await staff(SEARCH, {"q": str(login)}))["data"]["searchClients"]["edges"][0]["node"]
    assert (by_login["client"]["id"], by_login["matchedOn"], by_login["rank"]) == (global_id("ClientSummary", cid),
                                                                           "login", 1.0)

    by_email = (await staff(SEARCH, {"q": email.upper()}))["data"]["searchClients"]["edges"]
    assert [(e["node"]["client"]["id"], e["node"]["matchedOn"], e["node"]["rank"]) for e in by_email] == [
        (global_id("ClientSummary", cid), "email", 0.95)]
    assert _ids(await staff(SEARCH, {"q": f"marta.{tag}"})) == [str(cid)]

    # Words in any order; the exact full name ranks above the other client sharing the surname.
    assert _ids(await staff(SEARCH, {"q": f"{surname} marta"})) == [str(cid)]
    both = await staff(SEARCH, {"q": f"marta {surname}"})
    assert _ids(both)[0] == str(cid)
    assert set(_ids(await staff(SEARCH, {"q": surname.lower()}))) == {str(cid), str(other)}

    digits = "4930" + "5550" + tag[:4].translate(str.maketrans("abcdef", "123456"))
    by_phone = (await staff(SEARCH, {"q": digits[2:]}))["data"]["searchClients"]["edges"]
    assert [(e["node"]["client"]["id"], e["node"]["matchedOn"]) for e in by_phone] == [(global_id("ClientSummary", cid), "phone")]


async def test_search_pages_by_rank_then_id_without_repeats(http: httpx.AsyncClient, session_factory: Any,
                                                            settings: Any) -> None:
    surname = f"Page{uuid.uuid4().hex[:8]}"
    made = [(await make_client(session_factory, settings, first=f"N{i}", last=surname))[0] for i in range(5)]
    staff = (await make_staff(http, session_factory, settings, ["compliance"])).client
    seen: list[str] = []
    after = None
    while True:
        page = (await staff(SEARCH, {"q": surname, "f": 2, "a": after}))["data"]["searchClients"]
        seen += [str(db_id(e["node"]["client"]["id"])) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [str(c) for c in sorted(made, reverse=True)]  # equal ranks: newest id first


async def test_search_refuses_bad_input_with_exact_codes(http: httpx.AsyncClient, session_factory: Any,
                                                         settings: Any) -> None:
    staff = (await make_staff(http, session_factory, settings, ["compliance"])).client
    for variables, code in (({"q": "ab"}, "SEARCH_QUERY_INVALID"), ({"q": "   "}, "SEARCH_QUERY_INVALID"),
                            ({"q": "x" * 101}, "SEARCH_QUERY_INVALID"),
                            ({"q": "anna", "a": "not-a-cursor"}, "INVALID_PAGE_ARGUMENTS"),
                            ({"q": "anna", "f": 0}, "INVALID_PAGE_ARGUMENTS")):
        body = await staff(SEARCH, variables)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == code, (variables, body)
    # LIKE wildcards are literal: a search for "%%%" matches no one rather than everyone.
    assert _ids(await staff(SEARCH, {"q": "%%%"})) == []
    anon = await type(staff)(http)(SEARCH, {"q": "anna"})
    assert anon["data"] is None and anon["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_search_is_desk_scoped(http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    surname = f"Desk{uuid.uuid4().hex[:8]}"
    home, away = f"home-{uuid.uuid4().hex[:6]}", f"away-{uuid.uuid4().hex[:6]}"
    mine, _, _ = await make_client(session_factory, settings, first="A", last=surname, desk=home)
    theirs, _, _ = await make_client(session_factory, settings, first="B", last=surname, desk=away)
    sales = (await make_staff(http, session_factory, settings, ["sales"], desk=home)).client
    assert _ids(await sales(SEARCH, {"q": surname})) == [str(mine)]
    assert _ids(await sales(SEARCH, {"q": str(theirs)})) == []  # by id neither
    no_desk = (await make_staff(http, session_factory, settings, ["sales"])).client
    assert _ids(await no_desk(SEARCH, {"q": surname})) == []
    back_office = (await make_staff(http, session_factory, settings, ["compliance"])).client
    assert set(_ids(await back_office(SEARCH, {"q": surname}))) == {str(mine), str(theirs)}


async def test_assign_desk_moves_the_client_between_desks_and_is_audited(http: httpx.AsyncClient,
                                                                         session_factory: Any, settings: Any) -> None:
    home = f"desk-{uuid.uuid4().hex[:6]}"
    cid, uid, _ = await make_client(session_factory, settings, first="D", last=f"Desk{uuid.uuid4().hex[:6]}")
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    sales = (await make_staff(http, session_factory, settings, ["sales"], desk=home)).client
    hidden = await sales(CLIENT, {"i": str(cid)})  # not on the desk yet
    assert hidden["data"] == {"client": None} and hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    done = (await admin.client(ASSIGN, {"c": str(cid), "d": f"  {home} ", "r": "moved to Berlin"}))["data"]
    assert done["assignClientDesk"] == {"client": {"id": global_id("ClientSummary", cid), "userId": str(uid),
                                                   "desk": home}, "errors": []}
    assert (await sales(CLIENT, {"i": str(cid)}))["data"]["client"] == {"id": global_id("Client360", cid), "userId": str(uid),
                                                                        "desk": home}
    [event] = await audit_of(session_factory, "client", cid)
    assert (event["action"], event["actor_user_id"], event["before"], event["after"], event["reason"]) == (
        "client.desk_assigned", admin.user_id, {"desk": None}, {"desk": home}, "moved to Berlin")

    cleared = (await admin.client(ASSIGN, {"c": str(cid), "d": None}))["data"]["assignClientDesk"]
    assert cleared["client"]["desk"] is None and len(await audit_of(session_factory, "client", cid)) == 2


async def test_assign_desk_refuses_bad_input_and_outsiders_changing_nothing(http: httpx.AsyncClient,
                                                                            session_factory: Any,
                                                                            settings: Any) -> None:
    home = f"desk-{uuid.uuid4().hex[:6]}"
    cid, _, _ = await make_client(session_factory, settings, first="E", last="Fixed", desk=home)
    admin = (await make_staff(http, session_factory, settings, ["administrator"])).client
    for desk in ("", "   ", "x" * 65, "bad\ndesk"):
        body = (await admin(ASSIGN, {"c": str(cid), "d": desk}))["data"]["assignClientDesk"]
        assert body == {"client": None, "errors": [{"field": "desk", "code": "DESK_INVALID"}]}, desk
    missing = (await admin(ASSIGN, {"c": "999999999999", "d": "x"}))["data"]["assignClientDesk"]
    assert missing == {"client": None, "errors": [{"field": "clientId", "code": "NOT_FOUND"}]}
    sales = (await make_staff(http, session_factory, settings, ["sales"], desk=home)).client
    refused = await sales(ASSIGN, {"c": str(cid), "d": "elsewhere"})
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await scalar(session_factory, "SELECT desk FROM clients WHERE id = :c", c=cid) == home
    assert await audit_of(session_factory, "client", cid) == []


async def test_staff_lists_show_the_user_id_beside_the_client_id(http: httpx.AsyncClient, session_factory: Any,
                                                                 settings: Any) -> None:
    cid, uid, _ = await make_client(session_factory, settings, first="U", last=f"Ids{uuid.uuid4().hex[:6]}")
    staff = (await make_staff(http, session_factory, settings, ["compliance"])).client
    listed = await staff("{ clients(first: 100) { nodes { id userId } } }")
    assert {"id": global_id("ClientSummary", cid), "userId": str(uid)} in listed["data"]["clients"]["nodes"]
    async with session_factory() as s, s.begin():
        from sqlalchemy import text

        await s.execute(text("INSERT INTO client_communications (client_id, kind, direction, subject, body) "
                             "VALUES (:c, 'note', 'internal', '', 'ids note')"), {"c": cid})
    notes = (await staff("query($c: ID!) { client(id: $c) { userId communications { nodes { clientId userId } } } }",
                         {"c": str(cid)}))["data"]["client"]
    assert notes == {"userId": str(uid), "communications": {"nodes": [{"clientId": global_id("Client360", cid),
                                                                       "userId": str(uid)}]}}
