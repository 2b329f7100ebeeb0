"""Givens for the staff-tool tests: clients made straight in the database (names, phones, desks,
trading logins), counted rows, and the audit of one entity."""

from __future__ import annotations

import random
import uuid
from typing import Any

from sqlalchemy import text

from domain.clients.models import Client
from domain.identity.sessions import create_user
from domain.shared.actor import system_actor
from domain.trading.servers import ServerConfig, upsert_server


async def make_client(session_factory: Any, settings: Any, *, first: str, last: str, phone: str | None = None,
                      desk: str | None = None, email: str | None = None,
                      status: str = "registered") -> tuple[int, int, str]:
    """(client id, user id, e-mail)."""
    email = email or f"{uuid.uuid4().hex[:10]}@clients.example"
    async with session_factory() as s, s.begin():
        user = await create_user(s, settings, system_actor("test"), email=email, password=None, is_client=True)
        client = Client(user_id=user.id, status=status, kind="individual", desk=desk, first_name=first,
                        last_name=last, profile={"phone": phone} if phone else {}, attribution={},
                        blocked_products=[], review_round=0)
        s.add(client)
        await s.flush()
        return int(client.id), int(user.id), email


async def give_login(session_factory: Any, settings: Any, user_id: int) -> int:
    from domain.trading.accounts import AccountSpec, register_accounts

    login = random.randint(10_000_000, 99_999_999)
    async with session_factory() as s, s.begin():
        server_id = await upsert_server(s, settings.secret_key.get_secret_value(), ServerConfig(
            f"search-{uuid.uuid4().hex[:8]}", "http://127.0.0.1:9", 1000, "pw"))
        await register_accounts(s, server_id, [AccountSpec(login, "real\\standard", 100, "USD", user_id=user_id)])
    return login


async def audit_of(session_factory: Any, entity_type: str, entity_id: int) -> list[dict[str, Any]]:
    async with session_factory() as s:
        rows = await s.execute(text(
            "SELECT action, actor_user_id, before, after, reason FROM audit_events "
            "WHERE entity_type = :t AND entity_id = :i ORDER BY id"), {"t": entity_type, "i": str(entity_id)})
        return [dict(r._mapping) for r in rows]


async def scalar(session_factory: Any, sql: str, **params: Any) -> Any:
    async with session_factory() as s:
        return await s.scalar(text(sql), params)
