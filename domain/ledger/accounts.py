"""Ledger accounts: typed, per currency, with an owner and a purpose; created on demand.

House accounts (PSP clearing, revenue, FX, ...) are sharded into HOUSE_SHARDS balance rows and a
posting picks one at random, so concurrent postings to the same house account do not queue on a
single row lock; their balance is the sum of the shards. Client wallets and trading-account
mirrors belong to one client and have a single row.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger.errors import TradingAccountNotFound, WalletNotFound
from domain.shared.db import Reader, driver
from domain.shared.errors import Conflict
from domain.shared.money import currency as currency_info

HOUSE_SHARDS = 64


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    INCOME = "income"
    EXPENSE = "expense"
    EQUITY = "equity"


class Purpose(StrEnum):
    CLIENT_WALLET = "client_wallet"
    TRADING_ACCOUNT_MIRROR = "trading_account_mirror"
    PSP_CLEARING = "psp_clearing"
    BANK = "bank"
    IB_PAYABLE = "ib_payable"
    BROKER_REVENUE = "broker_revenue"
    FEES = "fees"
    FX = "fx"
    SUSPENSE = "suspense"
    HOUSE_EQUITY = "house_equity"


HOUSE_TYPES: dict[Purpose, AccountType] = {
    Purpose.PSP_CLEARING: AccountType.ASSET,
    Purpose.BANK: AccountType.ASSET,
    Purpose.IB_PAYABLE: AccountType.LIABILITY,
    Purpose.BROKER_REVENUE: AccountType.INCOME,
    Purpose.FEES: AccountType.INCOME,
    Purpose.FX: AccountType.EQUITY,
    Purpose.SUSPENSE: AccountType.LIABILITY,
    Purpose.HOUSE_EQUITY: AccountType.EQUITY,
}


@dataclass(frozen=True)
class AccountRef:
    id: int
    type: AccountType
    purpose: Purpose
    currency: str
    owner_id: int | None
    shards: int
    server_id: str | None = None
    login: int | None = None

    @property
    def sign(self) -> int:
        """+1 when debits increase the natural balance (assets, expenses), else -1."""
        return 1 if self.type in (AccountType.ASSET, AccountType.EXPENSE) else -1

    @property
    def non_negative(self) -> bool:
        return self.purpose is Purpose.CLIENT_WALLET


@dataclass(frozen=True)
class Balance:
    balance: Decimal
    held: Decimal

    @property
    def available(self) -> Decimal:
        return self.balance - self.held


_COLUMNS = "id, type, purpose, currency, owner_id, shards, server_id, login"
# Ledger accounts are never updated or deleted, so a committed one can be cached: house accounts
# (a few) without bound, client wallets and accounts looked up by id or by trading login in bounded
# LRUs (a transfer reads its wallet and mirror twice, in two transactions). Keyed per database URL.
_HOUSE_CACHE: dict[tuple[str, str, str, str], AccountRef] = {}
_WALLET_CACHE: OrderedDict[tuple[str, int, str], AccountRef] = OrderedDict()
_BY_ID_CACHE: OrderedDict[tuple[str, int], AccountRef] = OrderedDict()
_MIRROR_CACHE: OrderedDict[tuple[str, str, int], AccountRef] = OrderedDict()
WALLET_CACHE_SIZE = 50_000


def _cached(cache: OrderedDict[Any, AccountRef], key: Any) -> AccountRef | None:
    found = cache.get(key)
    if found is not None:
        cache.move_to_end(key)
    return found


def _remember(cache: OrderedDict[Any, AccountRef], key: Any, ref: AccountRef) -> None:
    cache[key] = ref
    if len(cache) > WALLET_CACHE_SIZE:
        cache.popitem(last=False)


def _ref(row: object) -> AccountRef:
    r = row if isinstance(row, asyncpg.Record) else row._mapping  # type: ignore[attr-defined]
    return AccountRef(
        id=int(r["id"]), type=AccountType(r["type"]), purpose=Purpose(r["purpose"]), currency=r["currency"],
        owner_id=r["owner_id"], shards=int(r["shards"]), server_id=r["server_id"], login=r["login"],
    )


# $1 purpose, $2 currency, $3 owner, $4 server, $5 login, $6 provider (then $7 type, $8 shards, $9 non-negative)
_FIND = (
    f"SELECT {_COLUMNS}, created_at < now() AS committed FROM ledger_accounts "  # noqa: S608 - constant columns
    "WHERE purpose = $1 AND currency = $2 AND owner_id IS NOT DISTINCT FROM $3::bigint "
    "AND server_id IS NOT DISTINCT FROM $4::varchar AND login IS NOT DISTINCT FROM $5::bigint "
    "AND provider IS NOT DISTINCT FROM $6::varchar"
)
_CREATE = (
    "WITH a AS (INSERT INTO ledger_accounts "  # noqa: S608 - constant column list
    "(type, purpose, currency, owner_id, server_id, login, provider, shards) "
    f"VALUES ($7, $1, $2, $3, $4, $5, $6, $8) ON CONFLICT DO NOTHING RETURNING {_COLUMNS}), "
    "b AS (INSERT INTO ledger_balances (account_id, shard, non_negative) "
    "SELECT a.id, g, $9 FROM a, generate_series(0, a.shards - 1) g) "
    f"SELECT {_COLUMNS} FROM a"
)


async def _get_or_create(
    session: AsyncSession, *, type_: AccountType, purpose: Purpose, currency: str, owner_id: int | None = None,
    server_id: str | None = None, login: int | None = None, provider: str | None = None, shards: int = 1,
) -> tuple[AccountRef, bool]:
    """(account, committed_before_this_transaction). On the session's driver connection, so money
    movements run in group commit's driver-only transactions can open a wallet on demand."""
    conn = await driver(session)
    identity = (purpose.value, currency, owner_id, server_id, login, provider)
    row = await conn.fetchrow(_FIND, *identity)
    if row is not None:
        return _ref(row), bool(row["committed"])
    created = await conn.fetchrow(_CREATE, *identity, type_.value, shards, purpose is Purpose.CLIENT_WALLET)
    if created is not None:
        return _ref(created), False
    row = await conn.fetchrow(_FIND, *identity)
    if row is None:  # a conflict on another unique index (a login owned by someone else)
        raise Conflict("the account exists with a different owner or currency")
    return _ref(row), bool(row["committed"])


