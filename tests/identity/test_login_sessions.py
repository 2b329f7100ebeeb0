"""Registration, sign-in, refresh-token rotation with reuse detection, sessions and logout."""

from __future__ import annotations

import httpx

from tests.conftest import GraphQLClient, unique
from tests.identity.helpers import PASSWORD, count, login, outbox_for, register

ME = "{ me { id email isClient permissions } }"


async def test_register_then_me_with_the_access_token(http: httpx.AsyncClient) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    me = await GraphQLClient(http, reg["accessToken"])(ME)
    assert me["data"]["me"]["email"] == reg["email"] and me["data"]["me"]["isClient"] is True


async def test_duplicate_registration_is_refused_and_changes_nothing(http: httpx.AsyncClient, session_factory) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    users = await count(session_factory, "users")
    body = await anon("""mutation($i: RegisterInput!) { register(input: $i) { accessToken errors { field code } } }""",
                      {"i": {"email": reg["email"].upper(), "password": PASSWORD}})
    assert body["data"]["register"]["errors"] == [{"field": "email", "code": "DUPLICATE_REGISTRATION"}]
    assert body["data"]["register"]["accessToken"] is None
    assert await count(session_factory, "users") == users


async def test_weak_password_and_bad_email_are_refused(http: httpx.AsyncClient, session_factory) -> None:
    anon = GraphQLClient(http)
    users = await count(session_factory, "users")
    q = """mutation($i: RegisterInput!) { register(input: $i) { errors { field code } } }"""
    for password in ("short", "password1234!", "aaaaaaaaaaaaaaaa", "abcdefghijklmnop"):
        body = await anon(q, {"i": {"email": "weak@example.com", "password": password}})
        assert body["data"]["register"]["errors"][0]["code"] == "WEAK_PASSWORD", password
    body = await anon(q, {"i": {"email": "not-an-email", "password": PASSWORD}})
    assert body["data"]["register"]["errors"] == [{"field": "email", "code": "INVALID_EMAIL"}]
    assert await count(session_factory, "users") == users


async def test_wrong_password_and_unknown_email_fail_alike_and_are_audited(http: httpx.AsyncClient,
                                                                          session_factory) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    sessions_before = await count(session_factory, "auth_sessions")
    failed_before = await count(session_factory, "audit_events", "action = 'auth.login_failed'")
    wrong = await login(anon, reg["email"], "not the password at all")
    unknown = await login(anon, "nobody-here@example.com", "not the password at all")
    assert wrong["errors"] == unknown["errors"] == [{"field": None, "message": "email or password is wrong",
                                                     "code": "INVALID_CREDENTIALS"}]
    assert wrong["accessToken"] is None and unknown["accessToken"] is None
    assert await count(session_factory, "auth_sessions") == sessions_before
    assert await count(session_factory, "audit_events", "action = 'auth.login_failed'") == failed_before + 2


async def test_refresh_rotates_and_reuse_revokes_the_family(http: httpx.AsyncClient, session_factory) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    q = "mutation($t: String) { refreshToken(refreshToken: $t) { accessToken refreshToken errors { code } } }"
    first = (await anon(q, {"t": reg["refreshToken"]}))["data"]["refreshToken"]
    assert first["errors"] == [] and first["refreshToken"] != reg["refreshToken"]
    # The old token again: reuse. The whole session (family) is revoked, including the new token.
    reused = (await anon(q, {"t": reg["refreshToken"]}))["data"]["refreshToken"]
    assert reused["errors"] == [{"code": "REFRESH_TOKEN_REUSED"}] and reused["accessToken"] is None
    after = (await anon(q, {"t": first["refreshToken"]}))["data"]["refreshToken"]
    assert after["errors"] == [{"code": "TOKEN_INVALID"}]
    me = await GraphQLClient(http, first["accessToken"])(ME)
    assert me["data"]["me"] is None
    assert await count(session_factory, "audit_events", "action = 'auth.refresh_reuse_detected'") >= 1
    user_id = int(reg["viewer"]["id"])
    notes = [n for n in await outbox_for(session_factory, "user.notification") if n["user_id"] == user_id]
    assert any(n["kind"] == "security.refresh_reuse" for n in notes)


async def test_garbage_refresh_token_is_refused(gql: GraphQLClient) -> None:
    body = await gql("mutation { refreshToken(refreshToken: \"rt_nope\") { accessToken errors { code } } }")
    assert body["data"]["refreshToken"]["errors"] == [{"code": "TOKEN_INVALID"}]


