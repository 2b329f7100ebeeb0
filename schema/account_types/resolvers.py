from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.clients import account_types, accounts
from domain.clients.access import own_client
from domain.shared.actor import ActorKind
from domain.trading.models import TradingAccount
from schema.account_types.types import AccountTypeInput, AccountTypeOffer, AccountTypePayload, OpenMyLiveAccountInput
from schema.clients.types import LiveAccount, LiveAccountPayload
from schema.context import Context
from schema.errors import declares_errors, payload_or_errors
from schema.permissions import IsAuthenticated, Requires

Ctx = Info[Context, Any]


def _is_config_staff(ctx: Context) -> bool:
    return ctx.actor.kind is ActorKind.STAFF and ctx.actor.has("config.manage")


@strawberry.type
class AccountTypeQueries:
    @strawberry.field(permission_classes=[IsAuthenticated],
                      description="Account types you may open (staff with config.manage also see disabled ones).")
    async def account_types(self, info: Ctx) -> list[AccountTypeOffer]:
        staff = _is_config_staff(info.context)
        async with info.context.session() as session:
            rows = await account_types.list_account_types(session, offered_only=not staff)
        return [AccountTypeOffer.of(r, staff=staff) for r in rows]


async def _save(ctx: Context, fn: Any) -> AccountTypePayload:
    async def work() -> AccountTypePayload:
        async def txn(session: AsyncSession) -> AccountTypePayload:
            return AccountTypePayload(account_type=AccountTypeOffer.of(await fn(session), staff=True))

        return await ctx.transaction(txn)

    return await payload_or_errors(work, lambda e: AccountTypePayload(errors=e))


@strawberry.type
class AccountTypeMutations:
    @declares_errors(
        "ACCOUNT_TYPE_EXISTS", "AMOUNT_PRECISION", "INVALID_AMOUNT", "INVALID_BROKERAGE_CONFIGURATION",
        "UNKNOWN_CURRENCY",
    )
    @strawberry.mutation(permission_classes=[Requires("config.manage")],
                         description="Staff: create an account type clients may open (audited).")
    async def create_account_type(self, info: Ctx, input: AccountTypeInput) -> AccountTypePayload:
        ctx = info.context
        return await _save(ctx, lambda s: account_types.create_account_type(s, ctx.actor, input.spec()))

    @declares_errors(
        "ACCOUNT_TYPE_NOT_FOUND", "AMOUNT_PRECISION", "INVALID_AMOUNT", "INVALID_BROKERAGE_CONFIGURATION",
        "UNKNOWN_CURRENCY",
    )
    @strawberry.mutation(permission_classes=[Requires("config.manage")],
                         description="Staff: change an account type (by code; audited). Accounts already open keep "
                                     "their group and leverage.")
    async def update_account_type(self, info: Ctx, input: AccountTypeInput) -> AccountTypePayload:
        ctx = info.context
        return await _save(ctx, lambda s: account_types.update_account_type(s, ctx.actor, input.spec()))

    @declares_errors("ACCOUNT_TYPE_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires("config.manage")],
                         description="Staff: stop (or resume) offering an account type (audited).")
    async def set_account_type_enabled(self, info: Ctx, code: str, enabled: bool) -> AccountTypePayload:
        ctx = info.context
        return await _save(ctx, lambda s: account_types.set_account_type_enabled(s, ctx.actor, code, enabled))

    @declares_errors(
        "ACCOUNT_CURRENCY_NOT_OFFERED", "ACCOUNT_TYPE_NOT_FOUND", "CONFLICT", "INVALID_STATUS_TRANSITION",
        "LEVERAGE_ABOVE_CAP", "NOT_FOUND", "NO_GROUP_MAPPING", "TRADING_UNKNOWN_PLATFORM", "UNKNOWN_CURRENCY",
    )
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Open a live trading account of an offered type in one of its currencies "
                                     "(approved clients; idempotent per key).")
    async def open_my_live_account(self, info: Ctx, input: OpenMyLiveAccountInput) -> LiveAccountPayload:
        ctx = info.context

        async def work() -> LiveAccountPayload:
            async with ctx.session() as session:
                client_id = (await own_client(session, ctx.actor)).id
            request = await accounts.open_live_account(
                ctx.services.session_factory, ctx.settings, ctx.actor, client_id,
                idempotency_key="client:" + input.idempotency_key.strip()[:60], leverage=input.leverage,
                account_type=input.account_type, currency=input.currency)
            async with ctx.session() as session:
                row = await session.get(TradingAccount, request.trading_account_id) \
                    if request.trading_account_id else None
            return LiveAccountPayload(account=LiveAccount.from_row(row) if row else None, status=request.status)

        return await payload_or_errors(work, lambda e: LiveAccountPayload(errors=e))


QUERIES = (AccountTypeQueries,)
MUTATIONS = (AccountTypeMutations,)
SUBSCRIPTIONS = ()
