"""Trading queries. Servers, instruments and the error queue are staff-only (trading.read);
an account, its deals and positions are visible to such staff, to the client who owns it and to that
client's IB (within its visible depth), and answer "not found" to anyone else. Staff with
trading.manage configure servers and resolve ingestion errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.events.hub import Event
from domain.platforms import registry as platform_registry
from domain.shared.actor import ActorKind
from domain.shared.errors import NotFound
from domain.shared.pagination import decode_id_cursor
from domain.trading import admin, instruments, margin_alerts, positions, queries, servers
from domain.trading.directory import refresh_platforms
from domain.trading.errors import TradingAccountNotFound
from domain.trading.live import TOPIC_ACCOUNT_STATE
from domain.trading.models import IngestionError, TradingAccount
from schema.context import Context
from schema.errors import PublicError, declares_errors, payload_or_errors
from schema.events import converted
from schema.node import AnyId, key_of, node_type, query_key
from schema.pagination import Connection, empty_connection, page_request, to_connection
from schema.permissions import IsAuthenticated, Requires
from schema.trading.types import (
    DealFilter,
    DealType,
    IngestionErrorPayload,
    IngestionErrorType,
    InstrumentType,
    MarginAlertLevels,
    MarginAlertLevelsPayload,
    PositionType,
    TradingAccountStateUpdate,
    TradingAccountType,
    TradingServer,
    TradingServerInput,
    TradingServerPayload,
)

log = logging.getLogger(__name__)


def _reads_trading(ctx: Context) -> bool:
    return ctx.actor.kind is ActorKind.STAFF and ctx.actor.has("trading.read")


@node_type("TradingServer")
async def _server_nodes(ctx: Context, keys: Sequence[int]) -> list[TradingServer | None]:
    """As tradingServers: staff with trading.read."""
    if not _reads_trading(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = {s.id: s for s in await servers.server_statuses(session, server_ids=keys)}
    return [TradingServer.from_status(s) if (s := found.get(k)) else None for k in keys]


@node_type("IngestionError")
async def _ingestion_error_nodes(ctx: Context, keys: Sequence[int]) -> list[IngestionErrorType | None]:
    """As ingestionErrors (staff with trading.read), resolved ones too (resolveIngestionError returns them)."""
    if not _reads_trading(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = {e.id: e for e in await session.scalars(select(IngestionError).where(IngestionError.id.in_(keys)))}
    return [IngestionErrorType.from_row(e) if (e := found.get(k)) else None for k in keys]


@node_type("TradingAccount")
async def _account_nodes(ctx: Context, keys: Sequence[int]) -> list[TradingAccountType | None]:
    """As tradingAccount: the owner, staff with trading.read who may see the client, the client's IB."""
    async with ctx.session() as session:
        rows = {a.id: a for a in await session.scalars(select(TradingAccount).where(TradingAccount.id.in_(keys)))}
        out: list[TradingAccountType | None] = []
        for k in keys:
            a = rows.get(k)
            visible = a is not None and await queries.visible_to(session, ctx.actor, a)
            out.append(TradingAccountType.from_row(a) if a is not None and visible else None)
        return out


def _account(value: strawberry.ID) -> int:
    return query_key(value, "TradingAccount")


def _not_found(exc: NotFound) -> PublicError:
    # One answer for "absent" and "not yours", so existence never leaks.
    return PublicError("Trading account not found.", "NOT_FOUND")


def _deal_key(row: asyncpg.Record) -> tuple[datetime, int]:
    return row["time"], row["deal_id"]


def _error_key(row: IngestionError) -> tuple[datetime, int]:
    return row.created_at, row.id


