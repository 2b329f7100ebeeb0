"""Creating signed-in staff users for tests: created like `forexcrm create-staff`, 2FA enrolled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from domain.identity import roles as roles_service
from domain.identity.sessions import create_user
from domain.shared.actor import system_actor
from tests.conftest import GraphQLClient, unique
from tests.identity.helpers import PASSWORD, code_at, enrol_totp, login


@dataclass
class StaffLogin:
    user_id: int
    email: str
    client: GraphQLClient
    secret: str


async def make_staff(http: httpx.AsyncClient, session_factory: Any, settings: Any, roles: list[str],
                     *, enrol: bool = True, desk: str | None = None) -> StaffLogin:
    email = f"{unique('staff')}@broker.example"
    async with session_factory() as s, s.begin():
        user = await create_user(s, settings, system_actor("test"), email=email, password=PASSWORD, is_staff=True)
        user.desk = desk
        for role in roles:
            await roles_service.assign(s, system_actor("test"), user.id, role)
    anon = GraphQLClient(http)
    first = await login(anon, email)
    assert first["errors"] == [], first
    client = GraphQLClient(http, first["accessToken"])
    secret = ""
    if enrol:
        secret, _ = await enrol_totp(client)
        again = await login(anon, email, code=code_at(secret, 0))
        assert again["errors"] == [], again
        client = GraphQLClient(http, again["accessToken"])
    return StaffLogin(user.id, email, client, secret)
