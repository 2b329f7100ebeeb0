"""Devices that take push: registered by their owner (the same token again updates the row), listed and removed by
the owner only; removed when the session that registered them signs out. Bad input: a typed error, nothing
written."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from domain.notifications.devices import Device
from schema.node import global_id
from tests.conftest import GraphQLClient
from tests.identity.helpers import login, register

REGISTER = """mutation($i: RegisterDeviceInput!) { registerMyDevice(input: $i) {
  device { id platform tokenLastFour appVersion language thisSession } errors { field code } } }"""
LIST = "{ myDevices { id platform tokenLastFour appVersion language thisSession } }"
REMOVE = "mutation($id: ID!) { removeMyDevice(id: $id) { removed errors { field code } } }"
NODE = "query($id: ID!) { node(id: $id) { ... on Device { id tokenLastFour } } }"


def _fcm(n: int) -> str:
    return f"fcm-token-{n:04d}:APA91b" + "x" * 40 + f"{n:04d}"


async def _tokens(session_factory: Any, user_id: int) -> list[str]:
    async with session_factory() as s:
        return list(await s.scalars(select(Device.token).where(Device.user_id == user_id).order_by(Device.id)))


async def test_register_update_list_remove_owner_only(http: httpx.AsyncClient, session_factory: Any) -> None:
    anon = GraphQLClient(http)
    a, b = await register(anon), await register(anon)
    alice, bob = GraphQLClient(http, a["accessToken"]), GraphQLClient(http, b["accessToken"])
    uid_a, uid_b = int(a["viewer"]["id"]), int(b["viewer"]["id"])
    android, ios = _fcm(1), "ab" * 32

    made = (await alice(REGISTER, {"i": {"platform": "ANDROID", "token": android, "appVersion": "1.2.0",
                                         "language": "en"}}))["data"]["registerMyDevice"]
    assert made["errors"] == [] and made["device"]["tokenLastFour"] == android[-4:]
    assert made["device"]["thisSession"] is True
    phone = (await alice(REGISTER, {"i": {"platform": "IOS", "token": ios, "language": "es"}}))["data"][
        "registerMyDevice"]["device"]
    # The same token again: the same device, updated (no second row).
    again = (await alice(REGISTER, {"i": {"platform": "ANDROID", "token": android, "appVersion": "1.3.0",
                                          "language": "es-MX"}}))["data"]["registerMyDevice"]
    assert again["device"]["id"] == made["device"]["id"] and again["device"]["appVersion"] == "1.3.0"
    listed = (await alice(LIST))["data"]["myDevices"]
    assert [(d["platform"], d["language"]) for d in listed] == [("ANDROID", "es-MX"), ("IOS", "es")]
    assert await _tokens(session_factory, uid_a) == [android, ios]

    # Bad input: typed errors and nothing written.
    for bad, code, field in (({"token": "short"}, "INVALID_DEVICE_TOKEN", "token"),
                             ({"token": "bad token with spaces"}, "INVALID_DEVICE_TOKEN", "token"),
                             ({"token": _fcm(2), "language": "english!"}, "INVALID_LANGUAGE", "language"),
                             ({"token": _fcm(2), "appVersion": "1.0; drop"}, "INVALID_APP_VERSION", "appVersion")):
        out = (await alice(REGISTER, {"i": {"platform": "WEB", **bad}}))["data"]["registerMyDevice"]
        assert out == {"device": None, "errors": [{"field": field, "code": code}]}, bad
    assert await _tokens(session_factory, uid_a) == [android, ios]

    # Bob neither sees nor removes Alice's device; ids of another type or malformed: INVALID_ID.
    assert (await bob(LIST))["data"]["myDevices"] == []
    refused = (await bob(REMOVE, {"id": phone["id"]}))["data"]["removeMyDevice"]
    assert refused == {"removed": None, "errors": [{"field": "id", "code": "NOT_FOUND"}]}
    assert (await bob(NODE, {"id": phone["id"]}))["data"]["node"] is None
    for bad_id in ("nonsense", global_id("Notification", 1), str(uid_a)):
        out = (await alice(REMOVE, {"id": bad_id}))["data"]["removeMyDevice"]
        assert out["errors"] == [{"field": "id", "code": "INVALID_ID"}], bad_id
    assert await _tokens(session_factory, uid_a) == [android, ios]
    assert (await alice(NODE, {"id": phone["id"]}))["data"]["node"]["tokenLastFour"] == ios[-4:]

    # The phone changes hands: Bob registers its token, Alice's pushes no longer go there.
    moved = (await bob(REGISTER, {"i": {"platform": "IOS", "token": ios}}))["data"]["registerMyDevice"]
    assert moved["errors"] == [] and await _tokens(session_factory, uid_b) == [ios]
    assert await _tokens(session_factory, uid_a) == [android]

    removed = (await alice(REMOVE, {"id": made["device"]["id"]}))["data"]["removeMyDevice"]
    assert removed == {"removed": True, "errors": []}
    assert await _tokens(session_factory, uid_a) == []
    assert (await alice(REMOVE, {"id": made["device"]["id"]}))["data"]["removeMyDevice"]["errors"][0]["code"] == \
        "NOT_FOUND"


async def test_sign_out_removes_that_sessions_devices(http: httpx.AsyncClient, session_factory: Any) -> None:
    anon = GraphQLClient(http)
    a = await register(anon)
    uid = int(a["viewer"]["id"])
    first = GraphQLClient(http, a["accessToken"])
    second = GraphQLClient(http, (await login(anon, a["email"]))["accessToken"])
    await first(REGISTER, {"i": {"platform": "ANDROID", "token": _fcm(10)}})
    await second(REGISTER, {"i": {"platform": "WEB", "token": _fcm(11)}})
    assert [d["thisSession"] for d in (await second(LIST))["data"]["myDevices"]] == [False, True]

    assert (await first("mutation { logout { ok errors { code } } }"))["data"]["logout"]["ok"] is True
    assert await _tokens(session_factory, uid) == [_fcm(11)]  # the other session's device stays
    await second("mutation { logoutEverywhere { ok } }")
    assert await _tokens(session_factory, uid) == []


async def test_anonymous_gets_nothing(http: httpx.AsyncClient) -> None:
    body = await GraphQLClient(http)(LIST)
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
