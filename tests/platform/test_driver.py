"""db.driver(): hot-path statements on the raw asyncpg connection share the session's transaction."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from domain.shared.db import driver, in_transaction, is_retryable


async def test_driver_statements_roll_back_with_the_session(session_factory: Any) -> None:
    async with session_factory() as s, s.begin():
        await s.execute(text("CREATE TABLE IF NOT EXISTS driver_probe (v int)"))
    async with session_factory() as s:
        await s.begin()
        conn = await driver(s)  # first statement of the transaction: BEGIN must precede it
        await conn.execute("INSERT INTO driver_probe VALUES (1)")
        assert conn.is_in_transaction()
        await s.rollback()
    async with session_factory() as s, s.begin():
        assert await s.scalar(text("SELECT count(*) FROM driver_probe")) == 0
        await (await driver(s)).execute("INSERT INTO driver_probe VALUES (2)")
        assert await s.scalar(text("SELECT sum(v) FROM driver_probe")) == 2  # one transaction, both paths
    async with session_factory() as s, s.begin():
        assert await s.scalar(text("SELECT sum(v) FROM driver_probe")) == 2
        await s.execute(text("DROP TABLE driver_probe"))


async def test_driver_errors_are_retried_like_session_errors(session_factory: Any) -> None:
    attempts = 0

    async def deadlocking(session: Any) -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await (await driver(session)).execute(
                "DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = 'deadlock_detected'; END $$")
        return attempts

    assert await in_transaction(session_factory, deadlocking) == 2
    assert not is_retryable(asyncpg.UniqueViolationError("x"))
    with pytest.raises(asyncpg.UniqueViolationError):
        async def duplicate(session: Any) -> None:
            await (await driver(session)).execute(
                "DO $$ BEGIN RAISE EXCEPTION 'dup' USING ERRCODE = 'unique_violation'; END $$")
        await in_transaction(session_factory, duplicate)


async def test_application_connections_never_jit_compile(session_factory: Any) -> None:
    async with session_factory() as s:
        assert await s.scalar(text("SHOW jit")) == "off"
