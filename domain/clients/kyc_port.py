"""The KYC provider port: create an applicant, hand the provider's SDK an access token, fetch the
verdict, and verify and read the provider's webhooks. Each adapter (sumsub.py) translates one
provider's documented REST protocol and webhook scheme into these types; `provider_for` picks the
adapter named by FOREXCRM_KYC_PROVIDER from the registry.

Configuration comes from FOREXCRM_KYC_* environment variables, read per use so a rotated webhook
secret takes effect without a restart. Outside production, an unset app token, secret key or
webhook secret is derived from the application secret key (as the payment providers' are), so
`forexcrm run` and the stand-in agree with no configuration; production must set them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import PrivateAttr, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

GREEN = "green"
RED = "red"
# The provider's reject types: FINAL ends the application, RETRY asks the client to resubmit.
FINAL = "final"
RETRY = "retry"


@dataclass(frozen=True)
class Applicant:
    applicant_id: str
    external_id: str


@dataclass(frozen=True)
class ApplicantData:
    external_id: str
    email: str
    first_name: str
    last_name: str
    country: str | None


@dataclass(frozen=True)
class ProviderVerdict:
    """`verdict` is None while the provider is still reviewing."""

    applicant_id: str
    verdict: str | None
    reject_type: str | None = None
    reason: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class KycEvent:
    """A verified webhook: `event_id` deduplicates deliveries; `verdict` is set for a completed review."""

    event_id: str
    type: str
    applicant_id: str
    external_id: str
    verdict: ProviderVerdict | None
    payload: dict[str, Any] = field(default_factory=dict)


class KycProvider(Protocol):
    name: str

    async def create_applicant(self, data: ApplicantData) -> Applicant: ...

    async def access_token(self, applicant: Applicant, *, ttl_s: int = 600) -> str: ...

    async def fetch_verdict(self, applicant_id: str) -> ProviderVerdict: ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> KycEvent:
        """Checks the delivery's signature over the raw body and reads it; raises
        domain.shared.webhooks.WebhookRejected (nothing recorded) otherwise."""
        ...

    async def aclose(self) -> None: ...


class KycSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOREXCRM_KYC_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    provider: str = "sumsub"
    base_url: str = ""
    app_token: SecretStr = SecretStr("")
    secret_key: SecretStr = SecretStr("")
    level_name: str = "basic-kyc-level"
    # Comma-separated: the new secret and the old one are both accepted while the provider rotates.
    webhook_secrets: SecretStr = SecretStr("")
    timeout_s: float = 10.0
    _app: Any = PrivateAttr(default=None)  # the application settings the dev values derive from

    def _or_derived(self, value: SecretStr, purpose: str) -> str:
        configured = value.get_secret_value()
        if configured:
            return configured
        from domain.shared.settings import get_settings

        app = self._app or get_settings()
        if app.is_production:
            return ""
        key = app.secret_key.get_secret_value().encode()
        return hmac.new(key, f"kyc-{purpose}:{self.provider}".encode(), hashlib.sha256).hexdigest()

    @property
    def token(self) -> str:
        return self._or_derived(self.app_token, "app-token")

    @property
    def secret(self) -> str:
        return self._or_derived(self.secret_key, "secret-key")

    @property
    def secrets(self) -> list[str]:
        configured = [s.strip() for s in self.webhook_secrets.get_secret_value().split(",") if s.strip()]
        return configured or [s for s in [self._or_derived(SecretStr(""), "webhook")] if s]

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.token and self.secret) and self.provider in adapters()


def kyc_settings(app: Any = None) -> KycSettings:
    """FOREXCRM_KYC_*; `app` (domain.shared.settings.Settings) decides production and the derived dev values."""
    settings = KycSettings()
    settings._app = app
    return settings


AdapterFactory = Callable[[KycSettings], KycProvider]
# Adapters by name; FOREXCRM_KYC_PROVIDER picks one. A new provider is one module and one line here.
ADAPTERS: dict[str, AdapterFactory] = {}


def register(name: str, factory: AdapterFactory) -> None:
    ADAPTERS[name] = factory


def adapters() -> dict[str, AdapterFactory]:
    from domain.clients import sumsub  # noqa: F401  (the built-in adapters register themselves)

    return ADAPTERS


def adapter(settings: KycSettings) -> KycProvider:
    """The named adapter whether or not its REST endpoint is configured (webhooks need only secrets)."""
    from domain.shared.settings import ConfigurationError

    factory = adapters().get(settings.provider)
    if factory is None:
        raise ConfigurationError(f"FOREXCRM_KYC_PROVIDER names no known adapter: {settings.provider!r}")
    return factory(settings)


def provider_for(settings: KycSettings | None = None) -> KycProvider:
    """The configured adapter; KycNotConfigured when there is none to call."""
    from domain.clients.errors import KycNotConfigured

    chosen = settings or kyc_settings()
    if not chosen.configured:
        raise KycNotConfigured("identity verification is not configured", field=None)
    return adapter(chosen)
