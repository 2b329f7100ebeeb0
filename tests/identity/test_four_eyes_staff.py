"""Four eyes means two people (issue 15, item 5), over HTTP as staff would do it.

Creating a staff user and granting privileged permissions take a step-up and a second staff member
with staff.manage; the second pair of eyes on any request is neither its initiator nor anyone the
initiator created or granted roles to (nor who created / granted them); provenance is queryable.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from domain.ledger.accounts import wallet_for
from domain.shared.db import in_transaction
from schema.node import key_of
from tests.conftest import GraphQLClient, unique
from tests.identity.helpers import PASSWORD, code_at, count, enrol_totp, login, register
from tests.identity.staff import StaffLogin, make_staff

CREATE = """mutation($i: CreateStaffUserInput!) { createStaffUser(input: $i) {
  staffUser { id databaseId status roles } request { id kind status roles requestedBy } errors { code field } } }"""
APPROVE = "mutation($i: ID!) { approveStaffChange(id: $i) { request { id status decidedBy } errors { code } } }"
REJECT = """mutation($i: ID!, $r: String!) { rejectStaffChange(id: $i, reason: $r) {
  request { status decisionReason } errors { code } } }"""
ASSIGN = """mutation($u: ID!, $r: String!) { assignRole(userId: $u, role: $r) {
  ok pending request { id kind role } errors { code } } }"""
SET_PERMS = """mutation($r: ID!, $p: [String!]!) { setRolePermissions(roleId: $r, permissions: $p) {
  role { permissions } pending request { id permissions } errors { code } } }"""
PENDING = "{ pendingStaffChanges(first: 100) { nodes { id kind targetUserId } } }"
STAFF = "{ staffUsers(last: 100) { nodes { databaseId status roles provenance { kind actorId role requestId: staffChangeRequestId } } } }"
ADJUST = """mutation($i: AdjustBalanceInput!) { adjustBalance(input: $i) {
  entryId pending adjustmentId errors { code } } }"""
APPROVE_ADJ = """mutation($i: ID!) { approveBalanceAdjustment(id: $i) {
  adjustment { status } wallet { balance } errors { code } } }"""
STEP_UP = "mutation($c: String!) { stepUp(code: $c) { ok errors { code } } }"


async def stale_step_up(session_factory: Any, staff: StaffLogin) -> None:
    """Signing in with a code counts as a step-up; age it so the next sensitive call needs a fresh one."""
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE auth_sessions SET stepped_up_at = now() - interval '1 hour' WHERE user_id = :u"),
                        {"u": staff.user_id})


async def step_up(staff: StaffLogin) -> None:
    body = await staff.client(STEP_UP, {"c": code_at(staff.secret, 1)})
    assert body["data"]["stepUp"]["ok"] is True, body


async def sign_in_new_staff(http: httpx.AsyncClient, email: str) -> GraphQLClient:
    anon = GraphQLClient(http)
    first = await login(anon, email)
    assert first["errors"] == [], first
    secret, _ = await enrol_totp(GraphQLClient(http, first["accessToken"]))
    again = await login(anon, email, code=code_at(secret, 0))
    assert again["errors"] == [], again
    return GraphQLClient(http, again["accessToken"])


async def client_wallet(http: httpx.AsyncClient, session_factory: Any) -> int:
    owner = await register(GraphQLClient(http))
    uid = int(owner["viewer"]["id"])
    return (await in_transaction(session_factory, lambda s: wallet_for(s, uid, "USD"))).id


async def traces(session_factory: Any) -> tuple[int, ...]:
    return (await count(session_factory, "users"), await count(session_factory, "staff_change_requests"),
            await count(session_factory, "user_roles"), await count(session_factory, "staff_provenance"),
            await count(session_factory, "audit_events", "category = 'permission_change'"))


async def test_a_staff_user_created_by_an_admin_cannot_approve_that_admins_adjustment(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    email = f"{unique('creature')}@broker.example"
    ask = {"i": {"email": email, "password": PASSWORD, "roles": ["finance"], "desk": "emea"}}

    # Without a step-up: refused, and nothing was created.
    await stale_step_up(session_factory, admin)
    before = await traces(session_factory)
    refused = (await admin.client(CREATE, ask))["data"]["createStaffUser"]
    assert refused == {"staffUser": None, "request": None, "errors": [{"code": "STEP_UP_REQUIRED", "field": None}]}
    assert await traces(session_factory) == before

    # Stepped up: the user exists but waits for a second staff member, and cannot sign in yet.
    await step_up(admin)
    made = (await admin.client(CREATE, ask))["data"]["createStaffUser"]
    assert made["errors"] == [] and made["staffUser"]["status"] == "pending_approval"
    assert made["staffUser"]["roles"] == []
    assert made["request"]["kind"] == "create_staff" and made["request"]["status"] == "pending"
    assert made["request"]["roles"] == ["finance"] and made["request"]["requestedBy"] == str(admin.user_id)
    rid, creature_id = made["request"]["id"], int(made["staffUser"]["databaseId"])
    assert (await login(GraphQLClient(http), email))["errors"][0]["code"] == "ACCOUNT_DISABLED"
    assert {"id": rid, "kind": "create_staff", "targetUserId": str(creature_id)} in (
        await admin.client(PENDING))["data"]["pendingStaffChanges"]["nodes"]

    # The creator cannot approve their own request; nothing changes.
    mid = await traces(session_factory)
    own = (await admin.client(APPROVE, {"i": rid}))["data"]["approveStaffChange"]
    assert own == {"request": None, "errors": [{"code": "SELF_APPROVAL_FORBIDDEN"}]}
    assert await traces(session_factory) == mid

    # A second administrator approves: the user is active with the roles asked for.
    second = await make_staff(http, session_factory, settings, ["administrator"])
    await step_up(second)
    approved = (await second.client(APPROVE, {"i": rid}))["data"]["approveStaffChange"]
    assert approved["errors"] == [] and approved["request"]["status"] == "approved"
    creature = await sign_in_new_staff(http, email)

    # Provenance: who created, granted and approved is queryable.
    users = {u["databaseId"]: u for u in (await second.client(STAFF))["data"]["staffUsers"]["nodes"]}
    assert users[str(creature_id)]["status"] == "active" and users[str(creature_id)]["roles"] == ["finance"]
    assert users[str(creature_id)]["provenance"] == [
        {"kind": "created", "actorId": str(admin.user_id), "role": None, "requestId": rid},
        {"kind": "approved", "actorId": str(second.user_id), "role": None, "requestId": rid},
        {"kind": "granted", "actorId": str(admin.user_id), "role": "finance", "requestId": rid},
        {"kind": "approved", "actorId": str(second.user_id), "role": "finance", "requestId": rid}]

    # The admin asks for +50,000; the user they created may not be the second pair of eyes.
    wid = await client_wallet(http, session_factory)
    pending = (await admin.client(ADJUST, {"i": {"walletId": str(wid), "amount": "50000.00", "reason": "goodwill",
                                                 "idempotencyKey": uuid.uuid4().hex}}))["data"]["adjustBalance"]
    assert pending["pending"] is True and pending["errors"] == []
    before_approval = (await count(session_factory, "ledger_entries"),
                       await count(session_factory, "audit_events", "action = 'wallet.adjust_approved'"))
    blocked = (await creature(APPROVE_ADJ, {"i": pending["adjustmentId"]}))["data"]["approveBalanceAdjustment"]
    assert blocked == {"adjustment": None, "wallet": None, "errors": [{"code": "FOUR_EYES_RELATED_APPROVER"}]}
    assert (await count(session_factory, "ledger_entries"),
            await count(session_factory, "audit_events", "action = 'wallet.adjust_approved'")) == before_approval
    async with session_factory() as s:
        assert await s.scalar(text("SELECT status FROM balance_adjustment_requests WHERE id = :i"),
                              {"i": key_of(pending["adjustmentId"], "BalanceAdjustment")}) == "pending"
    # ... and neither may the admin who approved the creature's creation (it approved a grant to them).
    # An unrelated finance member can.
    finance = await make_staff(http, session_factory, settings, ["finance"])
    done = (await finance.client(APPROVE_ADJ, {"i": pending["adjustmentId"]}))["data"]["approveBalanceAdjustment"]
    assert done["errors"] == [] and done["wallet"] == {"balance": "50000.00"}


async def test_privileged_roles_wait_for_an_unrelated_second_approver(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    target = await make_staff(http, session_factory, settings, ["support"])

    # A read-only role applies at once (no step-up needed) and is recorded as a grant.
    plain = (await admin.client(ASSIGN, {"u": str(target.user_id), "r": "sales"}))["data"]["assignRole"]
    assert plain == {"ok": True, "pending": False, "request": None, "errors": []}

    # A privileged one needs a step-up, then waits.
    await stale_step_up(session_factory, admin)
    before = await traces(session_factory)
    no_step = (await admin.client(ASSIGN, {"u": str(target.user_id), "r": "administrator"}))["data"]["assignRole"]
    assert no_step == {"ok": False, "pending": False, "request": None, "errors": [{"code": "STEP_UP_REQUIRED"}]}
    assert await traces(session_factory) == before
    await step_up(admin)
    asked = (await admin.client(ASSIGN, {"u": str(target.user_id), "r": "administrator"}))["data"]["assignRole"]
    assert asked["ok"] is True and asked["pending"] is True and asked["request"]["role"] == "administrator"
    rid = asked["request"]["id"]
    assert "staff.manage" not in (await target.client("{ me { permissions } }"))["data"]["me"]["permissions"]

    # Nobody related approves: not the requester, not the requester's creature.
    creature_email = f"{unique('creature')}@broker.example"
    made = (await admin.client(CREATE, {"i": {"email": creature_email, "password": PASSWORD,
                                              "roles": ["administrator"]}}))["data"]["createStaffUser"]
    helper = await make_staff(http, session_factory, settings, ["administrator"])
    await step_up(helper)
    assert (await helper.client(APPROVE, {"i": made["request"]["id"]}))["data"]["approveStaffChange"]["errors"] == []
    creature = await sign_in_new_staff(http, creature_email)
    # (checked before any step-up: the relation alone disqualifies)
    for who, code in ((admin.client, "SELF_APPROVAL_FORBIDDEN"), (creature, "FOUR_EYES_RELATED_APPROVER")):
        mid = await traces(session_factory)
        body = (await who(APPROVE, {"i": rid}))["data"]["approveStaffChange"]
        assert body == {"request": None, "errors": [{"code": code}]}, body
        assert await traces(session_factory) == mid

    # An unrelated administrator approves and the role applies.
    other = await make_staff(http, session_factory, settings, ["administrator"])
    await stale_step_up(session_factory, other)  # approving a grant takes a step-up too
    mid = await traces(session_factory)
    body = (await other.client(APPROVE, {"i": rid}))["data"]["approveStaffChange"]
    assert body == {"request": None, "errors": [{"code": "STEP_UP_REQUIRED"}]}
    assert await traces(session_factory) == mid
    await step_up(other)
    assert (await other.client(APPROVE, {"i": rid}))["data"]["approveStaffChange"]["request"]["status"] == "approved"
    assert "staff.manage" in (await target.client("{ me { permissions } }"))["data"]["me"]["permissions"]
    async with session_factory() as s:
        actions = list(await s.scalars(text(
            "SELECT action FROM audit_events WHERE entity_type = 'staff_change_request' AND entity_id = :i "
            "ORDER BY id"), {"i": str(key_of(rid, "StaffChangeRequest"))}))
    assert actions == ["staff_change.requested", "staff_change.approved"]


async def test_adding_privileged_permissions_to_a_held_role_waits_and_can_be_rejected(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    name = unique("readers").replace("_", "-")[:60]
    role = (await admin.client("""mutation($n: String!) { createRole(input: {name: $n, permissions: ["audit.read"]}) {
        role { id } errors { code } } }""", {"n": name}))["data"]["createRole"]["role"]
    holder = await make_staff(http, session_factory, settings, [name])
    await step_up(admin)

    # Read-only additions apply at once; a privileged one waits.
    read = (await admin.client(SET_PERMS, {"r": role["id"], "p": ["audit.read", "ledger.read"]}))["data"]
    assert read["setRolePermissions"]["pending"] is False
    asked = (await admin.client(SET_PERMS, {"r": role["id"], "p": ["audit.read", "ledger.adjust"]}))["data"]
    payload = asked["setRolePermissions"]
    assert payload["pending"] is True and payload["role"]["permissions"] == ["audit.read", "ledger.read"]
    assert payload["request"]["permissions"] == ["audit.read", "ledger.adjust"]
    assert "ledger.adjust" not in (await holder.client("{ me { permissions } }"))["data"]["me"]["permissions"]

    # The requester withdraws it; nothing applied.
    rejected = (await admin.client(REJECT, {"i": payload["request"]["id"], "r": "changed my mind"}))["data"]
    assert rejected["rejectStaffChange"] == {"request": {"status": "rejected", "decisionReason": "changed my mind"},
                                             "errors": []}
    other = await make_staff(http, session_factory, settings, ["administrator"])
    await step_up(other)
    late = (await other.client(APPROVE, {"i": payload["request"]["id"]}))["data"]["approveStaffChange"]
    assert late["errors"] == [{"code": "STAFF_CHANGE_NOT_PENDING"}]
    assert "ledger.adjust" not in (await holder.client("{ me { permissions } }"))["data"]["me"]["permissions"]


async def test_rejected_staff_user_never_signs_in(http: httpx.AsyncClient, session_factory: Any,
                                                  settings: Any) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    await step_up(admin)
    email = f"{unique('nope')}@broker.example"
    made = (await admin.client(CREATE, {"i": {"email": email, "password": PASSWORD}}))["data"]["createStaffUser"]
    other = await make_staff(http, session_factory, settings, ["administrator"])
    body = (await other.client(REJECT, {"i": made["request"]["id"], "r": "not hired"}))["data"]["rejectStaffChange"]
    assert body["request"]["status"] == "rejected"
    assert (await login(GraphQLClient(http), email))["errors"][0]["code"] == "ACCOUNT_DISABLED"
    assert Decimal(await count(session_factory, "user_roles", "user_id = :u", u=int(made["staffUser"]["databaseId"]))) == 0
