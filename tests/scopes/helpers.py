"""Shared steps for the scope tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

# Reading a token or a session stamps a time on its row: those tables are compared by count only.
STAMPED = {"api_tokens", "auth_sessions"}


async def table_state(session_factory: Any) -> dict[str, str]:
    """Every table's row count and a digest of its rows: a refused operation leaves it unchanged."""
    out = {}
    async with session_factory() as s:
        tables = (await s.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"))).scalars().all()
        for table in tables:
            if table in STAMPED:
                out[table] = str(await s.scalar(text(f'SELECT count(*) FROM "{table}"')))
            else:
                out[table] = str(await s.scalar(text(
                    f"SELECT count(*) || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) "
                    f'FROM "{table}" t')))
    return out
