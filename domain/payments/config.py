"""Payment configuration that is not per method: provider secrets, four-eyes threshold, risk lists.

Provider secrets come from the environment (`FOREXCRM_PSP_<PROVIDER>_WEBHOOK_SECRETS`, comma-separated
so several are accepted during rotation; `FOREXCRM_PSP_<PROVIDER>_API_KEY`; adapter-specific values
such as `FOREXCRM_PSP_<PROVIDER>_MERCHANT_ID`). <PROVIDER> is the payment method's provider key. Without them a
development secret is derived from the application secret key, so `forexcrm run` and the tests work
with no configuration; production must set them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from decimal import Decimal

from domain.shared.settings import ConfigurationError, Settings

# Withdrawals at or above this amount (in their own currency) need two different approvers.
FOUR_EYES_DEFAULT = Decimal("1000")
HIGH_RISK_COUNTRIES = frozenset({"IR", "KP", "MM", "SY", "YE", "AF"})


def _env_key(provider: str, name: str) -> str:
    return f"FOREXCRM_PSP_{provider.upper().replace('-', '_')}_{name}"


def _derived(settings: Settings, purpose: str, provider: str) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"{purpose}:{provider}".encode(), hashlib.sha256).hexdigest()


def _production_needs(settings: Settings, name: str) -> None:
    # A secret derived from the app key is for development and the stand-ins only.
    if settings.is_production:
        raise ConfigurationError(f"{name} must be set in production")


def webhook_secrets(settings: Settings, provider: str) -> list[str]:
    raw = os.environ.get(_env_key(provider, "WEBHOOK_SECRETS"), "")
    secrets = [s.strip() for s in raw.split(",") if s.strip()]
    if not secrets:
        _production_needs(settings, _env_key(provider, "WEBHOOK_SECRETS"))
    return secrets or [_derived(settings, "psp-webhook", provider)]


def api_key(settings: Settings, provider: str) -> str:
    configured = os.environ.get(_env_key(provider, "API_KEY"))
    if not configured:
        _production_needs(settings, _env_key(provider, "API_KEY"))
    return configured or _derived(settings, "psp-api", provider)


def call_api_key(settings: Settings, provider: str) -> str:
    """The API key for a call to the provider: one this deployment has not configured is a typed
    refusal of the method (PAYMENT_METHOD_UNAVAILABLE), not an internal error."""
    from domain.payments.errors import PaymentMethodUnavailable

    try:
        return api_key(settings, provider)
    except ConfigurationError as exc:
        raise PaymentMethodUnavailable(f"the payment provider {provider} is not configured") from exc


def provider_value(settings: Settings, provider: str, name: str) -> str:
    """Another per-provider value (`FOREXCRM_PSP_<PROVIDER>_<NAME>`, e.g. Praxis MERCHANT_ID and
    APPLICATION_KEY); development derives one from the application secret key."""
    configured = os.environ.get(_env_key(provider, name))
    if not configured:
        _production_needs(settings, _env_key(provider, name))
    return configured or _derived(settings, f"psp-{name.lower()}", provider)[:32]


def optional_value(provider: str, name: str) -> str | None:
    return os.environ.get(_env_key(provider, name)) or None


def four_eyes_threshold(currency: str) -> Decimal:
    raw = os.environ.get(f"FOREXCRM_PAYMENTS_FOUR_EYES_{currency.upper()}") or os.environ.get(
        "FOREXCRM_PAYMENTS_FOUR_EYES")
    return Decimal(raw) if raw else FOUR_EYES_DEFAULT
