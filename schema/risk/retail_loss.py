"""The retail-client loss percentage (domain/risk/retail_loss.py): public, as the risk warning on the
broker's website and portals must show it; staff with risk.manage may compute a quarter again."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.risk import retail_loss
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.permissions import Requires

Ctx = Info[Context, Any]


@strawberry.type(description="The share of retail accounts that lost money trading over the 12 months before a "
                             "quarter began (ESMA's CFD risk warning), computed at the quarter's start.")
class RetailLossPercentage:
    quarter_start: dt.date
    period_from: dt.datetime
    period_to: dt.datetime = strawberry.field(description="Exclusive: the quarter's first instant.")
    retail_accounts: int = strawberry.field(description="Real accounts of individual clients that traded.")
    losing_accounts: int = strawberry.field(description="Of those, the ones whose result net of costs was negative.")
    loss_percentage: Decimal | None = strawberry.field(
        description="losingAccounts / retailAccounts in percent, two places; null when no account traded.")
    computed_at: dt.datetime

    @classmethod
    def of(cls, f: retail_loss.QuarterFigure) -> RetailLossPercentage:
        return cls(quarter_start=f.quarter_start, period_from=f.period_from, period_to=f.period_to,
                   retail_accounts=f.retail_accounts, losing_accounts=f.losing_accounts,
                   loss_percentage=f.loss_percentage, computed_at=f.computed_at)


@strawberry.type
class RetailLossQueries:
    @strawberry.field(description="Public: the retail-client loss percentage in force on `asOf` (default: the "
                                  "latest quarter computed); null before any quarter is.")
    async def retail_loss_percentage(self, info: Ctx, as_of: dt.date | None = None) -> RetailLossPercentage | None:
        async with info.context.read() as session:
            figure = await retail_loss.published(session, as_of)
        return None if figure is None else RetailLossPercentage.of(figure)


@strawberry.type
class RetailLossPayload:
    figure: RetailLossPercentage | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RetailLossMutations:
    @declares_errors("VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("risk.manage")],
                         description="Compute a quarter's retail-client loss percentage again (the quarterly job "
                                     "computes each quarter once); `quarter` is its first day. Audited.")
    async def compute_retail_loss_percentage(self, info: Ctx, quarter: dt.date) -> RetailLossPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> RetailLossPayload:
            return RetailLossPayload(figure=RetailLossPercentage.of(
                await retail_loss.compute(session, ctx.actor, quarter)))

        return await payload_or_errors(lambda: ctx.transaction(txn), lambda e: RetailLossPayload(errors=e))
