"""The HTTP edge against an attacker (issue 15, item 13): CSRF preflight, production secrets, no schema
suggestions with introspection off, security headers, /metrics access, slow clients, string sizes,
webhook ids and unconfigured providers, and the data folder's own development secret."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from api.middleware import RequestIdMiddleware
from api.webhooks import webhook_routes
from domain.payments.coinspaid import signature as coinspaid_signature
from domain.payments.config import api_key, webhook_secrets
from domain.shared.settings import (
    DEV_SECRET_KEY,
    ConfigurationError,
    Mode,
    Settings,
    data_folder_secret,
    with_development_secret,
)
from domain.shared.webhooks import sign
from schema.root import build_schema
from tests.conftest import GraphQLClient, LiveServer, serve, unique
from tests.identity.helpers import PASSWORD, register

STRONG = "3f9c1b7e5a2d48c6b0e1f7a9d3c5b8e2"


def _prod(**overrides: Any) -> Settings:
    base: dict[str, Any] = dict(mode=Mode.PRODUCTION, secret_key=SecretStr(STRONG * 2),
                                ib_referral_base_url="https://go.broker.example",
                                metrics_token=SecretStr("m3tr1cs-" + STRONG), database_url="postgresql://db/x",
                                redis_url="redis://r:6379/0", smtp_url="smtp://mail.example:587")
    base.update(overrides)
    return Settings(**base)


async def _count(session_factory: Any, table: str) -> int:
    async with session_factory() as s:
        return int(await s.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


# -- CSRF -------------------------------------------------------------------------------------------


async def _cookie_browser(live_server: LiveServer) -> httpx.AsyncClient:
    browser = httpx.AsyncClient(base_url=live_server.base_url, timeout=10)
    reg = await register(GraphQLClient(browser))
    r = await browser.post("/graphql", json={
        "query": "mutation($i: LoginInput!) { login(input: $i) { errors { code } } }",
        "variables": {"i": {"email": reg["email"], "password": PASSWORD, "cookie": True}}})
    assert r.json()["data"]["login"]["errors"] == [] and browser.cookies.get("forexcrm_access")
    return browser


async def test_multipart_with_only_the_cookie_is_refused(live_server: LiveServer, session_factory: Any) -> None:
    browser = await _cookie_browser(live_server)
    query = "mutation($f: Upload!) { uploadDocument(kind: \"passport\", file: $f) { errors { code } } }"
    form = {"operations": json.dumps({"query": query, "variables": {"f": None}}), "map": json.dumps({"0": ["variables.f"]})}
    files = {"0": ("passport.pdf", b"%PDF-1.4 forged")}
    documents = await _count(session_factory, "client_documents")
    try:
        # What a form on another site can send: multipart with the victim's cookie, no preflight header.
        forged = await browser.post("/graphql", data=form, files=files)
        assert forged.status_code == 403
        assert forged.json()["errors"][0]["extensions"]["code"] == "PREFLIGHT_REQUIRED"
        # text/plain (also sendable by a form) with the cookie: refused the same way.
        plain = await browser.post("/graphql", content=json.dumps({"query": "{ me { id } }"}),
                                   headers={"content-type": "text/plain"})
        assert plain.status_code == 403
        # The app's own upload client sends the header (needs a CORS preflight cross-origin): heard.
        heard = await browser.post("/graphql", data=form, files=files, headers={"Apollo-Require-Preflight": "true"})
        assert heard.status_code == 200 and "PREFLIGHT_REQUIRED" not in heard.text
        # JSON with only the cookie too (the design: cookie-authenticated requests carry the header) ...
        bare = await browser.post("/graphql", json={"query": "{ me { id } }"})
        assert bare.status_code == 403 and bare.json()["errors"][0]["extensions"]["code"] == "PREFLIGHT_REQUIRED"
        # ... which the app sends: heard.
        me = await browser.post("/graphql", json={"query": "{ me { id } }"}, headers={"X-Requested-With": "fetch"})
        assert me.json()["data"]["me"]["id"]
    finally:
        await browser.aclose()
    assert await _count(session_factory, "client_documents") <= documents + 1  # only the heard one, if any


# -- production secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["a" * 32, "a" * 64, "abcd" * 8, "ab" * 20])
def test_production_refuses_low_entropy_secrets(secret: str) -> None:
    with pytest.raises(ConfigurationError, match="FOREXCRM_SECRET_KEY"):
        _prod(secret_key=SecretStr(secret)).check_production()


def test_production_needs_a_metrics_token_and_accepts_random_secrets() -> None:
    with pytest.raises(ConfigurationError, match="FOREXCRM_METRICS_TOKEN"):
        _prod(metrics_token=None).check_production()
    for _ in range(200):
        _prod(secret_key=SecretStr(os.urandom(16).hex())).check_production()  # `openssl rand -hex 16`


# -- suggestions --------------------------------------------------------------------------------------


async def test_no_did_you_mean_with_introspection_off() -> None:
    typo = "{ serverTim }"
    enum = ("mutation($f: StatementFormat!) { importBankStatement(account: \"a\", format: $f, content: \"\") "
            "{ errors { code } } }")
    dev = build_schema(Settings())
    literal = enum.replace("($f: StatementFormat!)", "").replace("$f", "CAMT05")
    for query in (typo, literal):  # the leak, where introspection is allowed anyway
        assert "Did you mean" in str((await dev.execute(query)).errors)
    prod = build_schema(_prod())
    for query, variables in ((typo, None), (enum, {"f": "CAMT05"}), (literal, None), ("{ serverTime { x } }", None),
                             ("{ announcements(frist: 1) { nodes { id } } }", None)):
        result = await prod.execute(query, variable_values=variables)
        assert result.errors, query
        for error in result.errors:
            assert "Did you mean" not in error.message, error.message
            assert "Did you mean" not in str(error.original_error or ""), error.original_error


# -- security headers ---------------------------------------------------------------------------------


async def test_security_headers_on_every_response(http: httpx.AsyncClient) -> None:
    for response in (await http.get("/health"), await http.post("/graphql", json={"query": "{ serverTime }"}),
                     await http.post("/graphql", content=b"{", headers={"content-type": "application/json"}),
                     await http.get("/nowhere")):
        h = response.headers
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "strict-transport-security" not in h  # development: plain http
    graphiql = await http.get("/graphql", headers={"accept": "text/html"})
    assert graphiql.status_code == 200 and "script-src 'self';" in graphiql.headers["content-security-policy"]


async def test_hsts_in_production() -> None:
    async def ok(_: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = RequestIdMiddleware(Starlette(routes=[Route("/", ok)]), hsts=_prod().is_production)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://api.example") as c:
        assert "max-age=" in (await c.get("/")).headers["strict-transport-security"]


# -- /metrics -------------------------------------------------------------------------------------------


async def test_metrics_need_the_token_or_loopback(live_server: LiveServer) -> None:
    token = "metrics-" + STRONG
    settings = live_server.settings.model_copy(update={"metrics_token": SecretStr(token)})
    async with serve(settings) as server, httpx.AsyncClient(base_url=server.base_url, timeout=10) as c:
        assert (await c.get("/metrics")).status_code == 401  # loopback is not enough once a token is set
        assert (await c.get("/metrics", headers={"authorization": "Bearer wrong"})).status_code == 401
        good = await c.get("/metrics", headers={"authorization": f"Bearer {token}"})
        assert good.status_code == 200 and "forexcrm_" in good.text
    # No token: loopback only. A caller forwarded by a trusted proxy is not loopback.
    proxied = live_server.settings.model_copy(update={"trusted_proxies": ["127.0.0.1/32"]})
    async with serve(proxied) as server, httpx.AsyncClient(base_url=server.base_url, timeout=10) as c:
        assert (await c.get("/metrics", headers={"x-forwarded-for": "203.0.113.9"})).status_code == 401
        assert (await c.get("/metrics")).status_code == 200


# -- slow clients -------------------------------------------------------------------------------------


async def _read_until_closed(reader: asyncio.StreamReader, limit_s: float) -> tuple[bytes, float]:
    started = time.monotonic()
    data = b""
    async with asyncio.timeout(limit_s):
        while chunk := await reader.read(65536):
            data += chunk
    return data, time.monotonic() - started


async def test_slow_clients_are_timed_out(live_server: LiveServer) -> None:
    settings = live_server.settings.model_copy(update={"header_timeout_s": 1.0, "body_timeout_s": 1.0})
    async with serve(settings) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        # Headers complete, then the promised body never comes.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"query\":")
        await writer.drain()
        data, took = await _read_until_closed(reader, 10)
        assert data.startswith(b"HTTP/1.1 408") and b"REQUEST_TIMEOUT" in data and took < 5
        writer.close()
        # Headers that never end (slowloris), and a connection that sends nothing at all.
        for opening in (b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: ", b""):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(opening)
            await writer.drain()
            data, took = await _read_until_closed(reader, 10)
            assert took < 5 and b"200 OK" not in data
            writer.close()


# -- string sizes -------------------------------------------------------------------------------------


async def test_oversized_strings_are_refused_before_any_work(gql: GraphQLClient, session_factory: Any) -> None:
    users = await _count(session_factory, "users")
    huge = "a" * 900_000 + "@example.com"
    register_q = "mutation($i: RegisterInput!) { register(input: $i) { errors { code field } } }"
    started = time.perf_counter()
    body = await gql(register_q, {"i": {"email": huge, "password": PASSWORD}})
    assert time.perf_counter() - started < 2
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "INPUT_TOO_LONG"
    login_q = "mutation($i: LoginInput!) { login(input: $i) { errors { code } } }"
    body = await gql(login_q, {"i": {"email": "x@example.com", "password": "p" * 20_000}})
    assert body["errors"][0]["extensions"]["code"] == "INPUT_TOO_LONG"
    literal = await gql('mutation { login(input: {email: "' + "b" * 20_000 + '", password: "x"}) { errors { code } } }')
    assert literal["errors"][0]["extensions"]["code"] == "INPUT_TOO_LONG"
    # Within the generic cap, an e-mail still has its own: a typed payload error.
    body = await gql(register_q, {"i": {"email": "c" * 300 + "@example.com", "password": PASSWORD}})
    assert body["data"]["register"]["errors"] == [{"code": "INVALID_EMAIL", "field": "email"}]
    # Whole statements travel as text: not capped by the string limit (refused for permissions here).
    statement = await gql("mutation($c: String!) { importBankStatement(account: \"a\", format: CSV, content: $c) "
                          "{ errors { code } } }", {"c": "x" * 50_000})
    assert all(e["extensions"]["code"] != "INPUT_TOO_LONG" for e in statement.get("errors") or [])
    assert await _count(session_factory, "users") == users


# -- webhooks -------------------------------------------------------------------------------------------


async def test_long_webhook_ids_are_a_typed_400(http: httpx.AsyncClient, live_server: LiveServer,
                                                session_factory: Any) -> None:
    secret = webhook_secrets(live_server.settings, "stripe")[0]
    before = {t: await _count(session_factory, t) for t in ("webhook_events", "payment_parked_webhooks")}
    for event_id, object_id in (("e" * 5000, "cs_1"), (unique("evt"), "cs_" + "p" * 5000)):
        body = orjson.dumps({"id": event_id, "type": "checkout.session.completed", "data": {"object": {
            "id": object_id, "payment_status": "paid", "amount_total": 100, "currency": "usd"}}})
        r = await http.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": sign(secret, body)})
        assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "WEBHOOK_MALFORMED"
    crypto_secret = webhook_secrets(live_server.settings, "coinspaid")[0]
    body = orjson.dumps({"id": "c" * 5000, "type": "deposit", "status": "not_confirmed",
                         "crypto_address": {"currency": "BTC", "address": "a1"},
                         "currency_sent": {"currency": "BTC", "amount": "0.1"},
                         "transactions": [{"txid": "t1", "confirmations": 1}]})
    r = await http.post("/webhooks/coinspaid", content=body, headers={
        "X-Processing-Key": api_key(live_server.settings, "coinspaid"),
        "X-Processing-Signature": coinspaid_signature(crypto_secret, body)})
    assert r.status_code == 400
    after = {t: await _count(session_factory, t) for t in before}
    assert after == before


async def test_unconfigured_provider_is_a_typed_404(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOREXCRM_PSP_STRIPE_WEBHOOK_SECRETS", raising=False)
    monkeypatch.delenv("FOREXCRM_PSP_PRAXIS_WEBHOOK_SECRETS", raising=False)
    monkeypatch.delenv("FOREXCRM_KYC_WEBHOOK_SECRETS", raising=False)
    services = SimpleNamespace(settings=_prod(), session_factory=runtime.services.session_factory)
    app = Starlette(routes=webhook_routes(lambda: services))  # type: ignore[arg-type,return-value]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for provider in ("stripe", "praxis", "kyc"):
            r = await c.post(f"/webhooks/{provider}", content=b'{"id": "x"}')
            assert r.status_code == 404, r.text
            assert r.json()["errors"][0]["extensions"]["code"] == "WEBHOOK_PROVIDER_NOT_CONFIGURED"


# -- the development secret -----------------------------------------------------------------------------


def test_development_signs_with_the_data_folders_own_secret(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREXCRM_SECRET_KEY", DEV_SECRET_KEY)  # restored (to unset) after the test
    monkeypatch.delenv("FOREXCRM_SECRET_KEY")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    first = with_development_secret(Settings(data_dir=tmp_path / "a"))
    secret = first.secret_key.get_secret_value()
    assert secret != DEV_SECRET_KEY and len(secret) == 64
    assert os.environ["FOREXCRM_SECRET_KEY"] == secret  # what `forexcrm run` hands its processes
    assert stat.S_IMODE((tmp_path / "a" / "secret-key").stat().st_mode) == 0o600
    assert data_folder_secret(tmp_path / "a") == secret  # kept: the next start signs alike
    monkeypatch.delenv("FOREXCRM_SECRET_KEY")
    other = with_development_secret(Settings(data_dir=tmp_path / "b")).secret_key.get_secret_value()
    assert other != secret
    explicit = Settings(data_dir=tmp_path / "c", secret_key=SecretStr("configured"))
    assert with_development_secret(explicit).secret_key.get_secret_value() == "configured"
    monkeypatch.delenv("FOREXCRM_SECRET_KEY")
    external = Settings(data_dir=tmp_path / "d", database_url="postgresql://db/x", redis_url="redis://r")
    assert with_development_secret(external).secret_key.get_secret_value() == DEV_SECRET_KEY


def test_unconfigured_provider_is_a_typed_refusal_for_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.payments.config import call_api_key
    from domain.payments.errors import PaymentMethodUnavailable

    monkeypatch.delenv("FOREXCRM_PSP_CARDPAY_API_KEY", raising=False)
    with pytest.raises(PaymentMethodUnavailable):
        call_api_key(_prod(), "cardpay")
    monkeypatch.setenv("FOREXCRM_PSP_CARDPAY_API_KEY", "configured-key")
    assert call_api_key(_prod(), "cardpay") == "configured-key"
