"""2FA (enrolment, replay protection, step-up), forged tokens, API tokens, reset and email links."""

from __future__ import annotations

import base64
import json
import re
import time

import httpx
import pyotp

from domain.identity.jwt_tokens import issue_access_token
from domain.shared.settings import Settings
from tests.conftest import GraphQLClient, unique
from tests.identity.helpers import PASSWORD, code_at, count, enrol_totp, login, outbox_for, register

ME = "{ me { id email twoFactorEnabled } }"
STEP_UP = "mutation($c: String!) { stepUp(code: $c) { ok errors { code } } }"
CREATE_TOKEN = """mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) {
  token apiToken { id databaseId lastFour scopes } errors { field code } } }"""


async def test_totp_login_replay_and_window(http: httpx.AsyncClient, session_factory) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    secret, _ = await enrol_totp(GraphQLClient(http, reg["accessToken"]))
    missing = await login(anon, reg["email"])
    assert missing["errors"][0]["code"] == "TOTP_REQUIRED" and missing["accessToken"] is None
    outside = await login(anon, reg["email"], code=code_at(secret, 3))
    assert outside["errors"][0]["code"] == "TOTP_INVALID"
    ok = await login(anon, reg["email"], code=code_at(secret, 0))
    assert ok["errors"] == [] and ok["accessToken"]
    sessions_before = await count(session_factory, "auth_sessions")
    replay = await login(anon, reg["email"], code=code_at(secret, 0))
    assert replay["errors"][0]["code"] == "TOTP_REPLAYED" and replay["accessToken"] is None
    # The code for the enrolment step is older than the last accepted one: also refused.
    older = await login(anon, reg["email"], code=code_at(secret, -1))
    assert older["errors"][0]["code"] == "TOTP_REPLAYED"
    assert await count(session_factory, "auth_sessions") == sessions_before
    assert await count(session_factory, "audit_events", "action = 'auth.totp_failed'") >= 3
    user_id = int(reg["viewer"]["id"])
    notes = [n for n in await outbox_for(session_factory, "user.notification") if n["user_id"] == user_id]
    assert any(n["kind"] == "security.totp_replay" for n in notes)


async def test_recovery_code_works_once(http: httpx.AsyncClient) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    _, codes = await enrol_totp(GraphQLClient(http, reg["accessToken"]))
    assert (await login(anon, reg["email"], code=codes[0]))["errors"] == []
    assert (await login(anon, reg["email"], code=codes[0]))["errors"][0]["code"] == "TOTP_INVALID"


async def test_sensitive_operations_need_a_fresh_step_up(http: httpx.AsyncClient, session_factory) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    client = GraphQLClient(http, reg["accessToken"])
    tokens_before = await count(session_factory, "api_tokens")
    audit_before = await count(session_factory, "audit_events")
    for mutation in (CREATE_TOKEN,):
        body = await client(mutation, {"i": {"name": "ci", "scopes": ["profile.read"]}})
        assert body["data"]["createApiToken"]["errors"][0]["code"] == "STEP_UP_REQUIRED"
    disable = await client("mutation { disableTotp { ok errors { code } } }")
    assert disable["data"]["disableTotp"]["errors"] == [{"code": "STEP_UP_REQUIRED"}]
    assert await count(session_factory, "api_tokens") == tokens_before
    assert await count(session_factory, "audit_events") == audit_before
    # Enrolling proves possession of the second factor: this session is stepped up now.
    await enrol_totp(client)
    made = await client(CREATE_TOKEN, {"i": {"name": "ci", "scopes": ["profile.read"]}})
    assert made["data"]["createApiToken"]["errors"] == []


async def test_step_up_with_a_replayed_code_is_refused(http: httpx.AsyncClient) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    client = GraphQLClient(http, reg["accessToken"])
    secret, _ = await enrol_totp(client)
    assert (await client(STEP_UP, {"c": code_at(secret, 0)}))["data"]["stepUp"]["ok"] is True
    again = await client(STEP_UP, {"c": code_at(secret, 0)})
    assert again["data"]["stepUp"] == {"ok": False, "errors": [{"code": "TOTP_REPLAYED"}]}


