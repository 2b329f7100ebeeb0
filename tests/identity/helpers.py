"""Shared steps for identity tests: register, sign in, enrol 2FA, read rows."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pyotp
from sqlalchemy import func, select, text

from domain.events.outbox import OutboxEvent
from tests.conftest import GraphQLClient, unique

PASSWORD = "correct horse battery staple 42"

LOGIN = """mutation($i: LoginInput!) { login(input: $i) {
  accessToken refreshToken expiresIn viewer { id email permissions isStaff twoFactorEnabled }
  errors { field message code } } }"""
REGISTER = """mutation($i: RegisterInput!) { register(input: $i) {
  accessToken refreshToken viewer { id email } errors { field message code } } }"""


async def register(gql: GraphQLClient, email: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
    email = email or f"{unique('client')}@example.com"
    body = await gql(REGISTER, {"i": {"email": email, "password": password, "displayName": "Test Client"}})
    payload: dict[str, Any] = body["data"]["register"]
    assert payload["errors"] == [], payload
    payload["email"] = email
    return payload


async def login(gql: GraphQLClient, email: str, password: str = PASSWORD, code: str | None = None) -> dict[str, Any]:
    body = await gql(LOGIN, {"i": {"email": email, "password": password, "totpCode": code, "device": "pytest"}})
    result: dict[str, Any] = body["data"]["login"]
    return result


def code_at(secret: str, offset_steps: int) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


async def enrol_totp(client: GraphQLClient) -> tuple[str, list[str]]:
    """Enrols with the previous step's code, leaving the current and next steps for the test.

    Starts clear of a 30 s step edge: a step change between computing a code and the server checking
    it would move the previous step out of the +/-1 window on a slow machine.
    """
    remaining = 30 - time.time() % 30
    if remaining < 5:
        await asyncio.sleep(remaining + 0.2)
    started = (await client("mutation { startTotpEnrollment { secret provisioningUri errors { code } } }"))
    secret = started["data"]["startTotpEnrollment"]["secret"]
    assert started["data"]["startTotpEnrollment"]["provisioningUri"].startswith("otpauth://totp/")
    confirmed = await client("mutation($c: String!) { confirmTotpEnrollment(code: $c) { recoveryCodes errors { code } } }",
                             {"c": code_at(secret, -1)})
    codes = confirmed["data"]["confirmTotpEnrollment"]["recoveryCodes"]
    assert codes and len(codes) == 10, confirmed
    return secret, codes


async def count(session_factory: Any, table: str, where: str = "true", **params: Any) -> int:
    async with session_factory() as s:
        return int(await s.scalar(text(f"SELECT count(*) FROM {table} WHERE {where}"), params) or 0)


async def outbox_for(session_factory: Any, topic: str) -> list[dict[str, Any]]:
    async with session_factory() as s:
        rows = await s.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic).order_by(OutboxEvent.id))
        return [r.payload for r in rows]


async def max_id(session_factory: Any, table: str) -> int:
    async with session_factory() as s:
        return int(await s.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table}")) or 0)


__all__ = ["PASSWORD", "code_at", "count", "enrol_totp", "func", "login", "max_id", "outbox_for", "register"]
