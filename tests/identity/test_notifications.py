"""In-app notifications kept with their read state: listed newest first, counted, marked read by their owner only
(anyone else's id answers NOT_FOUND and changes nothing)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from domain.identity.notifications import NotificationRow
from domain.identity.sessions import notify
from schema.node import global_id
from tests.conftest import GraphQLClient
from tests.identity.helpers import register

LIST = """{ myUnreadNotificationCount myNotifications(first: 10) {
  edges { node { id kind message reference amount currency createdAt readAt } } } }"""
MARK = """mutation($id: ID!) { markNotificationRead(id: $id) {
  notification { id readAt } unreadCount errors { field code } } }"""
MARK_ALL = "mutation { markAllNotificationsRead { marked errors { code } } }"
NODE = "query($id: ID!) { node(id: $id) { ... on Notification { id kind } } }"


async def _notify(session_factory: Any, user_id: int, kind: str, **details: str) -> None:
    async with session_factory() as s, s.begin():
        await notify(s, user_id, kind, f"{kind} happened", **details)


async def _read_at(session_factory: Any, user_id: int) -> dict[str, Any]:
    async with session_factory() as s:
        rows = await s.execute(select(NotificationRow.kind, NotificationRow.read_at)
                               .where(NotificationRow.user_id == user_id))
        return {kind: read_at for kind, read_at in rows}


async def test_read_state_is_kept_and_owner_only(http: httpx.AsyncClient, session_factory: Any) -> None:
    anon = GraphQLClient(http)
    a, b = await register(anon), await register(anon)
    alice, bob = GraphQLClient(http, a["accessToken"]), GraphQLClient(http, b["accessToken"])
    uid_a, uid_b = int(a["viewer"]["id"]), int(b["viewer"]["id"])
    await _notify(session_factory, uid_a, "first")
    await _notify(session_factory, uid_a, "payment.deposit_credited", reference="R1", amount="0.01000000",
                  currency="BTC")
    await _notify(session_factory, uid_b, "bobs")

    body = (await alice(LIST))["data"]
    assert body["myUnreadNotificationCount"] == 2
    nodes = [e["node"] for e in body["myNotifications"]["edges"]]
    assert [n["kind"] for n in nodes] == ["payment.deposit_credited", "first"]  # newest first
    assert nodes[0]["amount"] == "0.01000000" and nodes[0]["reference"] == "R1" and nodes[0]["readAt"] is None
    first_id = nodes[1]["id"]
    bobs_id = (await bob(LIST))["data"]["myNotifications"]["edges"][0]["node"]["id"]

    # Bob cannot mark, nor see, Alice's notification: NOT_FOUND, and it stays unread.
    refused = (await bob(MARK, {"id": first_id}))["data"]["markNotificationRead"]
    assert refused["errors"] == [{"field": "id", "code": "NOT_FOUND"}] and refused["notification"] is None
    assert (await bob(NODE, {"id": first_id}))["data"]["node"] is None
    # A malformed id, another type's id or a bare database id: INVALID_ID, nothing changes.
    for bad in ("nonsense", global_id("ApiToken", 1), str(uid_a)):
        out = (await alice(MARK, {"id": bad}))["data"]["markNotificationRead"]
        assert out["errors"] == [{"field": "id", "code": "INVALID_ID"}], bad
    assert set((await _read_at(session_factory, uid_a)).values()) == {None}

    marked = (await alice(MARK, {"id": first_id}))["data"]["markNotificationRead"]
    assert marked["errors"] == [] and marked["notification"]["readAt"] and marked["unreadCount"] == 1
    again = (await alice(MARK, {"id": first_id}))["data"]["markNotificationRead"]
    assert again["notification"]["readAt"] == marked["notification"]["readAt"]  # the first read is kept
    assert (await alice(NODE, {"id": first_id}))["data"]["node"]["kind"] == "first"
    unread = (await alice("{ myNotifications(first: 5, unreadOnly: true) { edges { node { kind } } } }"))["data"]
    assert [e["node"]["kind"] for e in unread["myNotifications"]["edges"]] == ["payment.deposit_credited"]

    # Mark all: Alice's remaining one, none of Bob's.
    assert (await alice(MARK_ALL))["data"]["markAllNotificationsRead"] == {"marked": 1, "errors": []}
    assert (await alice(LIST))["data"]["myUnreadNotificationCount"] == 0
    assert (await alice(MARK_ALL))["data"]["markAllNotificationsRead"]["marked"] == 0
    assert (await _read_at(session_factory, uid_b)) == {"bobs": None}
    assert (await bob(LIST))["data"]["myUnreadNotificationCount"] == 1
    assert bobs_id != first_id


async def test_anonymous_gets_nothing(http: httpx.AsyncClient) -> None:
    body = await GraphQLClient(http)("{ myUnreadNotificationCount }")
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
