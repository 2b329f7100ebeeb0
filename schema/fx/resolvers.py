from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.fx import quotes, rates
from domain.ledger.errors import WalletNotFound
from schema.context import Context
from schema.errors import declares_errors, payload_or_errors
from schema.fx.types import ExchangeQuote, FxRate, QuoteExchangeInput, QuoteExchangePayload, RefreshFxRatesPayload
from schema.permissions import IsAuthenticated, Requires


@strawberry.type
class FxQueries:
    @strawberry.field(permission_classes=[IsAuthenticated],
                      description="The newest reference rates of the configured source (quotes derive crosses).")
    async def fx_rates(self, info: Info[Context, Any]) -> list[FxRate]:
        async with info.context.session() as session:
            return [FxRate.of(r) for r in await rates.latest_rates(session)]


@strawberry.type
class FxMutations:
    @declares_errors(
        "AMOUNT_PRECISION", "CURRENCY_MISMATCH", "FX_RATE_STALE", "INVALID_AMOUNT", "RATE_UNAVAILABLE",
        "UNKNOWN_CURRENCY", "WALLET_NOT_FOUND",
    )
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="A quote to exchange between two of your wallets: the rate (markup included), "
                                     "both amounts and when it expires. Accept it with exchange(quoteId).")
    async def quote_exchange(self, info: Info[Context, Any], input: QuoteExchangeInput) -> QuoteExchangePayload:
        ctx = info.context

        async def work() -> QuoteExchangePayload:
            owner = ctx.actor.user_id
            if owner is None:
                raise WalletNotFound("no such wallet", field="fromCurrency")

            async def txn(session: AsyncSession) -> quotes.Quote:
                return await quotes.create_quote(session, ctx.actor, user_id=owner, from_currency=input.from_currency,
                                                 to_currency=input.to_currency, amount=input.amount)

            return QuoteExchangePayload(quote=ExchangeQuote.of(await ctx.transaction(txn, grouped=True)))

        return await payload_or_errors(work, lambda errors: QuoteExchangePayload(errors=errors))

    @declares_errors("EXTERNAL_SERVICE_UNAVAILABLE", "FX_SOURCE_UNAVAILABLE", "FX_UNKNOWN_SOURCE")
    @strawberry.mutation(permission_classes=[Requires("config.manage")],
                         description="Staff: fetch the configured source's rates now and store them (audited).")
    async def refresh_fx_rates(self, info: Info[Context, Any]) -> RefreshFxRatesPayload:
        ctx = info.context

        async def work() -> RefreshFxRatesPayload:
            snapshot = await rates.refresh(ctx.services.session_factory, ctx.actor)
            return RefreshFxRatesPayload(source=snapshot.source, count=len(snapshot.rates), time=snapshot.time)

        return await payload_or_errors(work, lambda errors: RefreshFxRatesPayload(errors=errors))


QUERIES = (FxQueries,)
MUTATIONS = (FxMutations,)
SUBSCRIPTIONS = ()
