"""The gateway log: every request to and callback from a provider, redacted, by correlation id.

Outbound calls are logged in a transaction of their own so the record survives when the caller's
work later rolls back (what we sent to a provider happened either way).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.payments.redact import redact
from domain.shared.db import SessionFactory


async def write(session: AsyncSession, *, provider: str, direction: str, endpoint: str, request: Any,
                response: Any = None, status_code: int | None = None, payment_id: int | None = None,
                correlation_id: uuid.UUID | None = None) -> None:
    await session.execute(text(
        "INSERT INTO payment_gateway_logs (payment_id, correlation_id, provider, direction, endpoint, status_code, "
        "request, response) VALUES (:pid, :corr, :prov, :dir, :ep, :sc, CAST(:req AS jsonb), CAST(:resp AS jsonb))"),
        {"pid": payment_id, "corr": correlation_id, "prov": provider, "dir": direction, "ep": endpoint[:300],
         "sc": status_code, "req": orjson.dumps(redact(_jsonable(request))).decode(),
         "resp": orjson.dumps(redact(_jsonable(response))).decode()})


async def write_apart(factory: SessionFactory, **kwargs: Any) -> None:
    async with factory() as session, session.begin():
        await write(session, **kwargs)


def _jsonable(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, dict | list):
        return value
    return {"raw": str(value)[:10_000]}
