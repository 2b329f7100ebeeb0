"""Preferences per kind and channel: on by default, turned off by their owner only, mandatory kinds refused with a
typed error and nothing written; a push turned off plans no delivery."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from domain.notifications import delivery
from tests.conftest import GraphQLClient
from tests.identity.helpers import register

LIST = "{ myNotificationPreferences { kind channel enabled mandatory } }"
SET = """mutation($k: String!, $c: NotificationChannel!, $e: Boolean!) {
  setMyNotificationPreference(kind: $k, channel: $c, enabled: $e) {
    preference { kind channel enabled mandatory } errors { field code } } }"""


async def _rows(session_factory: Any, user_id: int) -> list[tuple[str, str, bool]]:
    async with session_factory() as s:
        rows = await s.execute(text("SELECT kind, channel, enabled FROM notification_preferences WHERE user_id = :u "
                                    "ORDER BY kind, channel"), {"u": user_id})
        return [(r[0], r[1], r[2]) for r in rows]


async def test_preferences(http: httpx.AsyncClient, session_factory: Any) -> None:
    anon = GraphQLClient(http)
    a, b = await register(anon), await register(anon)
    alice, bob = GraphQLClient(http, a["accessToken"]), GraphQLClient(http, b["accessToken"])
    uid_a, uid_b = int(a["viewer"]["id"]), int(b["viewer"]["id"])
    listed = {(p["kind"], p["channel"]): p for p in (await alice(LIST))["data"]["myNotificationPreferences"]}
    assert listed[("payment.deposit_credited", "PUSH")] == {"kind": "payment.deposit_credited", "channel": "PUSH",
                                                           "enabled": True, "mandatory": False}
    assert listed[("security.password_changed", "EMAIL")]["mandatory"] is True
    assert listed[("trading.margin_stop_out", "PUSH")]["mandatory"] is True
    assert listed[("trading.margin_warning", "PUSH")]["mandatory"] is False

    off = (await alice(SET, {"k": "payment.deposit_credited", "c": "PUSH", "e": False}))["data"][
        "setMyNotificationPreference"]
    assert off["errors"] == [] and off["preference"]["enabled"] is False
    # Refused, nothing written: a mandatory kind off, an unknown kind.
    refused = (await alice(SET, {"k": "security.password_changed", "c": "PUSH", "e": False}))["data"][
        "setMyNotificationPreference"]
    assert refused == {"preference": None, "errors": [{"field": "enabled", "code": "NOTIFICATION_MANDATORY"}]}
    unknown = (await alice(SET, {"k": "no.such.kind", "c": "EMAIL", "e": False}))["data"][
        "setMyNotificationPreference"]
    assert unknown["errors"] == [{"field": "kind", "code": "UNKNOWN_NOTIFICATION_KIND"}]
    assert await _rows(session_factory, uid_a) == [("payment.deposit_credited", "push", False)]
    assert await _rows(session_factory, uid_b) == []  # Bob's are his own
    assert all(p["enabled"] for p in (await bob(LIST))["data"]["myNotificationPreferences"])

    # A push turned off plans no delivery; the kind stays on for the other channels.
    async with session_factory() as s, s.begin():
        await s.execute(text("INSERT INTO push_devices (user_id, platform, token) VALUES (:u, 'web', :t)"),
                        {"u": uid_a, "t": f"pref-test-{uid_a}-token"})
    assert await delivery.plan(session_factory, 10**12 + uid_a, uid_a, "payment.deposit_credited") == []
    assert len(await delivery.plan(session_factory, 10**12 + uid_a, uid_a, "security.password_changed")) == 1
    listed = {(p["kind"], p["channel"]): p["enabled"] for p in (await alice(LIST))["data"]["myNotificationPreferences"]}
    assert listed[("payment.deposit_credited", "PUSH")] is False and listed[("payment.deposit_credited", "EMAIL")]
