"""Staff roles and permissions: 2FA mandatory, declared permissions enforced, changes audited."""

from __future__ import annotations

import httpx

from tests.conftest import GraphQLClient
from tests.identity.helpers import count, register
from tests.identity.staff import make_staff

ROLES = "{ roles { name permissions builtin } }"


async def test_staff_without_2fa_have_no_permissions(http: httpx.AsyncClient, session_factory, settings) -> None:
    staff = await make_staff(http, session_factory, settings, ["administrator"], enrol=False)
    body = await staff.client(ROLES)
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    me = (await staff.client("{ me { permissions isStaff } }"))["data"]["me"]
    assert me == {"permissions": [], "isStaff": True}


async def test_administrator_with_2fa_manages_roles_and_changes_are_audited(http: httpx.AsyncClient,
                                                                           session_factory, settings) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    roles = (await admin.client(ROLES))["data"]["roles"]
    assert {"administrator", "compliance", "finance", "dealer", "support", "sales", "ib_manager"} <= {
        r["name"] for r in roles}
    before = await count(session_factory, "audit_events", "category = 'permission_change'")
    bad = await admin.client("""mutation { createRole(input: {name: "auditors", permissions: ["audit.read", "x.y"]}) {
        role { name } errors { field code } } }""")
    assert bad["data"]["createRole"] == {"role": None, "errors": [{"field": "permissions", "code": "UNKNOWN_PERMISSION"}]}
    assert await count(session_factory, "audit_events", "category = 'permission_change'") == before
    made = await admin.client("""mutation { createRole(input: {name: "auditors", permissions: ["audit.read"]}) {
        role { id name permissions } errors { code } } }""")
    assert made["data"]["createRole"]["role"]["permissions"] == ["audit.read"]
    support = await make_staff(http, session_factory, settings, ["support"])
    assert (await support.client(ROLES))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assigned = await admin.client("mutation($u: ID!) { assignRole(userId: $u, role: \"administrator\") {"
                                  " ok pending request { id } } }", {"u": str(support.user_id)})
    assert assigned["data"]["assignRole"]["ok"] is True and assigned["data"]["assignRole"]["pending"] is True
    assert (await support.client(ROLES))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # A privileged role waits for a second staff member; permissions are read per request, so the
    # promotion applies as soon as they approve.
    second = await make_staff(http, session_factory, settings, ["administrator"])
    approved = await second.client("mutation($i: ID!) { approveStaffChange(id: $i) { errors { code } } }",
                                   {"i": assigned["data"]["assignRole"]["request"]["id"]})
    assert approved["data"]["approveStaffChange"]["errors"] == []
    assert (await support.client(ROLES))["data"]["roles"]
    assert await count(session_factory, "audit_events", "category = 'permission_change'") >= before + 2


async def test_clients_cannot_reach_staff_fields(http: httpx.AsyncClient) -> None:
    reg = await register(GraphQLClient(http))
    client = GraphQLClient(http, reg["accessToken"])
    for query in (ROLES, "{ staffUsers { nodes { id } } }", "{ permissions { code } }"):
        body = await client(query)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN", query
    body = await client("""mutation { createStaffUser(input: {email: "evil@example.com", password: "x"}) {
        staffUser { id } } }""")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_create_staff_cli_creates_an_administrator(tmp_path, services) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url}
    email = "first-admin@broker.example"
    result = subprocess.run([sys.executable, "-m", "api", "create-staff", "--email", email, "--password",
                             "a long and unusual passphrase 9"], env=env, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()[-1500:]
    again = subprocess.run([sys.executable, "-m", "api", "create-staff", "--email", email, "--password",
                            "a long and unusual passphrase 9"], env=env, capture_output=True, timeout=60)
    assert again.returncode == 2 and "EMAIL_TAKEN" in again.stderr.decode()
