"""Staff single sign-on (OpenID Connect), driven like a browser across the app and a real test IdP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, text

from api.app import create_app
from api.oidc_routes import FLOW_COOKIE, PREFIX, oidc_routes
from domain.identity import roles as roles_service
from domain.identity.oidc import OidcSettings
from domain.identity.permissions import PERMISSIONS
from domain.identity.sessions import create_user
from domain.shared.actor import system_actor
from domain.shared.settings import Settings
from sandbox.oidc import IdpUser, OidcProvider, running_provider
from sandbox.serving import serving
from tests.conftest import GraphQLClient, unique
from tests.identity.helpers import PASSWORD, code_at, count, enrol_totp, login, max_id

CLIENT_ID = "forexcrm-staff"
CLIENT_SECRET = "s3cret-for-tests"
ROLE_MAP = {"fx-admins": ["administrator"], "fx-finance": ["finance"], "fx-dealers": ["dealer"]}
ME = "{ me { id email isStaff roles permissions } }"
TLS = httpx.create_ssl_context()  # one CA bundle load for all the test browsers


@dataclass
class SsoEnv:
    base_url: str
    provider: OidcProvider
    app: Any
    settings: Settings
    services: Any

    def configure(self, **overrides: Any) -> OidcSettings:
        """(Re)mount /auth/oidc with these settings, through oidc_routes() as api/app.py will."""
        oidc = OidcSettings(**{
            "discovery_url": self.provider.base_url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "role_map": ROLE_MAP, "allowed_domains": ["broker.example"],
            "redirect_url": f"{self.base_url}{PREFIX}/callback", "post_login_url": f"{self.base_url}/health",
            "totp_prompt_url": f"{self.base_url}/health?sso=totp_required", **overrides})
        routes = self.app.router.routes
        routes[:] = [r for r in routes if getattr(r, "path", None) != PREFIX]
        routes[0:0] = oidc_routes(self.settings, lambda: self.services, oidc)
        return oidc


@pytest.fixture(scope="module")
async def sso(settings: Settings, runtime: Any) -> AsyncIterator[SsoEnv]:
    # Staff password login is off in this app: SSO is the only way in for staff.
    app_settings = settings.model_copy(update={"staff_password_login": False})
    assert app_settings.database_url and app_settings.redis_url
    app = create_app(app_settings, app_settings.database_url, app_settings.redis_url)
    async with serving(app, lifespan="on") as base_url, running_provider(CLIENT_ID, CLIENT_SECRET,
                                                             f"{base_url}{PREFIX}/callback") as provider:
        yield SsoEnv(base_url, provider, app, app_settings, runtime.services)


@pytest.fixture
async def browser(sso: SsoEnv) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sso.base_url, follow_redirects=True, timeout=10, verify=TLS,
                                 headers=BROWSER_HEADERS) as client:
        yield client


# What the staff app sends with its cookie-authenticated requests (CSRF preflight header).
BROWSER_HEADERS = {"X-Requested-With": "fetch"}


def new_user(groups: list[str], *, amr: list[str] | None = None, domain: str = "broker.example",
             verified: bool = True) -> IdpUser:
    return IdpUser(email=f"{unique('sso')}@{domain}", email_verified=verified, groups=groups,
                    amr=amr if amr is not None else ["pwd"])


async def sign_in(browser: httpx.AsyncClient) -> httpx.Response:
    return await browser.get(f"{PREFIX}/login")


async def me(browser: httpx.AsyncClient) -> dict[str, Any]:
    body = await GraphQLClient(browser)(ME)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["me"]
    return result


async def audit_since(session_factory: Any, after_id: int) -> list[dict[str, Any]]:
    async with session_factory() as s:
        rows = (await s.execute(text(
            "SELECT action, category, entity_id, before, after, reason FROM audit_events WHERE id > :i ORDER BY id"),
            {"i": after_id})).mappings().all()
        return [dict(r) for r in rows]


async def user_id_of(session_factory: Any, email: str) -> int | None:
    async with session_factory() as s:
        found = await s.scalar(text("SELECT id FROM users WHERE email_normalized = :e"), {"e": email.lower()})
        return int(found) if found is not None else None


async def test_new_idp_user_with_mfa_signs_in_and_gets_the_mapped_role(sso: SsoEnv, browser, session_factory) -> None:
    sso.configure()
    user = new_user(["fx-admins", "unmapped-group"], amr=["pwd", "mfa"])
    sso.provider.reset(user)
    audit_from = await max_id(session_factory, "audit_events")

    final = await sign_in(browser)

    assert final.status_code == 200 and str(final.url) == f"{sso.base_url}/health", final.text
    hops = [str(r.url).split("?")[0] for r in final.history]
    assert hops == [f"{sso.base_url}{PREFIX}/login", f"{sso.provider.base_url}/authorize",
                    f"{sso.base_url}{PREFIX}/callback"]
    cookies = final.history[-1].headers.get_list("set-cookie")
    assert any(c.startswith("forexcrm_access=") and "HttpOnly" in c and "SameSite=strict" in c and "Path=/;" in c
               for c in cookies), cookies
    assert any(c.startswith("forexcrm_refresh=") and "HttpOnly" in c and "Path=/graphql" in c for c in cookies)
    viewer = await me(browser)
    assert viewer["email"] == user.email and viewer["isStaff"] is True
    assert viewer["roles"] == ["administrator"]
    assert viewer["permissions"] == sorted(PERMISSIONS)  # the IdP's MFA satisfies staff 2FA
    events = await audit_since(session_factory, audit_from)
    assert [e["action"] for e in events] == ["user.created", "role.assigned", "auth.login"]
    assigned = events[1]
    assert assigned["category"] == "permission_change" and assigned["after"]["role"] == "administrator"
    assert "fx-admins" in assigned["reason"]
    assert events[2]["after"]["method"] == "oidc" and events[2]["after"]["second_factor"] is True
    async with session_factory() as s:
        verified = await s.scalar(text("SELECT email_verified_at IS NOT NULL FROM users WHERE id = :i"),
                                  {"i": int(viewer["id"])})
    assert verified is True


async def test_without_idp_mfa_staff_still_needs_totp(sso: SsoEnv, browser, session_factory) -> None:
    sso.configure()
    user = new_user(["fx-dealers"], amr=["pwd"])
    sso.provider.reset(user)
    assert (await sign_in(browser)).status_code == 200
    viewer = await me(browser)
    assert viewer["roles"] == ["dealer"] and viewer["permissions"] == []  # no 2FA yet: no permissions
    secret, _ = await enrol_totp(GraphQLClient(browser))
    assert (await me(browser))["permissions"] == sorted(PERMISSIONS_OF["dealer"])

    # Enrolled now: an SSO sign-in without IdP MFA opens no session until the TOTP code is given.
    sessions_before = await count(session_factory, "auth_sessions", "user_id = :u", u=int(viewer["id"]))
    async with httpx.AsyncClient(base_url=sso.base_url, follow_redirects=True, timeout=10, verify=TLS,
                                 headers=BROWSER_HEADERS) as second:
        final = await sign_in(second)
        assert final.status_code == 200 and final.url.params.get("sso") == "totp_required"
        assert "forexcrm_access" not in second.cookies
        assert await count(session_factory, "auth_sessions", "user_id = :u", u=int(viewer["id"])) == sessions_before
        wrong = await second.post(f"{PREFIX}/totp", json={"code": "000000"})
        assert wrong.status_code == 400 and wrong.json()["errors"][0]["extensions"]["code"] == "TOTP_INVALID"
        ok = await second.post(f"{PREFIX}/totp", json={"code": code_at(secret, 0)})
        assert ok.status_code == 200 and ok.json() == {"redirect": f"{sso.base_url}/health"}
        assert (await me(second))["permissions"] == sorted(PERMISSIONS_OF["dealer"])
        again = await second.post(f"{PREFIX}/totp", json={"code": code_at(secret, 1)})
        assert again.json()["errors"][0]["extensions"]["code"] == "SSO_TOTP_NOT_PENDING"
    assert await count(session_factory, "auth_sessions", "user_id = :u", u=int(viewer["id"])) == sessions_before + 1


async def test_group_change_replaces_sso_roles_and_is_audited(sso: SsoEnv, browser, session_factory) -> None:
    sso.configure()
    user = new_user(["fx-admins"], amr=["mfa"])
    sso.provider.reset(user)
    await sign_in(browser)
    uid = int((await me(browser))["id"])
    async with session_factory() as s, s.begin():  # a role given by hand, outside the role map
        await roles_service.assign(s, system_actor("test"), uid, "support")

    user.groups = ["fx-finance"]
    audit_from = await max_id(session_factory, "audit_events")
    async with httpx.AsyncClient(base_url=sso.base_url, follow_redirects=True, timeout=10, verify=TLS,
                                 headers=BROWSER_HEADERS) as second:
        assert (await sign_in(second)).status_code == 200
        viewer = await me(second)
    assert viewer["roles"] == ["finance", "support"]
    assert set(viewer["permissions"]) == set(PERMISSIONS_OF["finance"]) | set(PERMISSIONS_OF["support"])
    # The first browser's session follows the change at once (roles are read per request).
    assert (await me(browser))["roles"] == ["finance", "support"]
    changes = [e for e in await audit_since(session_factory, audit_from) if e["category"] == "permission_change"]
    assert [(e["action"], (e["after"] or e["before"])["role"]) for e in changes] == [
        ("role.assigned", "finance"), ("role.unassigned", "administrator")]
    assert all(e["entity_id"] == str(uid) and "fx-finance" in e["reason"] for e in changes)

    # Same groups again: nothing to change, nothing audited as a permission change.
    audit_from = await max_id(session_factory, "audit_events")
    await sign_in(browser)
    assert [e["action"] for e in await audit_since(session_factory, audit_from)] == ["auth.login"]


async def test_groups_only_in_userinfo_are_used(sso: SsoEnv, browser) -> None:
    sso.configure()
    user = new_user(["fx-dealers"], amr=["otp"])
    sso.provider.reset(user, "groups_in_userinfo")
    assert (await sign_in(browser)).status_code == 200
    assert (await me(browser))["roles"] == ["dealer"]


async def test_staff_password_login_is_refused_when_off_while_sso_works(sso: SsoEnv, browser, session_factory) -> None:
    email = f"{unique('pwstaff')}@broker.example"
    async with session_factory() as s, s.begin():
        staff = await create_user(s, sso.settings, system_actor("test"), email=email, password=PASSWORD, is_staff=True)
    refused = await login(GraphQLClient(browser), email)
    assert refused["errors"][0]["code"] == "PASSWORD_LOGIN_DISABLED" and refused["accessToken"] is None
    assert await count(session_factory, "auth_sessions", "user_id = :u", u=staff.id) == 0

    sso.configure()
    sso.provider.reset(IdpUser(email=email.upper(), groups=["fx-admins"], amr=["hwk"]))
    assert (await sign_in(browser)).status_code == 200
    viewer = await me(browser)
    assert int(viewer["id"]) == staff.id and viewer["roles"] == ["administrator"]
    assert viewer["permissions"] == sorted(PERMISSIONS)


REFUSALS = [
    # (case, provider mode, user kwargs, settings overrides, expected code)
    ("bad nonce", "bad_nonce", {}, {}, "SSO_PROVIDER_ERROR"),
    ("idp error", "error", {}, {}, "SSO_PROVIDER_ERROR"),
    ("wrong audience", "wrong_audience", {}, {}, "SSO_PROVIDER_ERROR"),
    ("bad signature", "bad_signature", {}, {}, "SSO_PROVIDER_ERROR"),
    ("expired id token", "expired", {}, {}, "SSO_PROVIDER_ERROR"),
    ("domain not allowed", "ok", {"domain": "gmail.example"}, {}, "SSO_EMAIL_NOT_ALLOWED"),
    ("email not verified", "ok", {"verified": False}, {}, "SSO_EMAIL_NOT_ALLOWED"),
    ("no roles, provisioning off", "ok", {}, {"auto_provision": False}, "SSO_NO_ROLES"),
    ("no mapped group", "ok", {"groups": ["nobody-cares"]}, {}, "SSO_NO_ROLES"),
]


@pytest.mark.parametrize(("mode", "user_kwargs", "overrides", "code"), [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
async def test_refused_sign_ins_write_only_an_audited_attempt(sso: SsoEnv, browser, session_factory, mode: Any,
                                                              user_kwargs: dict[str, Any],
                                                              overrides: dict[str, Any], code: str) -> None:
    sso.configure(**overrides)
    kwargs = {"groups": ["fx-admins"], "amr": ["mfa"], **user_kwargs}
    user = new_user(kwargs.pop("groups"), **kwargs)
    sso.provider.reset(user, mode)
    before = await _snapshot(session_factory)

    final = await sign_in(browser)

    assert final.status_code == 400, final.text
    assert str(final.url).startswith(f"{sso.base_url}{PREFIX}/callback?")
    error = final.json()["errors"][0]
    assert error["extensions"]["code"] == code and error["message"]
    await _assert_only_failed_attempt(session_factory, before, code)
    assert await user_id_of(session_factory, user.email) is None
    assert "forexcrm_access" not in browser.cookies


async def test_callback_without_the_flow_cookie_is_a_state_mismatch(sso: SsoEnv, browser, session_factory) -> None:
    sso.configure()
    user = new_user(["fx-admins"], amr=["mfa"])
    sso.provider.reset(user)
    start = await browser.get(f"{PREFIX}/login", follow_redirects=False)
    authorize = urlsplit(start.headers["location"])
    params = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert params["code_challenge_method"] == "S256" and params["code_challenge"] and params["nonce"]
    assert params["state"] and "openid" in params["scope"].split()
    flow_cookie = browser.cookies.get(FLOW_COOKIE)
    assert flow_cookie
    before = await _snapshot(session_factory)

    # Another browser (an attacker's link, or a forged cookie) lands on the callback with this state.
    for cookies in ({}, {FLOW_COOKIE: flow_cookie[:-2] + "xx"}):
        async with httpx.AsyncClient(follow_redirects=True, timeout=10, cookies=cookies, verify=TLS) as other:
            final = await other.get(start.headers["location"])
        assert final.status_code == 400
        assert final.json()["errors"][0]["extensions"]["code"] == "SSO_STATE_MISMATCH"
    await _assert_only_failed_attempt(session_factory, before, "SSO_STATE_MISMATCH", attempts=2)
    assert await user_id_of(session_factory, user.email) is None

    # The browser that started the flow still completes it.
    final = await browser.get(start.headers["location"])
    assert final.status_code == 200 and (await me(browser))["email"] == user.email


async def test_client_account_with_the_same_email_is_not_made_staff(sso: SsoEnv, browser, session_factory) -> None:
    sso.configure()
    email = f"{unique('client')}@broker.example"
    async with session_factory() as s, s.begin():
        client = await create_user(s, sso.settings, system_actor("test"), email=email, password=PASSWORD,
                                   is_client=True)
    sso.provider.reset(IdpUser(email=email, groups=["fx-admins"], amr=["mfa"]))
    before = await _snapshot(session_factory)
    final = await sign_in(browser)
    assert final.status_code == 400 and final.json()["errors"][0]["extensions"]["code"] == "SSO_EMAIL_NOT_ALLOWED"
    await _assert_only_failed_attempt(session_factory, before, "SSO_EMAIL_NOT_ALLOWED")
    async with session_factory() as s:
        assert await s.scalar(text("SELECT is_staff FROM users WHERE id = :i"), {"i": client.id}) is False


async def test_sso_routes_are_absent_when_not_configured(settings: Settings) -> None:
    assert oidc_routes(settings, lambda: None, OidcSettings(discovery_url=None, client_id=None)) == []  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="openid"):
        OidcSettings(discovery_url="https://idp.example", client_id="x", scopes="email profile")
    assert OidcSettings(discovery_url="https://idp.example/", client_id="x").metadata_url == \
        "https://idp.example/.well-known/openid-configuration"


# --- helpers -----------------------------------------------------------------------------------------

PERMISSIONS_OF: dict[str, list[str]] = {}


@pytest.fixture(autouse=True, scope="module")
async def _role_permissions(runtime: Any) -> None:
    from domain.identity.models import Role

    async with runtime.services.session_factory() as s:
        for name, perms in (await s.execute(select(Role.name, Role.permissions))).tuples():
            PERMISSIONS_OF[name] = list(perms)


TABLES = ("users", "auth_sessions", "refresh_tokens", "user_roles", "outbox")


async def _snapshot(session_factory: Any) -> dict[str, int]:
    snap = {t: await count(session_factory, t) for t in TABLES}
    snap["audit_max"] = await max_id(session_factory, "audit_events")
    return snap


async def _assert_only_failed_attempt(session_factory: Any, before: dict[str, int], code: str,
                                      attempts: int = 1) -> None:
    for table in TABLES:
        assert await count(session_factory, table) == before[table], table
    events = await audit_since(session_factory, before["audit_max"])
    assert [(e["action"], e["category"], e["after"]["reason"]) for e in events] == \
        [("auth.sso_failed", "auth", code)] * attempts