async def test_a_wrong_code_names_the_argument_it_came_in(http: httpx.AsyncClient, session_factory) -> None:
    """Each TOTP error's field is the name the caller sent the code under, so a form shows it beside that input:
    `code` for confirmTotpEnrollment and stepUp, `totpCode` for login's input; nothing changes."""
    anon = GraphQLClient(http)
    reg = await register(anon)
    client = GraphQLClient(http, reg["accessToken"])
    started = await client("mutation { startTotpEnrollment { secret errors { code } } }")
    secret = started["data"]["startTotpEnrollment"]["secret"]
    confirm = "mutation($c: String!) { confirmTotpEnrollment(code: $c) { recoveryCodes errors { field code } } }"
    wrong = await client(confirm, {"c": code_at(secret, 5)})
    assert wrong["data"]["confirmTotpEnrollment"] == {"recoveryCodes": None,
                                                      "errors": [{"field": "code", "code": "TOTP_INVALID"}]}
    assert (await client(ME))["data"]["me"]["twoFactorEnabled"] is False
    assert (await client(confirm, {"c": code_at(secret, -1)}))["data"]["confirmTotpEnrollment"]["errors"] == []
    sessions_before = await count(session_factory, "auth_sessions")
    step_up = "mutation($c: String!) { stepUp(code: $c) { ok errors { field code } } }"
    assert (await client(step_up, {"c": code_at(secret, 5)}))["data"]["stepUp"] == {
        "ok": False, "errors": [{"field": "code", "code": "TOTP_INVALID"}]}
    assert (await client(step_up, {"c": "dead-beef"}))["data"]["stepUp"]["errors"] == [
        {"field": "code", "code": "TOTP_INVALID"}]
    signed = await login(anon, reg["email"], code=code_at(secret, 5))
    assert [(e["field"], e["code"]) for e in signed["errors"]] == [("totpCode", "TOTP_INVALID")]
    assert signed["accessToken"] is None
    assert await count(session_factory, "auth_sessions") == sessions_before


async def test_api_token_lifecycle(http: httpx.AsyncClient, session_factory) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    client = GraphQLClient(http, reg["accessToken"])
    secret, _ = await enrol_totp(client)
    assert (await client(STEP_UP, {"c": code_at(secret, 0)}))["data"]["stepUp"]["ok"]
    bad = await client(CREATE_TOKEN, {"i": {"name": "x", "scopes": ["root.everything"]}})
    assert bad["data"]["createApiToken"]["errors"] == [{"field": "scopes", "code": "INVALID_SCOPE"}]
    escalate = await client(CREATE_TOKEN, {"i": {"name": "x", "scopes": ["ledger.adjust"]}})
    assert escalate["data"]["createApiToken"]["errors"][0]["code"] == "SCOPE_NOT_ALLOWED"
    made = (await client(CREATE_TOKEN, {"i": {"name": "partner feed", "scopes": ["profile.read"]}}))["data"]
    token = made["createApiToken"]["token"]
    assert token.startswith("fxc_") and made["createApiToken"]["apiToken"]["lastFour"] == token[-4:]
    async with session_factory() as s:
        from sqlalchemy import text

        stored = (await s.execute(text("SELECT token_hash FROM api_tokens WHERE id = :i"),
                                  {"i": int(made["createApiToken"]["apiToken"]["databaseId"])})).scalar_one()
        assert token.encode() not in bytes(stored)
    as_token = GraphQLClient(http, token)
    assert (await as_token(ME))["data"]["me"]["email"] == reg["email"]
    revoked = await client("mutation($i: ID!) { revokeApiToken(id: $i) { apiToken { revoked } errors { code } } }",
                           {"i": made["createApiToken"]["apiToken"]["id"]})
    assert revoked["data"]["revokeApiToken"]["apiToken"]["revoked"] is True
    assert (await as_token(ME))["data"]["me"] is None


