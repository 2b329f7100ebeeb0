"""The rate-source port: a provider publishes a snapshot of rates against one base currency.

Adapters register themselves by name (`register`); the one used is chosen by configuration
(FOREXCRM_FX_SOURCE, default `ecb`). Cross rates are derived from the base by whoever reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.fx.errors import UnknownRateSource

ECB_DAILY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"


class FxSettings(BaseSettings):
    """FOREXCRM_FX_* environment variables, read per use."""

    model_config = SettingsConfigDict(env_prefix="FOREXCRM_FX_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    source: str = "ecb"
    ecb_url: str = ECB_DAILY_URL
    timeout_s: float = 10.0
    # A rate older than this (by the source's own time) is refused: the ECB publishes once a
    # business day, so four days covers a long weekend.
    max_age_s: float = 4 * 86400.0
    quote_ttl_s: float = 30.0
    markup: Decimal = Decimal("0.005")  # 50 bp of the mid rate, booked as broker revenue
    refresh_minutes: str = "7,37"  # cron minutes of the refresh job


@dataclass(frozen=True)
class RateSnapshot:
    source: str
    base: str
    time: datetime  # when the source says these rates were set (UTC)
    rates: Mapping[str, Decimal]  # units of currency per one unit of base


class RateProvider(Protocol):
    name: str

    async def fetch(self) -> RateSnapshot:
        """The source's current rates; RateSourceUnavailable when it cannot be had."""
        ...


ProviderFactory = Callable[[FxSettings], RateProvider]
_SOURCES: dict[str, ProviderFactory] = {}


def register(name: str, factory: ProviderFactory) -> None:
    _SOURCES[name] = factory


def provider_for(settings: FxSettings | None = None) -> RateProvider:
    settings = settings or FxSettings()
    _load()
    factory = _SOURCES.get(settings.source)
    if factory is None:
        raise UnknownRateSource(f"unknown FX rate source {settings.source!r}: one of {', '.join(sorted(_SOURCES))}",
                                field="source")
    return factory(settings)


def sources() -> list[str]:
    _load()
    return sorted(_SOURCES)


def _load() -> None:
    import domain.fx.ecb  # noqa: F401  (registers "ecb")
