"""Staff administration of trading servers and the ingestion error queue (trading.manage).

Every change is audited in the caller's transaction; passwords are never audited or returned.
Inputs are checked before anything is written, so a refused call leaves no trace.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.platforms.errors import PlatformAuthFailed, PlatformProtocolError, PlatformUnavailable
from domain.platforms.registry import Connection, platform_kind
from domain.shared.actor import Actor
from domain.shared.db import utcnow
from domain.trading.errors import (
    IngestionErrorNotFound,
    IngestionErrorResolved,
    InvalidTradingServer,
    TradingServerAuthFailed,
    TradingServerNotFound,
    TradingServerUnreachable,
)
from domain.trading.models import IngestionError, TradingServer
from domain.trading.servers import ServerConfig, _check_mapping, upsert_server

MAX_NOTE = 2000


def _public(server: TradingServer | None) -> dict[str, Any] | None:
    """What the audit trail may keep of a server: everything but the password."""
    if server is None:
        return None
    return {
        "name": server.name, "platform": server.platform, "base_url": server.base_url,
        "manager_login": server.manager_login, "symbol_map": dict(server.symbol_map or {}),
        "enabled": server.enabled,
    }  # fmt: skip


def check_config(config: ServerConfig) -> None:
    if not config.name.strip() or len(config.name) > 80:
        raise InvalidTradingServer("name must be 1 to 80 characters", field="name")
    url = urlsplit(config.base_url)
    if url.scheme not in ("http", "https") or not url.netloc or len(config.base_url) > 300:
        raise InvalidTradingServer("baseUrl must be an http(s) URL of at most 300 characters", field="baseUrl")
    if not 0 < config.manager_login < 2**63:
        raise InvalidTradingServer("managerLogin must be a positive integer", field="managerLogin")
    if not config.password or len(config.password) > 256:
        raise InvalidTradingServer("password must be 1 to 256 characters", field="password")
    platform_kind(config.platform)  # TRADING_UNKNOWN_PLATFORM unless a package registered it
    _check_mapping(config.symbol_map)


async def verify_credentials(config: ServerConfig, *, timeout_s: float = 10.0) -> None:
    """Sign in to the server with these credentials before they are saved: a wrong password would
    otherwise be stored silently and show up later as a feed that never pulls. Call it outside
    the transaction (no database connection held over the network round trips)."""
    check_config(config)
    kind = platform_kind(config.platform)
    try:
        await kind.verify(Connection(config.base_url, config.manager_login, config.password), timeout_s=timeout_s)
    except PlatformAuthFailed as exc:
        raise TradingServerAuthFailed("the trading server refused this manager login and password",
                                      field="password") from exc
    except (PlatformUnavailable, PlatformProtocolError) as exc:
        raise TradingServerUnreachable(f"the trading server could not be reached at {config.base_url}",
                                       field="baseUrl") from exc


async def save_server(session: AsyncSession, actor: Actor, secret_key: str, config: ServerConfig) -> int:
    """Create or update a server by name; audited without the password."""
    check_config(config)
    before = await session.scalar(select(TradingServer).where(TradingServer.name == config.name))
    old = _public(before)
    server_id = await upsert_server(session, secret_key, config)
    after = await session.get(TradingServer, server_id, populate_existing=True)
    new = _public(after)
    assert new is not None
    # A changed password shows as a change, never as a value.
    if before is not None:
        new["password_changed"] = True
    await record(session, actor, action="trading_server.created" if before is None else "trading_server.updated",
                 entity_type="trading_server", entity_id=server_id, before=old, after=new, category="general")
    return server_id


async def set_server_enabled(session: AsyncSession, actor: Actor, server_id: int, enabled: bool) -> TradingServer:
    server = await session.get(TradingServer, server_id, with_for_update=True)
    if server is None:
        raise TradingServerNotFound("trading server not found", field="id")
    if server.enabled != enabled:
        server.enabled = enabled
        server.updated_at = utcnow()
        await record(session, actor, action="trading_server.enabled" if enabled else "trading_server.disabled",
                     entity_type="trading_server", entity_id=server_id, before={"enabled": not enabled},
                     after={"enabled": enabled})
    return server


async def resolve_error(session: AsyncSession, actor: Actor, error_id: int, note: str) -> IngestionError:
    text_ = note.strip()
    if not text_ or len(text_) > MAX_NOTE:
        raise InvalidTradingServer(f"note must be 1 to {MAX_NOTE} characters", field="note")
    row = await session.get(IngestionError, error_id, with_for_update=True)
    if row is None:
        raise IngestionErrorNotFound("ingestion error not found", field="id")
    if row.resolved_at is not None:
        raise IngestionErrorResolved("ingestion error already resolved", field="id")
    row.resolved_at = utcnow()
    await record(session, actor, action="trading_ingestion_error.resolved", entity_type="trading_ingestion_error",
                 entity_id=error_id, before={"resolved": False}, after={"resolved": True}, reason=text_)
    return row
