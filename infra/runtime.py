"""Opening and closing the process-wide services, failing fast with a message naming what is wrong."""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.events.hub import EventHub
from domain.identity.principal_cache import PrincipalCache
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory
from domain.shared.group_commit import GroupCommit
from domain.shared.replica import ReadReplica
from domain.shared.settings import Settings
from domain.trusted_documents.lookup import DocumentLookup
from infra.services import AppServices


class ServiceUnreachable(RuntimeError):
    pass


def _redacted(url: str) -> str:
    """The URL without its password, safe for error messages and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"
    return url


def redis_client(url: str, settings: Settings) -> Redis:
    client: Redis = Redis.from_url(
        url, socket_connect_timeout=settings.redis_connect_timeout_s, health_check_interval=30
    )
    return client


async def check_database(engine: AsyncEngine, url: str, timeout_s: float) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnreachable(f"PostgreSQL is unreachable at {_redacted(url)}: {exc or type(exc).__name__}") from exc


async def check_redis(redis: Redis, url: str, timeout_s: float) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            await redis.ping()
    except Exception as exc:
        raise ServiceUnreachable(f"Redis is unreachable at {_redacted(url)}: {exc or type(exc).__name__}") from exc


@dataclass
class Runtime:
    services: AppServices
    engine: AsyncEngine

    async def close(self) -> None:
        if self.services.principals is not None:
            await self.services.principals.close()
        await self.services.hub.stop()
        await self.services.redis.aclose()
        if self.services.replica is not None:
            await self.services.replica.close()
        await self.engine.dispose()


async def open_runtime(settings: Settings, database_url: str, redis_url: str, *, start_hub: bool = True,
                       check_role: bool = True, register_platforms: bool = True) -> Runtime:
    from api.dbroles import enforce_runtime_role

    engine = create_engine(database_url, settings)
    redis = redis_client(redis_url, settings)
    try:
        await check_database(engine, database_url, settings.db_connect_timeout_s + 1)
        await check_redis(redis, redis_url, settings.redis_connect_timeout_s + 1)
        if check_role:  # the API and workers; not `migrate`'s reachability probe
            await enforce_runtime_role(settings, engine)
    except BaseException:
        await redis.aclose()
        await engine.dispose()
        raise
    hub = EventHub(redis=redis, channel_prefix=settings.channel_prefix, queue_size=settings.subscriber_queue_size)
    if start_hub:
        await hub.start()
    factory = create_session_factory(engine)
    principals = None
    if start_hub and settings.principal_cache_ttl_s > 0:  # processes serving requests (workers start no hub)
        listen_url = settings.principal_listen_url or database_url
        principals = PrincipalCache(asyncpg_dsn(listen_url), settings.principal_cache_ttl_s)
        await principals.start()
    services = AppServices(settings=settings, session_factory=factory, redis=redis, hub=hub,
                           group_commit=GroupCommit(factory), principals=principals,
                           trusted_documents=DocumentLookup(factory, ttl_s=settings.trusted_document_cache_s),
                           replica=ReadReplica(settings.read_replica_url, settings, engine)
                           if settings.read_replica_url else None)
    if register_platforms:  # not the CLI's reachability probe, which may run before migrations
        await _register_platforms(services)
    return Runtime(services=services, engine=engine)


async def _register_platforms(services: AppServices) -> None:
    """Adapters for the configured trading servers (a fresh database has none yet: fine)."""
    import structlog

    from domain.trading.directory import refresh_platforms

    try:
        await refresh_platforms(services.session_factory, services.settings.secret_key.get_secret_value())
    except Exception as exc:  # e.g. before migrations: the worker's cron refreshes later
        structlog.get_logger(__name__).warning("platforms.refresh_failed", error=str(exc))


# The young generation is collected every GC_THRESHOLDS[0] net allocations (CPython's default 700
# made collections a sixth of a small mutation's CPU); the older ones proportionally less often.
# Requests leave cyclic garbage behind, so the collections' total cost is about the same from 10,000
# to 50,000; at 50,000 each one paused the loop for 15-25 ms, which was most of the small query's
# p99 (38 ms against 25 ms at 10,000, same run; the exchange mutation 6% faster too).
GC_THRESHOLDS = (10_000, 20, 100)


def freeze_heap() -> None:
    """After start-up: move the long-lived objects (schema, ORM mappings, pools) out of the garbage
    collector's reach, or every full collection re-walks them. In the API this was about a third of
    a small mutation's CPU (bench/scenarios/wallet_transfers.py)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