_DATABASES: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()


def database_key(session: AsyncSession) -> str:
    """Which database a cached account belongs to (tests use several): the engine's URL, rendered
    once per engine rather than on every lookup (rendering costs more than the lookup)."""
    bind = session.bind
    name = _DATABASES.get(bind)
    if name is None:
        name = _DATABASES[bind] = str(getattr(bind, "url", ""))
    return name


async def house_account(
    session: AsyncSession, purpose: Purpose, currency: str, *, provider: str | None = None
) -> AccountRef:
    code = currency_info(currency).code
    key = (database_key(session), purpose.value, code, provider or "")
    cached = _HOUSE_CACHE.get(key)
    if cached is not None:
        return cached
    ref, committed = await _get_or_create(
        session, type_=HOUSE_TYPES[purpose], purpose=purpose, currency=code, provider=provider, shards=HOUSE_SHARDS
    )
    if committed:  # never cache an id whose creating transaction might still roll back
        _HOUSE_CACHE[key] = ref
    return ref


async def wallet_for(session: AsyncSession, user_id: int, currency: str) -> AccountRef:
    """The client's wallet in this currency, created on demand."""
    code = currency_info(currency).code
    key = (database_key(session), user_id, code)
    cached = _WALLET_CACHE.get(key)
    if cached is not None:
        _WALLET_CACHE.move_to_end(key)
        return cached
    ref, committed = await _get_or_create(
        session, type_=AccountType.LIABILITY, purpose=Purpose.CLIENT_WALLET, currency=code, owner_id=user_id
    )
    if committed:  # never cache an id whose creating transaction might still roll back
        _WALLET_CACHE[key] = ref
        if len(_WALLET_CACHE) > WALLET_CACHE_SIZE:
            _WALLET_CACHE.popitem(last=False)
    return ref


async def get_account(session: AsyncSession, account_id: int) -> AccountRef | None:
    key = (database_key(session), account_id)
    cached = _cached(_BY_ID_CACHE, key)
    if cached is not None:
        return cached
    row = (await session.execute(text(
        f"SELECT {_COLUMNS}, created_at < now() AS committed FROM ledger_accounts WHERE id = :id"),  # noqa: S608
        {"id": account_id})).first()
    if row is None:
        return None
    ref = _ref(row)
    if row.committed:  # never cache an id whose creating transaction might still roll back
        _remember(_BY_ID_CACHE, key, ref)
    return ref


async def get_wallet(session: AsyncSession, wallet_id: int, *, owner_id: int | None) -> AccountRef:
    """A wallet by id; another user's wallet (when owner_id is given) is simply not found."""
    ref = await get_account(session, wallet_id)
    if ref is None or ref.purpose is not Purpose.CLIENT_WALLET or (owner_id is not None and ref.owner_id != owner_id):
        raise WalletNotFound("no such wallet", field="walletId")
    return ref


