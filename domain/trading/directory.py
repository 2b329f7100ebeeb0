"""The platform adapters of every configured trading server, for services that act on accounts
(ledger transfers, dealer sync). Refreshed at start-up and periodically, so a server added by staff
becomes reachable without a restart."""

from __future__ import annotations

from sqlalchemy import select

from domain.ledger.transfers import register_platform, unregister_platform
from domain.shared.db import SessionFactory
from domain.trading.models import TradingServer
from domain.trading.servers import platform_for

_KNOWN: dict[str, tuple[str, int, str]] = {}


async def refresh_platforms(factory: SessionFactory, secret_key: str) -> int:
    """Register an adapter per enabled server (rebuilt when its connection settings change)."""
    async with factory() as session:
        servers = list(await session.scalars(select(TradingServer).where(TradingServer.enabled.is_(True))))
    seen: set[str] = set()
    for server in servers:
        key = str(server.id)
        seen.add(key)
        fingerprint = (server.base_url, server.manager_login, server.password_enc)
        if _KNOWN.get(key) != fingerprint:
            register_platform(key, platform_for(server, secret_key))
            _KNOWN[key] = fingerprint
    for key in set(_KNOWN) - seen:
        unregister_platform(key)
        del _KNOWN[key]
    return len(seen)
