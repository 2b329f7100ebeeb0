"""Trading servers: configuration (password encrypted at rest), adapter construction, pull status.

A server that fails is retried with exponential backoff (next_attempt_at) and reported in its
status; the scheduler skips it until then, so one broken server never delays the others.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.platforms.port import TradingPlatform, utc_from_ms
from domain.platforms.registry import Connection, platform_kind
from domain.shared.db import utcnow
from domain.trading.crypto import decrypt_password, encrypt_password
from domain.trading.errors import InvalidSymbolMapping, TradingServerNotFound
from domain.trading.models import IngestionCursor, TradingServer

BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 300.0


@dataclass(frozen=True)
class ServerConfig:
    name: str
    base_url: str
    manager_login: int
    password: str = field(repr=False)
    platform: str = "mt5"
    symbol_map: dict[str, str] = field(default_factory=dict)
    enabled: bool = True


@dataclass(frozen=True)
class ServerStatus:
    id: int
    name: str
    platform: str
    base_url: str
    enabled: bool
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    next_attempt_at: datetime | None
    cursor_time: datetime | None
    # Seconds since the last successful pull: how stale our copy of the server may be.
    lag_seconds: float | None


def _check_mapping(mapping: dict[str, str]) -> None:
    for key, value in mapping.items():
        if not (isinstance(key, str) and isinstance(value, str) and key and value and len(value) <= 32):
            raise InvalidSymbolMapping("symbol_map maps server symbols to canonical symbols", field="symbolMap")


async def upsert_server(session: AsyncSession, secret_key: str, config: ServerConfig) -> int:
    """Create or update a server by name (idempotent); returns its id. The cursor row comes with it."""
    _check_mapping(config.symbol_map)
    server_id = await session.scalar(
        text(
            "INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc, symbol_map, "
            "enabled) VALUES (:name, :platform, :url, :login, :pw, CAST(:map AS jsonb), :enabled) "
            "ON CONFLICT (name) DO UPDATE SET platform = excluded.platform, base_url = excluded.base_url, "
            "manager_login = excluded.manager_login, password_enc = excluded.password_enc, "
            "symbol_map = excluded.symbol_map, enabled = excluded.enabled, updated_at = now() RETURNING id"
        ),
        {
            "name": config.name, "platform": config.platform, "url": config.base_url,
            "login": config.manager_login, "pw": encrypt_password(secret_key, config.password),
            "map": _json(config.symbol_map), "enabled": config.enabled,
        },
    )  # fmt: skip
    assert server_id is not None
    await session.execute(
        text("INSERT INTO trading_ingestion_cursors (server_id) VALUES (:id) ON CONFLICT DO NOTHING"),
        {"id": server_id},
    )
    return int(server_id)


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


async def get_server(session: AsyncSession, server_id: int) -> TradingServer:
    server = await session.get(TradingServer, server_id)
    if server is None:
        raise TradingServerNotFound(f"trading server {server_id} not found", field="serverId")
    return server


def platform_for(server: TradingServer, secret_key: str, **client_options: Any) -> TradingPlatform:
    """The adapter for a configured server (one per server; safe to share between coroutines), built by
    the platform registered under `server.platform`; an unknown platform raises UnknownPlatform."""
    kind = platform_kind(server.platform, field="serverId")
    password = decrypt_password(secret_key, server.password_enc)
    return kind.connect(Connection(server.base_url, server.manager_login, password), **client_options)


async def due_server_ids(session: AsyncSession, now: datetime | None = None) -> list[int]:
    """Enabled servers whose backoff (if any) has expired by `now` (default: the current time)."""
    at = now or utcnow()
    rows = await session.scalars(
        select(TradingServer.id)
        .where(TradingServer.enabled.is_(True))
        .where((TradingServer.next_attempt_at.is_(None)) | (TradingServer.next_attempt_at <= at))
        .order_by(TradingServer.id)
    )
    return list(rows)


def backoff_delay(failures: int) -> float:
    """Exponential with jitter: 2 s, 4 s, 8 s ... capped at five minutes."""
    base = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, failures - 1))
    return float(base * (0.8 + 0.4 * random.random()))


async def record_success(session: AsyncSession, server_id: int) -> None:
    await session.execute(
        text(
            "UPDATE trading_servers SET last_success_at = now(), last_attempt_at = now(), last_error = NULL, "
            "consecutive_failures = 0, next_attempt_at = NULL WHERE id = :id"
        ),
        {"id": server_id},
    )


async def record_failure(session: AsyncSession, server_id: int, error: str) -> datetime:
    """Count the failure and push next_attempt_at out; returns when the next attempt is due."""
    failures = await session.scalar(
        text(
            "UPDATE trading_servers SET consecutive_failures = consecutive_failures + 1, last_error = :err, "
            "last_attempt_at = now() WHERE id = :id RETURNING consecutive_failures"
        ),
        {"id": server_id, "err": error[:2000]},
    )
    due = utcnow() + timedelta(seconds=backoff_delay(int(failures or 1)))
    await session.execute(
        text("UPDATE trading_servers SET next_attempt_at = :due WHERE id = :id"), {"id": server_id, "due": due}
    )
    return due


async def server_status(session: AsyncSession, server_id: int) -> ServerStatus:
    found = await server_statuses(session, server_id=server_id)
    if not found:
        raise TradingServerNotFound(f"trading server {server_id} not found", field="id")
    return found[0]


async def server_statuses(session: AsyncSession, *, server_id: int | None = None,
                          server_ids: Sequence[int] | None = None) -> list[ServerStatus]:
    query = (
        select(TradingServer, IngestionCursor.time_ms)
        .outerjoin(IngestionCursor, IngestionCursor.server_id == TradingServer.id)
        .order_by(TradingServer.id)
    )
    if server_id is not None:
        query = query.where(TradingServer.id == server_id)
    if server_ids is not None:
        query = query.where(TradingServer.id.in_(list(server_ids)))
    rows = (await session.execute(query)).all()
    now = utcnow()
    return [
        ServerStatus(
            id=s.id, name=s.name, platform=s.platform, base_url=s.base_url, enabled=s.enabled,
            last_success_at=s.last_success_at, last_attempt_at=s.last_attempt_at, last_error=s.last_error,
            consecutive_failures=s.consecutive_failures, next_attempt_at=s.next_attempt_at,
            cursor_time=utc_from_ms(int(ms)) if ms else None,
            lag_seconds=(now - s.last_success_at).total_seconds() if s.last_success_at else None,
        )
        for s, ms in rows
    ]  # fmt: skip
