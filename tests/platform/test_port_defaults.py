"""FOREXCRM_PORT moves every default that names the API's own address: the token issuer, the base
of e-mailed links, and the origins allowed to open subscriptions and make CORS requests."""

from __future__ import annotations

import httpx
import pytest
from joserfc import jwt

from api.app import create_app
from domain.identity.jwt_tokens import issue_access_token, verify_access_token
from domain.shared.settings import Settings


def test_port_moves_the_defaults_that_name_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREXCRM_PORT", "9123")
    monkeypatch.delenv("FOREXCRM_PUBLIC_BASE_URL", raising=False)
    monkeypatch.delenv("FOREXCRM_ALLOWED_WS_ORIGINS", raising=False)
    settings = Settings()
    assert settings.public_base_url == "http://127.0.0.1:9123"
    assert "http://127.0.0.1:9123" in settings.allowed_ws_origins
    assert "http://localhost:9123" in settings.allowed_ws_origins
    assert not any(":8000" in origin for origin in settings.allowed_ws_origins)

    token = issue_access_token(settings, 1, 1)
    assert jwt.decode(token, _public(settings)).claims["iss"] == "http://127.0.0.1:9123"
    assert verify_access_token(settings, token).user_id == 1


def test_explicit_values_win_over_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREXCRM_PORT", "9124")
    monkeypatch.setenv("FOREXCRM_PUBLIC_BASE_URL", "https://api.broker.example")
    monkeypatch.setenv("FOREXCRM_ALLOWED_WS_ORIGINS", '["https://portal.broker.example"]')
    settings = Settings()
    assert settings.public_base_url == "https://api.broker.example"
    assert settings.allowed_ws_origins == ["https://portal.broker.example"]
    assert Settings(port=9125, public_base_url="https://x.example").public_base_url == "https://x.example"
    monkeypatch.delenv("FOREXCRM_PUBLIC_BASE_URL")
    assert Settings(port=9125).public_base_url == "http://127.0.0.1:9125"


async def test_cors_follows_the_port() -> None:
    settings = Settings(port=9126, database_url="postgresql://unused@127.0.0.1/x", redis_url="redis://127.0.0.1")
    app = create_app(settings, "postgresql://unused@127.0.0.1/x", "redis://127.0.0.1")
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:9126") as c:
        moved = await c.options("/graphql", headers={**preflight, "origin": "http://localhost:9126"})
        old = await c.options("/graphql", headers={**preflight, "origin": "http://localhost:8000"})
    assert moved.headers.get("access-control-allow-origin") == "http://localhost:9126"
    assert "access-control-allow-origin" not in old.headers


def _public(settings: Settings):  # type: ignore[no-untyped-def]
    from domain.identity.jwt_tokens import keys

    key_set, _ = keys(settings)
    return key_set
