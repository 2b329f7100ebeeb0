"""A client's audited profile changes opened for compliance: who, when, each changed field before and after, from
the audit events where they are sealed under the client's key; the opening audited; desk scoping (back office every
client's, a desk analyst only their desk's, none without a desk or another desk's: not found, nothing recorded); a
crypto-shredded client's refused with CLIENT_DATA_ERASED and nothing recorded."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text

from domain.identity import roles as roles_service
from domain.retention import keys
from domain.shared.actor import system_actor
from tests.clients.flow import PROFILE, VERIFY, profile_input, registered, verification_token
from tests.clients.staff_world import audit_of
from tests.identity.staff import make_staff
from tests.ids import db_id

OPEN = """mutation($c: ID!, $n: Int) { openClientProfileChanges(clientId: $c, first: $n) {
  changes { auditEventId occurredAt actorKind actorUserId actorName fields { field before after } }
  hasMore errors { field code } } }"""


async def _opened(session_factory: Any, client_id: int) -> list[dict[str, Any]]:
    return [e for e in await audit_of(session_factory, "client", client_id)
            if e["action"] == "client.profile_changes_unsealed"]


async def test_compliance_opens_a_clients_sealed_profile_changes_within_its_desks(
        http: httpx.AsyncClient, session_factory: Any, settings: Any, brokerage: int) -> None:
    client, email, gid = await registered(http)
    client_id = db_id(gid)
    assert (await client(VERIFY, {"t": await verification_token(session_factory, email)}))[
        "data"]["verifyClientEmail"]["errors"] == []
    first = profile_input(lastName="Weber", city="Berlin")
    assert (await client(PROFILE, {"i": first}))["data"]["updateMyProfile"]["errors"] == []
    second = {**first, "lastName": "Weber-Roth", "city": "Munich", "phone": "+49 89 123456"}
    assert (await client(PROFILE, {"i": second}))["data"]["updateMyProfile"]["errors"] == []
    home, away = f"home-{uuid.uuid4().hex[:6]}", f"away-{uuid.uuid4().hex[:6]}"
    async with session_factory() as s, s.begin():
        user_id = int(await s.scalar(text("UPDATE clients SET desk = :d WHERE id = :c RETURNING user_id"),
                                     {"d": home, "c": client_id}))
        role = f"desk-aml-{uuid.uuid4().hex[:6]}"
        await roles_service.create_role(s, system_actor("test"), name=role, description="desk AML",
                                        permissions=["compliance.read"])
    officer = await make_staff(http, session_factory, settings, ["compliance"])
    analyst = await make_staff(http, session_factory, settings, [role], desk=home)
    elsewhere = await make_staff(http, session_factory, settings, [role], desk=away)
    no_desk = await make_staff(http, session_factory, settings, [role])

    body = await officer.client(OPEN, {"c": gid})
    opened = body["data"]["openClientProfileChanges"]
    assert opened["errors"] == [] and opened["hasMore"] is False, body
    newest, oldest = opened["changes"]
    assert newest["actorKind"] == "client" and newest["actorUserId"] == str(user_id) and newest["actorName"] == "C"
    assert newest["occurredAt"] >= oldest["occurredAt"]
    assert {f["field"]: (f["before"], f["after"]) for f in newest["fields"]} == {
        "last_name": ("Weber", "Weber-Roth"), "profile.address.city": ("Berlin", "Munich"),
        "profile.phone": ("+4930901820", "+4989123456")}  # as stored (normalised)
    # The first change filled the profile in: names were blank, the rest unset.
    made = {f["field"]: (f["before"], f["after"]) for f in oldest["fields"]}
    assert made["last_name"] == ("", "Weber") and made["profile.address.city"] == (None, "Berlin"), made
    assert made["date_of_birth"] == (None, "1985-04-12")
    # The opening is audited: who opened which events.
    [event] = await _opened(session_factory, client_id)
    assert event["actor_user_id"] == officer.user_id
    assert event["after"] == {"audit_event_ids": [int(newest["auditEventId"]), int(oldest["auditEventId"])]}

    one = (await analyst.client(OPEN, {"c": gid, "n": 1}))["data"]["openClientProfileChanges"]
    assert one["errors"] == [] and one["hasMore"] is True and [c["auditEventId"] for c in one["changes"]] == [
        newest["auditEventId"]]
    assert len(await _opened(session_factory, client_id)) == 2

    # Another desk, no desk, a bad page size: refused, and nothing recorded.
    for caller, variables, code in ((elsewhere, {"c": gid}, "NOT_FOUND"), (no_desk, {"c": gid}, "NOT_FOUND"),
                                    (officer, {"c": gid, "n": 0}, "VALIDATION_FAILED"),
                                    (officer, {"c": gid, "n": 201}, "VALIDATION_FAILED")):
        refused = (await caller.client(OPEN, variables))["data"]["openClientProfileChanges"]
        assert refused["changes"] is None and [e["code"] for e in refused["errors"]] == [code], (variables, refused)
    # The client's own sequential neighbour is no way round it.
    neighbour = (await elsewhere.client(OPEN, {"c": str(client_id + 1)}))["data"]["openClientProfileChanges"]
    assert [e["code"] for e in neighbour["errors"]] == ["NOT_FOUND"]
    # Staff without compliance.read are refused by permission.
    support = await make_staff(http, session_factory, settings, ["support"], desk=home)
    assert (await support.client(OPEN, {"c": gid})).get("errors")
    assert len(await _opened(session_factory, client_id)) == 2

    # Crypto-shredded: nothing can be opened, the refusal is typed, nothing recorded.
    async with session_factory() as s, s.begin():
        assert await keys.destroy(s, client_id)
    erased = (await officer.client(OPEN, {"c": gid}))["data"]["openClientProfileChanges"]
    assert erased == {"changes": None, "hasMore": False,
                      "errors": [{"field": "clientId", "code": "CLIENT_DATA_ERASED"}]}
    assert len(await _opened(session_factory, client_id)) == 2


async def test_a_client_without_profile_changes_has_none_to_open(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    _, _, gid = await registered(http)
    officer = await make_staff(http, session_factory, settings, ["compliance"])
    opened = (await officer.client(OPEN, {"c": gid}))["data"]["openClientProfileChanges"]
    assert opened == {"changes": [], "hasMore": False, "errors": []}
    async with session_factory() as s:
        made = await s.scalar(text("SELECT count(*) FROM client_keys WHERE client_id = :c"), {"c": db_id(gid)})
    assert made == 0  # opening nothing makes no key
