"""Reads for the API: visibility rules and keyset-paginated lists."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients.access import staff_sees_owner
from domain.ib import portal
from domain.ib.errors import ClientNotFound, IbNotFound
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import Reader, driver
from domain.shared.pagination import Page, PageRequest, raw_page, select_page
from domain.trading.errors import TradingAccountNotFound
from domain.trading.models import IngestionError, TradingAccount

READ_PERMISSION = "trading.read"
# Callers who may reach a downline client's account as that client's IB.
_IB_KINDS = (ActorKind.CLIENT, ActorKind.IB)


async def can_see_account(session: AsyncSession, actor: Actor, account: TradingAccount) -> bool:
    """The client who owns the account, or staff with trading.read who may see that client (desk
    scoping, domain/clients/access.py)."""
    if actor.is_authenticated and actor.user_id is not None and actor.user_id == account.user_id:
        return True
    return (actor.kind in (ActorKind.STAFF, ActorKind.SYSTEM) and actor.has(READ_PERMISSION)
            and await staff_sees_owner(session, actor, account.user_id))


async def in_ib_downline(session: AsyncSession, actor: Actor, client_id: int | None) -> bool:
    """Whether the actor is an approved IB and the client is in its visible downline (portal rules)."""
    if client_id is None or actor.user_id is None or actor.kind not in _IB_KINDS:
        return False
    try:
        partner = await portal.partner(session, actor.user_id)
        await portal.client(session, partner, client_id)
    except (IbNotFound, ClientNotFound):
        return False
    return True


async def visible_to(session: AsyncSession, actor: Actor, account: TradingAccount) -> bool:
    """Staff, the owner, or the owner's IB within its visible depth."""
    return await can_see_account(session, actor, account) or await in_ib_downline(session, actor, account.user_id)


async def visible_account(session: AsyncSession, actor: Actor, account_id: int) -> TradingAccount:
    """The account if `visible_to` the actor; otherwise "not found", never "forbidden"."""
    account = await session.get(TradingAccount, account_id)
    if account is None or not await visible_to(session, actor, account):
        raise TradingAccountNotFound("trading account not found", field="accountId")
    return account


DEAL_COLUMNS = ("deal_id, time, login, position_id, action, entry, symbol, price, volume, profit, commission, "
                "storage, fee, notional_usd, comment")
ACCOUNT_COLUMNS = ('id, server_id, login, user_id, "group", leverage, currency, account_type, account_type_code, '
                   "rights, created_at")


class AccountRef(NamedTuple):
    """What a deal list needs of an account."""

    server_id: int
    login: int


async def owned_account(reader: Reader, actor: Actor, account_id: int) -> AccountRef | None:
    """The account when the actor is the client who owns it (a portal's own pages, the hot case):
    one indexed statement. None otherwise: staff and IBs go through `visible_account`."""
    if not actor.is_authenticated or actor.user_id is None:
        return None
    row = await (await driver(reader)).fetchrow(
        "SELECT server_id, login FROM trading_accounts WHERE id = $1 AND user_id = $2", account_id, actor.user_id)
    return None if row is None else AccountRef(row["server_id"], row["login"])


async def list_deals(
    session: Reader, account: AccountRef | TradingAccount, page: PageRequest, *,
    symbol: str | None = None, start: datetime | None = None, end: datetime | None = None,
) -> Page[asyncpg.Record]:
    """The account's deals (DEAL_COLUMNS), newest first; keyset on (time, deal_id). Raw rows: a page
    of deals is a hot read, and ORM objects would cost more than the statement."""
    return await _deals(await driver(session), ["server_id = $1", "login = $2"], [account.server_id, account.login],
                        page, symbol, start, end)


async def own_deals(
    reader: Reader, actor: Actor, account_id: int, page: PageRequest, *,
    symbol: str | None = None, start: datetime | None = None, end: datetime | None = None,
) -> Page[asyncpg.Record] | None:
    """As `list_deals` for the client who owns the account (a portal's own page, the hot case), with
    the account found inside the same statement: one round trip. None when the caller does not own
    it (staff and IBs go through `visible_account`); an empty page is checked with `owned_account`."""
    if not actor.is_authenticated or actor.user_id is None:
        return None
    conn = await driver(reader)
    found = await _deals(
        conn, ["(server_id, login) = (SELECT server_id, login FROM trading_accounts WHERE id = $1 AND user_id = $2)"],
        [account_id, actor.user_id], page, symbol, start, end)
    if found.items or await owned_account(conn, actor, account_id) is not None:
        return found
    return None


async def _deals(conn: asyncpg.Connection, where: list[str], params: list[Any], page: PageRequest,
                 symbol: str | None, start: datetime | None, end: datetime | None) -> Page[asyncpg.Record]:
    for cond, value in (("symbol = ${}", symbol or None), ("time >= ${}", start), ("time < ${}", end)):
        if value is not None:
            params.append(value)
            where.append(cond.format(len(params)))
    return await raw_page(conn, page, columns=DEAL_COLUMNS, source="trading_deals", where=where,
                          params=params, key=("time", "deal_id"), descending=True, convert=lambda r: r)


async def list_ingestion_errors(
    session: AsyncSession, page: PageRequest, *, include_resolved: bool = False
) -> Page[IngestionError]:
    query = select(IngestionError)
    if not include_resolved:
        query = query.where(IngestionError.resolved_at.is_(None))
    return await select_page(session, page, query, (IngestionError.created_at, IngestionError.id),
                             descending=True, convert=lambda row: row)


async def accounts_of(session: Reader, user_id: int, page: PageRequest) -> Page[asyncpg.Record]:
    """A user's trading accounts (ACCOUNT_COLUMNS) in the order they were opened, as raw rows."""
    return await raw_page(await driver(session), page, columns=ACCOUNT_COLUMNS, source="trading_accounts",
                          where=["user_id = $1"], params=[user_id], key=("created_at", "id"), descending=False,
                          convert=lambda r: r)