async def test_sessions_list_logout_and_logout_everywhere(http: httpx.AsyncClient) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    second = await login(anon, reg["email"])
    c1 = GraphQLClient(http, reg["accessToken"])
    c2 = GraphQLClient(http, second["accessToken"])
    listed = (await c1("{ mySessions { nodes { id device current } } }"))["data"]["mySessions"]["nodes"]
    assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
    out = await c2("mutation { logout { ok errors { code } } }")
    assert out["data"]["logout"]["ok"] is True
    assert (await c2(ME))["data"]["me"] is None
    assert (await c1(ME))["data"]["me"] is not None
    third = await login(anon, reg["email"])
    everywhere = await GraphQLClient(http, third["accessToken"])("mutation { logoutEverywhere { ok } }")
    assert everywhere["data"]["logoutEverywhere"]["ok"] is True
    assert (await c1(ME))["data"]["me"] is None


async def test_cannot_revoke_someone_elses_session(http: httpx.AsyncClient, session_factory) -> None:
    anon = GraphQLClient(http)
    alice, bob = await register(anon), await register(anon)
    bob_sessions = (await GraphQLClient(http, bob["accessToken"])("{ mySessions { nodes { id } } }"))["data"]["mySessions"]["nodes"]
    audit_before = await count(session_factory, "audit_events")
    body = await GraphQLClient(http, alice["accessToken"])(
        "mutation($s: ID!) { revokeSession(sessionId: $s) { ok errors { code } } }", {"s": bob_sessions[0]["id"]})
    assert body["data"]["revokeSession"] == {"ok": False, "errors": [{"code": "SESSION_NOT_FOUND"}]}
    assert (await GraphQLClient(http, bob["accessToken"])(ME))["data"]["me"] is not None
    assert await count(session_factory, "audit_events") == audit_before


async def test_cookie_login_sets_httponly_cookies_and_they_authenticate(http: httpx.AsyncClient, live_server) -> None:
    reg = await register(GraphQLClient(http))
    # A browser app sends the CSRF preflight header with cookie-authenticated requests.
    async with httpx.AsyncClient(base_url=live_server.base_url, headers={"X-Requested-With": "fetch"}) as browser:
        r = await browser.post("/graphql", json={"query": """mutation($i: LoginInput!) { login(input: $i) {
            accessToken refreshToken errors { code } } }""",
            "variables": {"i": {"email": reg["email"], "password": PASSWORD, "cookie": True}}})
        data = r.json()["data"]["login"]
        assert data["accessToken"] is None and data["refreshToken"] is None and data["errors"] == []
        set_cookie = r.headers.get_list("set-cookie")
        assert any("forexcrm_access=" in c and "HttpOnly" in c and "SameSite=strict" in c for c in set_cookie)
        me = (await browser.post("/graphql", json={"query": ME})).json()
        assert me["data"]["me"]["email"] == reg["email"]
        refreshed = (await browser.post("/graphql", json={
            "query": "mutation { refreshToken { accessToken errors { code } } }"})).json()
        assert refreshed["data"]["refreshToken"]["errors"] == []


async def test_login_cannot_be_multiplied_with_aliases(gql: GraphQLClient) -> None:
    body = await gql("""mutation { a: login(input: {email: "x@example.com", password: "p"}) { errors { code } }
                                   b: login(input: {email: "x@example.com", password: "q"}) { errors { code } } }""")
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "SENSITIVE_FIELD_REPEATED"


async def test_login_is_rate_limited_per_account(http: httpx.AsyncClient, live_server) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    # Failures only count (see test_rate_limits.py): the free ones and the one that starts the slowdown.
    limit = live_server.settings.login_attempts_per_account + 1
    codes = [(await login(anon, reg["email"], "wrong password guess"))["errors"][0]["code"] for _ in range(limit + 1)]
    assert codes[:limit] == ["INVALID_CREDENTIALS"] * limit
    assert codes[-1] == "RATE_LIMITED"
    # Even the right password is refused from this address while it is slowed down.
    assert (await login(anon, reg["email"]))["errors"][0]["code"] == "RATE_LIMITED"


async def test_client_registration_in_cookie_mode_sets_cookies_and_returns_no_token(live_server) -> None:
    """A browser portal registers with `cookie: true`: signed in by httpOnly cookies, no token in the body."""
    email = f"{unique('cookie-reg')}@example.com"
    async with httpx.AsyncClient(base_url=live_server.base_url, headers={"X-Requested-With": "fetch"}) as browser:
        r = await browser.post("/graphql", json={"query": """mutation($i: RegisterClientInput!) {
            registerClient(input: $i) { accessToken refreshToken expiresIn client { status } errors { code } } }""",
            "variables": {"i": {"email": email, "password": PASSWORD, "displayName": "C", "cookie": True}}})
        data = r.json()["data"]["registerClient"]
        assert data["errors"] == [] and data["accessToken"] is None and data["refreshToken"] is None
        assert data["expiresIn"] > 0 and data["client"]["status"] == "REGISTERED"
        set_cookie = r.headers.get_list("set-cookie")
        assert any("forexcrm_access=" in c and "HttpOnly" in c for c in set_cookie)
        assert any("forexcrm_refresh=" in c and "HttpOnly" in c for c in set_cookie)
        me = (await browser.post("/graphql", json={"query": ME})).json()
        assert me["data"]["me"]["email"] == email