async def test_forged_and_expired_tokens_are_anonymous(http: httpx.AsyncClient, live_server) -> None:
    reg = await register(GraphQLClient(http))
    settings: Settings = live_server.settings
    user_id = int(reg["viewer"]["id"])
    header, payload, _ = reg["accessToken"].split(".")
    alg_none = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).decode().rstrip("=")
    other_key = Settings(secret_key="another-secret-key-entirely-different-000000")  # type: ignore[arg-type]
    wrong_aud = Settings(secret_key=settings.secret_key, jwt_audience="someone-else")
    expired = issue_access_token(settings, user_id, 1, now=time.time() - 3600)
    forged = [
        f"{alg_none}.{payload}.",
        f"{header}.{payload}.AAAA",
        issue_access_token(other_key, user_id, 1),
        issue_access_token(wrong_aud, user_id, 1),
        expired,
        "not.a.jwt",
    ]
    for token in forged:
        body = await GraphQLClient(http, token)("{ me { id } mySessions { nodes { id } } }")
        assert body["data"] is None or body["data"].get("me") is None, token
        assert any(e["extensions"]["code"] == "UNAUTHENTICATED" for e in body["errors"]), token


async def test_password_reset_link_is_single_use_and_signs_out_everywhere(http: httpx.AsyncClient,
                                                                          session_factory) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    q = "mutation($e: String!) { requestPasswordReset(email: $e) { ok errors { code } } }"
    # A fresh unknown address each run: reset requests are rate-limited per address in Redis, which
    # outlives the per-run test databases.
    unknown = await anon(q, {"e": f"{unique('nobody')}@example.com"})
    known = await anon(q, {"e": reg["email"]})
    assert unknown["data"] == {"requestPasswordReset": {"ok": True, "errors": []}} == known["data"]
    mails = [m for m in await outbox_for(session_factory, "email.send") if m["to"] == reg["email"]]
    token = re.search(r"token=([\w-]+)", mails[-1]["body"]).group(1)  # type: ignore[union-attr]
    reset = "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { ok errors { code } } }"
    weak = await anon(reset, {"t": token, "p": "short"})
    assert weak["data"]["resetPassword"]["errors"] == [{"code": "WEAK_PASSWORD"}]
    done = await anon(reset, {"t": token, "p": "a brand new long passphrase 7"})
    assert done["data"]["resetPassword"]["ok"] is True
    again = await anon(reset, {"t": token, "p": "another long passphrase 8"})
    assert again["data"]["resetPassword"]["errors"] == [{"code": "TOKEN_INVALID"}]
    assert (await GraphQLClient(http, reg["accessToken"])(ME))["data"]["me"] is None
    assert (await login(anon, reg["email"], "a brand new long passphrase 7"))["errors"] == []
    assert (await login(anon, reg["email"], PASSWORD))["errors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_email_change_needs_step_up_and_confirmation(http: httpx.AsyncClient, session_factory) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    client = GraphQLClient(http, reg["accessToken"])
    q = "mutation($e: String!) { requestEmailChange(newEmail: $e) { ok errors { code } } }"
    new_email = "changed-" + reg["email"]
    assert (await client(q, {"e": new_email}))["data"]["requestEmailChange"]["errors"] == [{"code": "STEP_UP_REQUIRED"}]
    secret, _ = await enrol_totp(client)
    assert (await client(STEP_UP, {"c": code_at(secret, 0)}))["data"]["stepUp"]["ok"]
    assert (await client(q, {"e": new_email}))["data"]["requestEmailChange"]["ok"] is True
    mail = [m for m in await outbox_for(session_factory, "email.send") if m["to"] == new_email][-1]
    token = re.search(r"token=([\w-]+)", mail["body"]).group(1)  # type: ignore[union-attr]
    confirm = "mutation($t: String!) { confirmEmailChange(token: $t) { ok errors { code } } }"
    assert (await anon(confirm, {"t": token}))["data"]["confirmEmailChange"]["ok"] is True
    assert (await client(ME))["data"]["me"]["email"] == new_email
    assert (await anon(confirm, {"t": token}))["data"]["confirmEmailChange"]["errors"] == [{"code": "TOKEN_INVALID"}]


def test_provisioning_uri_is_standard() -> None:
    uri = pyotp.TOTP(pyotp.random_base32()).provisioning_uri(name="a@example.com", issuer_name="ForexCRM")
    assert uri.startswith("otpauth://totp/ForexCRM:a%40example.com?secret=")
