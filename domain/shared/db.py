"""Database plumbing: declarative base, async engine and session factory.

The transaction boundary belongs to the caller (a mutation or a job): services receive an
`AsyncSession` and never commit it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from domain.shared.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


SessionFactory = async_sessionmaker[AsyncSession]
T = TypeVar("T")
TxnFn = Callable[[AsyncSession], Awaitable[T]]


def normalise_database_url(url: str) -> str:
    """Accept the usual `postgres://` / `postgresql://` forms and select the asyncpg driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def asyncpg_dsn(url: str) -> str:
    """The same URL in the form asyncpg.connect() accepts (no SQLAlchemy driver suffix)."""
    return normalise_database_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


def create_engine(url: str, settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    return create_async_engine(
        normalise_database_url(url),
        pool_size=pool_size if pool_size is not None else settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        pool_pre_ping=True,
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            "server_settings": {"application_name": "forexcrm", "timezone": "UTC"},
        },
    )


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def utcnow() -> datetime:
    return datetime.now(UTC)


# SQLSTATEs worth retrying: serialization_failure, deadlock_detected.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def is_retryable(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    return code in RETRYABLE_SQLSTATES


async def in_transaction(factory: SessionFactory, fn: TxnFn[T], *, retries: int = 4) -> T:
    """Run `fn(session)` in one transaction, retrying serialization failures and deadlocks.

    The whole function re-runs on a retry, so it must not have side effects outside the session.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            async with factory() as session, session.begin():
                return await fn(session)
        except Exception as exc:
            if attempt > retries or not is_retryable(exc):
                raise
            await asyncio.sleep(0.005 * 2**attempt * (0.5 + random.random()))  # jittered backoff
