"""MT5 Web API adapter (HTTP/JSON protocol of the MetaTrader 5 trading server); registers as `mt5`."""

from __future__ import annotations

from typing import Any

from domain.platforms import registry
from domain.platforms.mt5.adapter import MT5Platform
from domain.platforms.mt5.client import MT5Credentials, MT5WebAPIClient
from domain.platforms.port import TradingPlatform


class MT5Kind:
    name = "mt5"

    def connect(self, connection: registry.Connection, **options: Any) -> TradingPlatform:
        credentials = MT5Credentials(connection.base_url, connection.manager_login, connection.password)
        return MT5Platform.connect(credentials, **options)

    async def verify(self, connection: registry.Connection, *, timeout_s: float) -> None:
        client = MT5WebAPIClient(MT5Credentials(connection.base_url, connection.manager_login, connection.password),
                                 timeout=timeout_s, connect_timeout=min(timeout_s, 5.0), retries=1)
        try:
            await client.authenticate()
        finally:
            await client.aclose()


registry.register(MT5Kind())

__all__ = ["MT5Credentials", "MT5Kind", "MT5Platform", "MT5WebAPIClient"]
