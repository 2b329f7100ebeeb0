from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from domain.shared.settings import ConfigurationError, Mode, Settings


def _prod(**overrides: Any) -> Settings:
    base: dict[str, Any] = dict(mode=Mode.PRODUCTION, ib_referral_base_url="https://go.broker.example",
                secret_key=SecretStr("3f9c1b7e5a2d48c6b0e1f7a9d3c5b8e2" * 2),
                metrics_token=SecretStr("7d1e9a4c2b8f6e30"), database_url="postgresql://db/x",
                redis_url="redis://r:6379/0", smtp_url="smtp://mail.example:587")
    base.update(overrides)
    return Settings(**base)


def test_production_refuses_development_secret() -> None:
    with pytest.raises(ConfigurationError, match="FOREXCRM_SECRET_KEY"):
        Settings(mode=Mode.PRODUCTION, database_url="postgresql://db/x", redis_url="redis://r").check_production()


def test_production_refuses_graphiql_and_introspection() -> None:
    with pytest.raises(ConfigurationError, match="FOREXCRM_GRAPHIQL"):
        _prod(graphiql=True).check_production()
    with pytest.raises(ConfigurationError, match="FOREXCRM_INTROSPECTION"):
        _prod(introspection=True).check_production()


def test_production_refuses_embedded_services() -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        _prod(database_url=None).check_production()


def test_valid_production_settings_pass_and_default_to_safe() -> None:
    s = _prod()
    s.check_production()
    assert not s.graphiql_enabled and not s.introspection_enabled


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://example/db")
    monkeypatch.setenv("FOREXCRM_MAX_QUERY_DEPTH", "7")
    monkeypatch.setenv("FOREXCRM_ALLOWED_WS_ORIGINS", '["https://portal.example"]')
    s = Settings()
    assert s.database_url == "postgresql://example/db"
    assert s.max_query_depth == 7
    assert s.allowed_ws_origins == ["https://portal.example"]


def test_production_refuses_derived_psp_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.payments.config import api_key, webhook_secrets

    monkeypatch.delenv("FOREXCRM_PSP_CARDPAY_WEBHOOK_SECRETS", raising=False)
    monkeypatch.delenv("FOREXCRM_PSP_CARDPAY_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="FOREXCRM_PSP_CARDPAY_WEBHOOK_SECRETS"):
        webhook_secrets(_prod(), "cardpay")
    with pytest.raises(ConfigurationError, match="FOREXCRM_PSP_CARDPAY_API_KEY"):
        api_key(_prod(), "cardpay")
    monkeypatch.setenv("FOREXCRM_PSP_CARDPAY_WEBHOOK_SECRETS", "new-secret, old-secret")
    assert webhook_secrets(_prod(), "cardpay") == ["new-secret", "old-secret"]


def test_production_refuses_to_start_without_mail() -> None:
    with pytest.raises(ConfigurationError, match="FOREXCRM_SMTP_URL"):
        _prod(smtp_url=None).check_production()
    with pytest.raises(ConfigurationError, match="FOREXCRM_MAIL_DISABLED"):
        _prod(smtp_url="").check_production()


def test_production_runs_without_mail_only_when_disabled_on_purpose() -> None:
    _prod(smtp_url=None, mail_disabled=True).check_production()


def test_production_refuses_referral_links_without_an_https_origin() -> None:
    # Unset, a referral link would repeat the request's Host header; http would send visitors in the clear.
    for origin in ("", "http://go.broker.example", "go.broker.example"):
        with pytest.raises(ConfigurationError, match="FOREXCRM_IB_REFERRAL_BASE_URL"):
            _prod(ib_referral_base_url=origin).check_production()
    _prod(ib_referral_base_url="https://go.broker.example/").check_production()
