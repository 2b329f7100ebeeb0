"""Keyset pages over (created_at, id), newest first, for the client context's lists."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from domain.shared.pagination import Page, decode_cursor

T = TypeVar("T")


async def newest_first(session: AsyncSession, stmt: Select[T], created: InstrumentedAttribute[Any],
                       ident: InstrumentedAttribute[Any], *, first: int, after: str | None) -> Page[T]:
    if after:
        when, row_id = decode_cursor(after)
        stmt = stmt.where(tuple_(created, ident) < tuple_(when, row_id))
    rows = list(await session.scalars(stmt.order_by(created.desc(), ident.desc()).limit(first + 1)))
    return Page(rows[:first], len(rows) > first)
