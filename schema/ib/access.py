"""Who may use the IB portal fields, and the partner read wrapper (shared by the IB resolvers)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.ib import portal
from domain.ib.errors import IbNotFound
from domain.identity import ratelimit
from domain.shared.actor import ActorKind
from domain.shared.errors import DomainError
from schema.context import Context
from schema.errors import PublicError
from schema.node import referenced_key
from schema.permissions import Declared

Ctx = Info[Context, Any]
T = TypeVar("T")
TREE_SCOPE = "ib.tree.read"
# Partner tokens are for integrations polling a tree, not for scraping: per token, per minute.
TOKEN_REQUESTS_PER_MINUTE = 120


class IsIbPartner(Declared):
    """An approved IB signed in, or its API token carrying the ib.tree.read scope."""

    token_scopes = frozenset({TREE_SCOPE})
    message = "Only IBs, or their API tokens with the ib.tree.read scope, may do this."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Ctx, **kwargs: Any) -> bool:
        if not info.context.actor.is_authenticated:
            raise PublicError("You must be signed in.", "UNAUTHENTICATED")
        return is_partner(info.context)


def _id(value: strawberry.ID | str | None, exc: type[DomainError], field: str) -> int:
    """A bare database id, or a client's global id; anything else is not found."""
    return referenced_key(value, exc, field)


def is_partner(ctx: Context) -> bool:
    """The caller acts as an IB partner: signed in as an IB, or its token carries ib.tree.read (as IsIbPartner)."""
    actor = ctx.actor
    if actor.kind is ActorKind.API_TOKEN:
        return TREE_SCOPE in actor.scopes
    return actor.kind is ActorKind.IB


async def _limit(ctx: Context) -> None:
    actor = ctx.actor
    if actor.kind is ActorKind.API_TOKEN:
        await ratelimit.hit(ctx.services.redis, ctx.settings.redis_namespace, "ib.partner_token", str(actor.token_id),
                            limit=TOKEN_REQUESTS_PER_MINUTE, window_s=60, now_s=int(time.time()))


async def partner_of(ctx: Context) -> portal.Partner | None:
    """For node loaders: the approved IB the caller reads as, or None when the caller is not one. (`node` is
    not open to API tokens today; were it opened, a partner token's reads would count against its limit.)"""
    if not is_partner(ctx):
        return None
    await _limit(ctx)
    async with ctx.session() as session:
        try:
            return await portal.partner(session, ctx.actor.user_id)
        except IbNotFound:
            return None


async def partner_id(ctx: Context) -> int | None:
    """`partner_of`'s IB id."""
    found = await partner_of(ctx)
    return None if found is None else found.ib_id


async def _read(info: Ctx, fn: Callable[[AsyncSession, portal.Partner], Awaitable[T]]) -> T:
    """Run a partner read for the caller's own IB (rate-limited for tokens)."""
    ctx = info.context
    actor = ctx.actor
    await _limit(ctx)
    async with ctx.session() as session:
        p = await portal.partner(session, actor.user_id)
        return await fn(session, p)


class IsSignedInIb(Declared):
    """An IB acting itself (API tokens read, they do not open cases: no token scopes)."""

    message = "Only a signed-in IB may do this."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Ctx, **kwargs: Any) -> bool:
        actor = info.context.actor
        if not actor.is_authenticated:
            raise PublicError("You must be signed in.", "UNAUTHENTICATED")
        return actor.kind is ActorKind.IB
