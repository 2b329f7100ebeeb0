"""The KYC provider port: create an applicant, hand the provider's SDK an access token, fetch the
verdict. Adapters (kyc_http.py) translate a provider's REST protocol into these types.

Configuration comes from FOREXCRM_KYC_* environment variables, read per use so a rotated webhook
secret takes effect without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import SecretStr
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


class KycProvider(Protocol):
    name: str

    async def create_applicant(self, data: ApplicantData) -> Applicant: ...

    async def access_token(self, applicant: Applicant, *, ttl_s: int = 600) -> str: ...

    async def fetch_verdict(self, applicant_id: str) -> ProviderVerdict: ...

    async def aclose(self) -> None: ...


class KycSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOREXCRM_KYC_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    provider: str = "kyc"
    base_url: str = ""
    app_token: SecretStr = SecretStr("")
    secret_key: SecretStr = SecretStr("")
    level_name: str = "basic-kyc-level"
    # Comma-separated: the new secret and the old one are both accepted while the provider rotates.
    webhook_secrets: SecretStr = SecretStr("")
    timeout_s: float = 10.0

    @property
    def secrets(self) -> list[str]:
        return [s.strip() for s in self.webhook_secrets.get_secret_value().split(",") if s.strip()]

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.app_token.get_secret_value() and self.secret_key.get_secret_value())


def kyc_settings() -> KycSettings:
    return KycSettings()
