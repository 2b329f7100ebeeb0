"""One case per ID-taking field: the owner creates something, then the case names the operation an
outsider runs against it and the strings that must never appear in the outsider's answer.

The test in test_cross_tenant.py fails for any discovered field without a case here, so this
list grows with the schema.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import GraphQLClient


@dataclass
class Env:
    owner: GraphQLClient
    owner_id: int
    owner_email: str
    admin: GraphQLClient
    session_factory: Any
    settings: Any
    http: Any


@dataclass
class Probe:
    query: str
    variables: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    # Lists scoped to the caller may answer an outsider with an empty page instead of refusing.
    empty_ok: bool = False
    # Undo what the case created that other suites count across the database (run after the probe).
    cleanup: Callable[[], Awaitable[None]] | None = None
    # Upload variables (name -> (file name, bytes)): the probe goes as a GraphQL multipart request.
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


Case = Callable[[Env], Awaitable[Probe]]
CASES: dict[str, Case] = {}


def case(*names: str) -> Callable[[Case], Case]:
    def wrap(fn: Case) -> Case:
        for name in names:
            CASES[name] = fn
        return fn

    return wrap


@case("Mutation.revokeSession")
async def revoke_session(env: Env) -> Probe:
    sid = (await env.owner("{ mySessions { nodes { id } } }"))["data"]["mySessions"]["nodes"][0]["id"]
    return Probe("mutation($s: ID!) { revokeSession(sessionId: $s) { ok errors { code } } }", {"s": sid})


@case("Mutation.revokeApiToken")
async def revoke_api_token(env: Env) -> Probe:
    from domain.identity import api_tokens
    from domain.shared.actor import Actor, ActorKind

    async with env.session_factory() as s, s.begin():
        actor = Actor(ActorKind.CLIENT, user_id=env.owner_id, stepped_up_at=__import__("time").time())
        made = await api_tokens.create(s, env.settings, actor, name="secret-name-xyz", scopes=["profile.read"],
                                       expires_in_days=5)
    return Probe("mutation($i: ID!) { revokeApiToken(id: $i) { apiToken { name lastFour } errors { code } } }",
                 {"i": str(made.token.id)}, secrets=["secret-name-xyz", made.plaintext[-4:]])


@case("Mutation.setRolePermissions")
async def set_role_permissions(env: Env) -> Probe:
    made = await env.admin("""mutation { createRole(input: {name: "tenancy-role", permissions: ["clients.read"]}) {
        role { id } errors { code } } }""")
    role = made["data"]["createRole"]["role"]
    role_id = role["id"] if role else (await env.admin("{ roles { id name } }"))["data"]["roles"][-1]["id"]
    return Probe("mutation($r: ID!) { setRolePermissions(roleId: $r, permissions: [\"staff.manage\"]) {"
                 " role { name permissions } errors { code } } }", {"r": role_id}, secrets=["tenancy-role"])


@case("Mutation.assignRole", "Mutation.unassignRole")
async def assign_role(env: Env) -> Probe:
    return Probe("mutation($u: ID!) { assignRole(userId: $u, role: \"administrator\") { ok errors { code } } }",
                 {"u": str(env.owner_id)})


@case("Mutation.approveStaffChange", "Mutation.rejectStaffChange")
async def decide_staff_change(env: Env) -> Probe:
    """A pending request to create a staff user; outsiders may neither see nor decide it."""
    import time
    import uuid

    from domain.identity import staff_changes
    from domain.shared.actor import Actor, ActorKind

    email = f"secret-staff-{uuid.uuid4().hex[:8]}@broker.example"
    async with env.session_factory() as s, s.begin():
        actor = Actor(ActorKind.STAFF, user_id=env.owner_id, stepped_up_at=time.time())
        _, change = await staff_changes.create_staff(s, env.settings, actor, email=email,
                                                     password="a long and unusual passphrase 9", display_name="",
                                                     desk=None, role_names=["administrator"])
    return Probe("mutation($i: ID!) { approveStaffChange(id: $i) { request { id targetUserId roles } "
                 "errors { code } } }", {"i": str(change.id)}, secrets=[email])


# Cases of other contexts register themselves on import.
import tests.tenancy.cases_aml  # noqa: E402
import tests.tenancy.cases_aml_reports  # noqa: E402
import tests.tenancy.cases_clients  # noqa: E402
import tests.tenancy.cases_ib  # noqa: E402
import tests.tenancy.cases_money  # noqa: E402
import tests.tenancy.cases_notifications  # noqa: E402
import tests.tenancy.cases_payments  # noqa: E402
import tests.tenancy.cases_reconciliation  # noqa: E402
import tests.tenancy.cases_records  # noqa: E402
import tests.tenancy.cases_regulatory  # noqa: E402
import tests.tenancy.cases_reporting  # noqa: E402
import tests.tenancy.cases_retention  # noqa: E402
import tests.tenancy.cases_risk  # noqa: E402
import tests.tenancy.cases_trading  # noqa: E402
import tests.tenancy.cases_webhooks  # noqa: E402,F401
