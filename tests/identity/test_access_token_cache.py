"""The verified-token cache: a repeat skips the signature check but never outlives the token."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from domain.identity import jwt_tokens
from domain.identity.errors import TokenExpired, TokenInvalid
from domain.shared.settings import Settings


def _settings(secret: str) -> Settings:
    return Settings(secret_key=SecretStr(secret), access_token_ttl_s=60)


def test_cached_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings("cache-test-secret-" + "x" * 32)
    token = jwt_tokens.issue_access_token(settings, 7, 70)
    first = jwt_tokens.verify_access_token(settings, token)
    assert jwt_tokens.verify_access_token(settings, token) is first  # served from the cache
    monkeypatch.setattr(time, "time", lambda: first.expires_at + 1.0)
    with pytest.raises(TokenExpired):
        jwt_tokens.verify_access_token(settings, token)


def test_cache_is_per_signing_key() -> None:
    issuer = _settings("issuer-secret-" + "y" * 32)
    other = _settings("another-secret-" + "z" * 32)
    token = jwt_tokens.issue_access_token(issuer, 8, 80)
    assert jwt_tokens.verify_access_token(issuer, token).user_id == 8
    with pytest.raises(TokenInvalid):
        jwt_tokens.verify_access_token(other, token)  # a hit under the issuer's key must not leak across
