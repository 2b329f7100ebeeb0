"""Trading queries. Servers, instruments and the error queue are staff-only (trading.read);
an account, its deals and positions are visible to such staff and to the client who owns it, and
answer "not found" to anyone else."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from domain.shared.errors import NotFound
from domain.shared.pagination import check_page_size
from domain.trading import instruments, positions, queries, servers
from domain.trading.errors import TradingAccountNotFound, TradingServerNotFound
from domain.trading.models import DealRow, IngestionError
from schema.context import Context
from schema.errors import PublicError
from schema.pagination import Connection, to_connection
from schema.permissions import IsAuthenticated, Requires
from schema.trading.types import (
    DealFilter,
    DealType,
    IngestionErrorType,
    InstrumentType,
    PositionType,
    TradingAccountType,
    TradingServer,
)


def _id(value: strawberry.ID, exc: type[NotFound]) -> int:
    try:
        return int(value)
    except ValueError:
        raise exc("not found", field="id") from None


def _not_found(exc: NotFound) -> PublicError:
    # One answer for "absent" and "not yours", so existence never leaks.
    return PublicError("Trading account not found.", "NOT_FOUND")


def _deal_key(row: DealRow) -> tuple[datetime, int]:
    return row.time, row.deal_id


def _error_key(row: IngestionError) -> tuple[datetime, int]:
    return row.created_at, row.id


@strawberry.type
class TradingQueries:
    @strawberry.field(permission_classes=[Requires("trading.read")], description="Trading servers and feed health.")
    async def trading_servers(self, info: Info[Context, Any]) -> list[TradingServer]:
        async with info.context.session() as session:
            return [TradingServer.from_status(s) for s in await servers.server_statuses(session)]

    @strawberry.field(permission_classes=[Requires("trading.read")], description="Open ingestion errors, newest first.")
    async def ingestion_errors(
        self, info: Info[Context, Any], first: int | None = None, after: str | None = None
    ) -> Connection[IngestionErrorType]:
        size = check_page_size(first, info.context.settings.max_page_size)
        async with info.context.session() as session:
            page = await queries.list_ingestion_errors(session, first=size, after=after)
        return to_connection(page, IngestionErrorType.from_row, _error_key)

    @strawberry.field(permission_classes=[Requires("trading.read")], description="Symbols a server offers.")
    async def instruments(self, info: Info[Context, Any], server_id: strawberry.ID) -> list[InstrumentType]:
        sid = _id(server_id, TradingServerNotFound)
        async with info.context.session() as session:
            return [InstrumentType.from_row(i) for i in await instruments.list_instruments(session, sid)]

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def trading_account(self, info: Info[Context, Any], id: strawberry.ID) -> TradingAccountType:
        async with info.context.session() as session:
            try:
                account = await queries.visible_account(
                    session, info.context.actor, _id(id, TradingAccountNotFound))
            except TradingAccountNotFound as exc:
                raise _not_found(exc) from None
        return TradingAccountType.from_row(account)

    @strawberry.field(permission_classes=[IsAuthenticated], description="An account's deals, newest first.")
    async def deals(
        self, info: Info[Context, Any], account_id: strawberry.ID, filter: DealFilter | None = None,
        first: int | None = None, after: str | None = None,
    ) -> Connection[DealType]:
        size = check_page_size(first, info.context.settings.max_page_size)
        f = filter or DealFilter()
        async with info.context.session() as session:
            try:
                account = await queries.visible_account(
                    session, info.context.actor, _id(account_id, TradingAccountNotFound))
            except TradingAccountNotFound as exc:
                raise _not_found(exc) from None
            page = await queries.list_deals(
                session, account, first=size, after=after, symbol=f.symbol, start=f.from_time, end=f.to_time)
        return to_connection(page, DealType.from_row, _deal_key)

    @strawberry.field(permission_classes=[IsAuthenticated], description="An account's open positions.")
    async def positions(self, info: Info[Context, Any], account_id: strawberry.ID) -> list[PositionType]:
        async with info.context.session() as session:
            try:
                account = await queries.visible_account(
                    session, info.context.actor, _id(account_id, TradingAccountNotFound))
            except TradingAccountNotFound as exc:
                raise _not_found(exc) from None
            rows = await positions.positions_for_login(session, account.server_id, account.login)
        return [PositionType.from_row(p) for p in rows]


QUERIES = (TradingQueries,)
MUTATIONS = ()
SUBSCRIPTIONS = ()
