"""Staff search communications by text, client, kind and period, a keyset page at a time; system
emails (the verification link) are there without anyone logging them; desks scope what sales see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from schema.node import global_id
from tests.clients.flow import registered
from tests.conftest import unique
from tests.identity.staff import make_staff
from tests.ids import db_id

LOG = """mutation($c: ID!, $k: String!, $b: String!, $s: String!) {
  logClientCommunication(clientId: $c, kind: $k, body: $b, subject: $s) { communication { id } errors { code } } }"""
SEARCH = """query($q: String, $c: ID, $k: [String!], $since: DateTime, $until: DateTime, $first: Int, $after: String) {
  searchCommunications(query: $q, clientId: $c, kinds: $k, since: $since, until: $until, first: $first,
                       after: $after) {
    edges { cursor node { id clientId kind direction subject body authorUserId } }
    pageInfo { hasNextPage endCursor } } }"""


async def test_search_by_text_client_kind_and_period_with_keyset_pages(
        http: httpx.AsyncClient, session_factory: Any, settings: Any, brokerage: int) -> None:
    _, _, first_client = await registered(http)
    _, _, second_client = await registered(http)
    staff = await make_staff(http, session_factory, settings, ["compliance"])
    word = unique("margin").replace("-", "")
    logged: list[str] = []
    for client_id, kind, body in ((first_client, "call", f"called about the {word} call"),
                                  (first_client, "note", f"{word} explained, client understood"),
                                  (first_client, "message", f"chat: {word} level question"),
                                  (first_client, "note", "unrelated note about the weather"),
                                  (second_client, "call", f"second client asked about {word}")):
        done = await staff.client(LOG, {"c": client_id, "k": kind, "b": body, "s": "Follow-up"})
        assert done["data"]["logClientCommunication"]["errors"] == [], done
        logged.append(done["data"]["logClientCommunication"]["communication"]["id"])

    async def search(**variables: Any) -> dict[str, Any]:
        body = await staff.client(SEARCH, variables)
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]["searchCommunications"]
        return result

    def ids(result: dict[str, Any]) -> list[str]:
        return [e["node"]["id"] for e in result["edges"]]

    # Text matches every word, across clients, newest first.
    assert ids(await search(q=word)) == [logged[4], logged[2], logged[1], logged[0]]
    assert ids(await search(q=f"{word} understood")) == [logged[1]]
    assert ids(await search(q=word, c=first_client)) == [logged[2], logged[1], logged[0]]
    assert ids(await search(q=word, k=["call", "message"], c=first_client)) == [logged[2], logged[0]]
    # Keyset pages: two, then the rest, then nothing left.
    page = await search(c=first_client, k=["note", "call", "message"], first=2)
    assert ids(page) == [logged[3], logged[2]] and page["pageInfo"]["hasNextPage"] is True
    rest = await search(c=first_client, k=["note", "call", "message"], first=2, after=page["pageInfo"]["endCursor"])
    assert ids(rest) == [logged[1], logged[0]] and rest["pageInfo"]["hasNextPage"] is False
    # A period: everything logged lies in the last hour, nothing before it.
    now = datetime.now(UTC)
    assert len(ids(await search(q=word, since=(now - timedelta(hours=1)).isoformat()))) == 4
    assert ids(await search(q=word, until=(now - timedelta(hours=1)).isoformat())) == []

    # The verification email was recorded by the system: no author, the secret link left out.
    emails = await search(c=first_client, k=["email"])
    [email] = [e["node"] for e in emails["edges"]]
    assert email == {"id": email["id"], "clientId": global_id("Client360", db_id(first_client)), "kind": "email", "direction": "out",
                     "subject": "Confirm your email address", "body": "Email verification link sent.",
                     "authorUserId": None}
    assert ids(await search(q="confirm email", c=first_client)) == [email["id"]]


async def test_search_refusals_and_desk_scope(http: httpx.AsyncClient, session_factory: Any, settings: Any,
                                              brokerage: int) -> None:
    _, _, client_id = await registered(http)
    staff = await make_staff(http, session_factory, settings, ["compliance"])
    for variables, code in (({"k": ["fax"]}, "VALIDATION_FAILED"),
                            ({"since": "2030-01-02T00:00:00+00:00", "until": "2030-01-01T00:00:00+00:00"},
                             "VALIDATION_FAILED"),
                            ({"since": "2030-01-01T00:00:00"}, "VALIDATION_FAILED"),
                            ({"first": 0}, "INVALID_PAGE_ARGUMENTS"),
                            ({"after": "not-a-cursor"}, "INVALID_PAGE_ARGUMENTS"),
                            ({"q": "x" * 201}, "VALIDATION_FAILED")):
        body = await staff.client(SEARCH, variables)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == code, (variables, body)
    # Without clients.notes (finance reads clients but does not see their conversations).
    finance = await make_staff(http, session_factory, settings, ["finance"])
    body = await finance.client(SEARCH, {"c": client_id})
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Sales on another desk: the client is not theirs, so nothing is found.
    sales = await make_staff(http, session_factory, settings, ["sales"], desk=unique("desk"))
    body = await sales.client(SEARCH, {"c": client_id})
    assert body["data"]["searchCommunications"]["edges"] == []


async def test_client_360_communications_name_their_author(http: httpx.AsyncClient, session_factory: Any,
                                                           settings: Any, brokerage: int) -> None:
    from sqlalchemy import text

    _, _, client_id = await registered(http)
    staff = await make_staff(http, session_factory, settings, ["compliance"])
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE users SET display_name = 'Hana Notes' WHERE id = :u"), {"u": staff.user_id})
    done = await staff.client(LOG, {"c": client_id, "k": "call", "b": "called about margin", "s": "Margin"})
    assert done["data"]["logClientCommunication"]["errors"] == [], done
    view = await staff.client("""query($c: ID!) { client(id: $c) { communications(first: 5) {
        nodes { kind subject authorName } } } }""", {"c": client_id})
    assert "errors" not in view, view
    nodes = view["data"]["client"]["communications"]["nodes"]
    assert nodes[0] == {"kind": "call", "subject": "Margin", "authorName": "Hana Notes"}
    # the system's verification e-mail has no author
    assert {"kind": "email", "subject": "Confirm your email address", "authorName": None} in nodes
