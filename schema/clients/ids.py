"""One mapping between a client's id and its user's id (clients.user_id is unique): staff types
that carry one show the other too, resolved through these loaders (one query per request batch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.clients.models import Client
from schema.loaders import register_loader
from schema.node import REFERENCED_TYPES, key_of

USER_BY_CLIENT = "UserIdByClientIdLoader"
CLIENT_BY_USER = "ClientIdByUserIdLoader"


@register_loader(USER_BY_CLIENT)
async def _users(session: AsyncSession, keys: Sequence[int]) -> list[int | None]:
    found = dict((await session.execute(select(Client.id, Client.user_id).where(Client.id.in_(keys)))).all())
    return [found.get(k) for k in keys]


@register_loader(CLIENT_BY_USER)
async def _clients(session: AsyncSession, keys: Sequence[int]) -> list[int | None]:
    found = dict((await session.execute(select(Client.user_id, Client.id).where(Client.user_id.in_(keys)))).all())
    return [found.get(k) for k in keys]


# A client shows as any of these types; a client id argument takes the global id of each.
CLIENT_TYPES = REFERENCED_TYPES["clientId"]


def client_key(value: object, field: str = "clientId") -> int:
    return key_of(value, *CLIENT_TYPES, field=field)


async def user_id_of(info: Info[Any, Any], client_id: object) -> strawberry.ID | None:
    if client_id is None:
        return None
    found = await info.context.loaders.get(USER_BY_CLIENT).load(key_of(client_id, *CLIENT_TYPES))
    return strawberry.ID(str(found)) if found is not None else None


async def client_id_of(info: Info[Any, Any], user_id: object) -> strawberry.ID | None:
    if user_id is None:
        return None
    found = await info.context.loaders.get(CLIENT_BY_USER).load(int(str(user_id)))
    return strawberry.ID(str(found)) if found is not None else None
