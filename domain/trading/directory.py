"""The platform adapters of every configured trading server, for services that act on accounts
(ledger transfers, dealer sync). Refreshed at start-up and periodically, so a server added by staff
becomes reachable without a restart."""

from __future__ import annotations

import logging

from sqlalchemy import select

from domain.ledger.transfers import register_platform, unregister_platform
from domain.platforms.errors import UnknownPlatform
from domain.shared.db import SessionFactory
from domain.trading.crypto import PasswordDecryptionFailed
from domain.trading.models import TradingServer
from domain.trading.servers import platform_for

log = logging.getLogger(__name__)
_KNOWN: dict[str, tuple[str, int, str]] = {}


async def refresh_platforms(factory: SessionFactory, secret_key: str) -> int:
    """Register an adapter per enabled server (rebuilt when its connection settings change).

    A server whose adapter cannot be built (password sealed with another key) is skipped and logged,
    never stopping the others."""
    async with factory() as session:
        servers = list(await session.scalars(select(TradingServer).where(TradingServer.enabled.is_(True))))
    seen: set[str] = set()
    for server in servers:
        key = str(server.id)
        fingerprint = (server.base_url, server.manager_login, server.password_enc)
        if _KNOWN.get(key) != fingerprint:
            try:
                adapter = platform_for(server, secret_key)
            except PasswordDecryptionFailed:
                log.error("trading server %s: the password does not decrypt with this secret key", server.id)
                continue
            except UnknownPlatform:
                log.error("trading server %s: no adapter is registered for platform %r", server.id, server.platform)
                continue
            register_platform(key, adapter)
            _KNOWN[key] = fingerprint
        seen.add(key)
    for key in set(_KNOWN) - seen:
        unregister_platform(key)
        del _KNOWN[key]
    return len(seen)