@strawberry.type
class TradingQueries:
    @strawberry.field(permission_classes=[Requires("trading.read")], description="Trading servers and feed health.")
    async def trading_servers(self, info: Info[Context, Any]) -> list[TradingServer]:
        async with info.context.session() as session:
            return [TradingServer.from_status(s) for s in await servers.server_statuses(session)]

    @strawberry.field(permission_classes=[Requires("trading.read")],
                      description="Trading platforms a server may name (each registered by its adapter package).")
    def trading_platforms(self) -> list[str]:
        return platform_registry.names()

    @strawberry.field(permission_classes=[Requires("trading.read")], description="Open ingestion errors, newest first.")
    async def ingestion_errors(
        self, info: Info[Context, Any], first: int | None = None,
        after: str | None = None, last: int | None = None, before: str | None = None
    ) -> Connection[IngestionErrorType]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await queries.list_ingestion_errors(session, page=req)
        return to_connection(page, IngestionErrorType.from_row, _error_key)

    @strawberry.field(permission_classes=[Requires("trading.read")], description="Symbols a server offers.")
    async def instruments(self, info: Info[Context, Any], server_id: AnyId) -> list[InstrumentType]:
        sid = query_key(server_id, "TradingServer", field="serverId")
        async with info.context.session() as session:
            return [InstrumentType.from_row(i) for i in await instruments.list_instruments(session, sid)]

    @strawberry.field(permission_classes=[Requires("trading.read")],
                      description="A server's margin alert levels (the defaults, 100 and 50, until staff set them).")
    async def margin_alert_levels(self, info: Info[Context, Any], server_id: AnyId) -> MarginAlertLevels:
        sid = query_key(server_id, "TradingServer", field="serverId")
        async with info.context.session() as session:
            await servers.get_server(session, sid)  # TRADING_SERVER_NOT_FOUND
            lv = await margin_alerts.levels_of(session, sid)
        return MarginAlertLevels.of(sid, lv.warning, lv.stop_out)

    @strawberry.field(permission_classes=[IsAuthenticated.or_token("profile.read")])
    async def trading_account(self, info: Info[Context, Any], id: AnyId) -> TradingAccountType:
        async with info.context.session() as session:
            try:
                account = await queries.visible_account(
                    session, info.context.actor, _account(id))
            except TradingAccountNotFound as exc:
                raise _not_found(exc) from None
        return TradingAccountType.from_row(account)

    @strawberry.field(permission_classes=[IsAuthenticated.or_token("profile.read")],
                      description="The caller's own trading accounts, oldest first.")
    async def my_trading_accounts(self, info: Info[Context, Any], first: int | None = None,
                                  after: str | None = None, last: int | None = None,
                                  before: str | None = None) -> Connection[TradingAccountType]:
        req = page_request(info, first, after, last, before)
        user_id = info.context.actor.user_id
        if user_id is None:
            return empty_connection()
        async with info.context.raw_read() as conn:
            page = await queries.accounts_of(conn, user_id, req)
        return to_connection(page, TradingAccountType.from_record, lambda a: (a["created_at"], a["id"]))

    @strawberry.field(permission_classes=[IsAuthenticated.or_token("profile.read")],
                      description="An account's deals, newest first.")
    async def deals(
        self, info: Info[Context, Any], account_id: AnyId, filter: DealFilter | None = None,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[DealType]:
        req = page_request(info, first, after, last, before)
        f = filter or DealFilter()
        ctx, key = info.context, _account(account_id)
        async with ctx.raw_read() as conn:
            page = await queries.own_deals(conn, ctx.actor, key, req, symbol=f.symbol, start=f.from_time,
                                           end=f.to_time)
        if page is None:  # not the caller's own: staff and IB visibility rules
            async with ctx.read() as session:
                try:
                    account = await queries.visible_account(session, ctx.actor, key)
                except TradingAccountNotFound as exc:
                    raise _not_found(exc) from None
                page = await queries.list_deals(session, account, page=req, symbol=f.symbol, start=f.from_time,
                                                end=f.to_time)
        return to_connection(page, DealType.from_record, _deal_key)

    @strawberry.field(permission_classes=[IsAuthenticated.or_token("profile.read")],
                      description="An account's open positions in ticket order.")
    async def positions(self, info: Info[Context, Any], account_id: AnyId, first: int | None = None,
                        after: str | None = None, last: int | None = None,
                        before: str | None = None) -> Connection[PositionType]:
        req = page_request(info, first, after, last, before, decode=decode_id_cursor)
        async with info.context.session() as session:
            try:
                account = await queries.visible_account(
                    session, info.context.actor, _account(account_id))
            except TradingAccountNotFound as exc:
                raise _not_found(exc) from None
            page = await positions.positions_for_login(session, account.server_id, account.login, req)
        return to_connection(page, PositionType.from_row, lambda p: (p.position_id,))


async def _refresh(ctx: Context) -> None:
    """Make a changed server usable (or unusable) by ledger transfers and live state right away."""
    try:
        await refresh_platforms(ctx.services.session_factory, ctx.settings.secret_key.get_secret_value())
    except Exception:  # the periodic refresh job will catch up
        log.exception("refreshing trading platforms failed")


async def _server(session: AsyncSession, server_id: int) -> TradingServer:
    return TradingServer.from_status(await servers.server_status(session, server_id))


@strawberry.type
class TradingMutations:
    @declares_errors(
        "TRADING_INVALID_SERVER", "TRADING_INVALID_SYMBOL_MAPPING", "TRADING_SERVER_AUTH_FAILED",
        "TRADING_SERVER_NOT_FOUND", "TRADING_SERVER_UNREACHABLE", "TRADING_UNKNOWN_PLATFORM",
    )
    @strawberry.mutation(permission_classes=[Requires("trading.manage")],
                         description="Create or update (by name) a trading server; the password is never returned.")
    async def upsert_trading_server(self, info: Info[Context, Any], input: TradingServerInput) -> TradingServerPayload:
        ctx = info.context
        config = input.to_config()

        async def work() -> TradingServerPayload:
            await admin.verify_credentials(config)  # before the transaction: a wrong password saves nothing

            async def txn(session: AsyncSession) -> TradingServerPayload:
                sid = await admin.save_server(session, ctx.actor, ctx.settings.secret_key.get_secret_value(), config)
                return TradingServerPayload(trading_server=await _server(session, sid))

            done = await ctx.transaction(txn)
            await _refresh(ctx)
            return done

        return await payload_or_errors(work, lambda e: TradingServerPayload(errors=e))

    @declares_errors("INVALID_ID", "NOT_FOUND", "TRADING_SERVER_NOT_FOUND", "TRADING_UNKNOWN_PLATFORM")
    @strawberry.mutation(permission_classes=[Requires("trading.manage")],
                         description="Enable or disable a trading server (its deal feed and platform calls).")
    async def set_trading_server_enabled(
        self, info: Info[Context, Any], id: AnyId, enabled: bool
    ) -> TradingServerPayload:
        ctx = info.context

        async def work() -> TradingServerPayload:
            sid = key_of(id, "TradingServer")

            async def txn(session: AsyncSession) -> TradingServerPayload:
                await admin.set_server_enabled(session, ctx.actor, sid, enabled)
                return TradingServerPayload(trading_server=await _server(session, sid))

            done = await ctx.transaction(txn)
            await _refresh(ctx)
            return done

        return await payload_or_errors(work, lambda e: TradingServerPayload(errors=e))

    @declares_errors(
        "INVALID_ID", "NOT_FOUND", "TRADING_INGESTION_ERROR_NOT_FOUND", "TRADING_INGESTION_ERROR_RESOLVED",
        "TRADING_INVALID_SERVER",
    )
    @strawberry.mutation(permission_classes=[Requires("trading.manage")],
                         description="Mark an ingestion error resolved, with a note kept in the audit trail.")
    async def resolve_ingestion_error(
        self, info: Info[Context, Any], id: AnyId, note: str
    ) -> IngestionErrorPayload:
        ctx = info.context

        async def work() -> IngestionErrorPayload:
            eid = key_of(id, "IngestionError")

            async def txn(session: AsyncSession) -> IngestionErrorPayload:
                row = await admin.resolve_error(session, ctx.actor, eid, note)
                return IngestionErrorPayload(ingestion_error=IngestionErrorType.from_row(row))

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: IngestionErrorPayload(errors=e))

    @declares_errors("INVALID_ID", "NOT_FOUND", "TRADING_INVALID_MARGIN_LEVELS", "TRADING_SERVER_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires("trading.manage")],
                         description="Set a server's margin alert levels (percent): its clients are notified when "
                                     "their margin level falls below the warning level and below the stop-out level "
                                     "(which must be lower). Audited.")
    async def set_margin_alert_levels(
        self, info: Info[Context, Any], server_id: AnyId, warning_level: Decimal, stop_out_level: Decimal
    ) -> MarginAlertLevelsPayload:
        ctx = info.context

        async def work() -> MarginAlertLevelsPayload:
            sid = key_of(server_id, "TradingServer", field="serverId")

            async def txn(session: AsyncSession) -> MarginAlertLevelsPayload:
                lv = await margin_alerts.set_levels(session, ctx.actor, sid, warning=warning_level,
                                                    stop_out=stop_out_level)
                return MarginAlertLevelsPayload(margin_alert_levels=MarginAlertLevels.of(sid, lv.warning, lv.stop_out))

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: MarginAlertLevelsPayload(errors=e))


def _state_update(event: Event) -> TradingAccountStateUpdate:
    return TradingAccountStateUpdate.from_event(event.payload)


@strawberry.type
class TradingSubscriptions:
    @strawberry.subscription(
        permission_classes=[IsAuthenticated.or_token("profile.read")],
        description="Your trading accounts' balance, equity and margin as the trading server changes them: sent "
                    "when deals of one of your accounts (trades, balance operations) are stored, a few seconds "
                    "after they happen. Only your own accounts.")
    async def trading_account_state_updated(
        self, info: Info[Context, Any],
    ) -> AsyncGenerator[TradingAccountStateUpdate, None]:
        async with info.context.subscribe_own(info, TOPIC_ACCOUNT_STATE) as sub:
            while True:
                update = converted(await info.context.next_event(sub), _state_update)
                if update is not None:
                    yield update


QUERIES = (TradingQueries,)
MUTATIONS = (TradingMutations,)
SUBSCRIPTIONS = (TradingSubscriptions,)