async def link_trading_account(
    session: AsyncSession, *, user_id: int, server_id: str, login: int, currency: str
) -> AccountRef:
    """Register a client's trading account in the ledger (its mirror); idempotent.

    Called by whoever opens trading accounts; transfers only reach linked accounts.
    """
    code = currency_info(currency).code
    ref, _ = await _get_or_create(
        session, type_=AccountType.LIABILITY, purpose=Purpose.TRADING_ACCOUNT_MIRROR, currency=code,
        owner_id=user_id, server_id=server_id, login=login,
    )
    return ref


async def trading_account(session: AsyncSession, *, user_id: int, server_id: str, login: int) -> AccountRef:
    key = (database_key(session), server_id, login)
    ref = _cached(_MIRROR_CACHE, key)
    if ref is None:
        row = (await session.execute(text(
            f"SELECT {_COLUMNS}, created_at < now() AS committed FROM ledger_accounts "  # noqa: S608
            "WHERE purpose = 'trading_account_mirror' AND server_id = :server AND login = :login"),
            {"server": server_id, "login": login})).first()
        if row is None:
            raise TradingAccountNotFound("no such trading account", field="tradingAccountId")
        ref = _ref(row)
        if row.committed:
            _remember(_MIRROR_CACHE, key, ref)
    if ref.owner_id != user_id:
        raise TradingAccountNotFound("no such trading account", field="tradingAccountId")
    return ref


async def owned_trading_account(session: AsyncSession, *, user_id: int, account_id: int) -> tuple[str, int]:
    """(server id as the ledger names it, login) of the caller's trading account by its id; another
    user's account, or one never linked to the ledger, is simply not found."""
    row = (await session.execute(text(
        "SELECT t.server_id, t.login FROM trading_accounts t JOIN ledger_accounts l "
        "ON l.purpose = 'trading_account_mirror' AND l.server_id = CAST(t.server_id AS text) AND l.login = t.login "
        "WHERE t.id = :id AND t.user_id = :uid AND l.owner_id = :uid"), {"id": account_id, "uid": user_id})).first()
    if row is None:
        raise TradingAccountNotFound("no such trading account", field="tradingAccountId")
    return str(row.server_id), int(row.login)


async def balance_of(session: AsyncSession, account_id: int) -> Balance:
    row = (await session.execute(text(
        "SELECT coalesce(sum(balance), 0) AS balance, coalesce(sum(held), 0) AS held "
        "FROM ledger_balances WHERE account_id = :id"), {"id": account_id})).one()
    return Balance(Decimal(row.balance), Decimal(row.held))


@dataclass(frozen=True)
class WalletView:
    account: AccountRef
    balance: Balance


# The wallets of users with their balances: a portal's and a list page's hot reads, straight on asyncpg.
_WALLETS_OF_USERS = (
    f"SELECT a.{_COLUMNS.replace(', ', ', a.')}, b.balance, b.held FROM ledger_accounts a "  # noqa: S608 - constant
    "JOIN ledger_balances b ON b.account_id = a.id AND b.shard = 0 "
    "WHERE a.owner_id = ANY($1::bigint[]) AND a.purpose = 'client_wallet' ORDER BY a.owner_id, a.currency")


def _wallet_view(r: asyncpg.Record) -> WalletView:
    return WalletView(_ref(r), Balance(Decimal(r["balance"]), Decimal(r["held"])))


async def wallets_of(session: Reader, user_id: int) -> list[WalletView]:
    return [_wallet_view(r) for r in await (await driver(session)).fetch(_WALLETS_OF_USERS, [user_id])]


async def wallets_by_ids(session: AsyncSession, ids: Sequence[int], *, owner_id: int) -> dict[int, WalletView]:
    """The owner's wallets among `ids` (another user's are simply absent), one statement."""
    rows = (await session.execute(text(
        f"SELECT a.{_COLUMNS.replace(', ', ', a.')}, b.balance, b.held FROM ledger_accounts a "  # noqa: S608
        "JOIN ledger_balances b ON b.account_id = a.id AND b.shard = 0 "
        "WHERE a.id = ANY(:ids) AND a.owner_id = :uid AND a.purpose = 'client_wallet'"),
        {"ids": list(ids), "uid": owner_id})).all()
    return {r.id: WalletView(_ref(r), Balance(Decimal(r.balance), Decimal(r.held))) for r in rows}


async def wallets_of_users(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, list[WalletView]]:
    """The wallets of many users in one statement (a list page's rows), each user's by currency."""
    found: dict[int, list[WalletView]] = {uid: [] for uid in user_ids}
    if not found:
        return found
    for r in await (await driver(session)).fetch(_WALLETS_OF_USERS, list(found)):
        found[r["owner_id"]].append(_wallet_view(r))
    return found
