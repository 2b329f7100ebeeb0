"""MT4 through a Manager-API sidecar (JSON over HTTP, docs/platforms/mt4-sidecar.md); registers as `mt4`.

A server's `base_url` is the sidecar's, `manager_login` the manager it holds the MT4 session with, and its
password the key the requests are signed with (HMAC-SHA256)."""

from __future__ import annotations

from typing import Any

from domain.platforms import registry
from domain.platforms.mt4.adapter import MT4Platform
from domain.platforms.mt4.client import SidecarClient, SidecarCredentials
from domain.platforms.port import TradingPlatform


def _credentials(connection: registry.Connection) -> SidecarCredentials:
    return SidecarCredentials(connection.base_url, connection.manager_login, connection.password)


class MT4Kind:
    name = "mt4"

    def connect(self, connection: registry.Connection, **options: Any) -> TradingPlatform:
        return MT4Platform.connect(_credentials(connection), **options)

    async def verify(self, connection: registry.Connection, *, timeout_s: float) -> None:
        client = SidecarClient(_credentials(connection), timeout=timeout_s, connect_timeout=min(timeout_s, 5.0),
                               retries=1)
        try:
            await client.call("GET", "/v1/ping", resend=True)
        finally:
            await client.aclose()


registry.register(MT4Kind())

__all__ = ["MT4Kind", "MT4Platform", "SidecarClient", "SidecarCredentials"]
