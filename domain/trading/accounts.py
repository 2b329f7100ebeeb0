"""Trading accounts: the link between a login on a server and (optionally) a CRM user."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.platforms.errors import AccountNotFound
from domain.platforms.port import TradingPlatform
from domain.trading.errors import TradingAccountNotFound
from domain.trading.models import TradingAccount


@dataclass(frozen=True)
class AccountSpec:
    login: int
    group: str
    leverage: int
    currency: str
    rights: str = "ENABLED"
    user_id: int | None = None

    @property
    def account_type(self) -> str:
        return "demo" if self.group.lower().startswith("demo") else "real"


async def register_accounts(session: AsyncSession, server_id: int, specs: Sequence[AccountSpec]) -> None:
    """Upsert accounts; an existing link to a user is kept unless a new one is given."""
    if not specs:
        return
    await session.execute(
        text(
            'INSERT INTO trading_accounts (server_id, login, user_id, "group", leverage, currency, '
            "account_type, rights) VALUES (:server_id, :login, :user_id, :group, :leverage, :currency, "
            ":account_type, :rights) ON CONFLICT (server_id, login) DO UPDATE SET "
            'user_id = COALESCE(excluded.user_id, trading_accounts.user_id), "group" = excluded."group", '
            "leverage = excluded.leverage, currency = excluded.currency, "
            "account_type = excluded.account_type, rights = excluded.rights"
        ),
        [
            {
                "server_id": server_id, "login": s.login, "user_id": s.user_id, "group": s.group,
                "leverage": s.leverage, "currency": s.currency, "account_type": s.account_type,
                "rights": s.rights,
            }
            for s in specs
        ],
    )  # fmt: skip


async def unknown_logins(session: AsyncSession, server_id: int, logins: Iterable[int]) -> list[int]:
    wanted = sorted(set(logins))
    if not wanted:
        return []
    known = set(
        await session.scalars(
            select(TradingAccount.login).where(
                TradingAccount.server_id == server_id, TradingAccount.login.in_(wanted)
            )
        )
    )
    return [login for login in wanted if login not in known]


async def fetch_account_specs(platform: TradingPlatform, logins: Sequence[int]) -> list[AccountSpec]:
    """Read accounts the CRM has not seen from the server (no transaction is open meanwhile).

    Logins the server no longer knows are skipped: their deals are flagged as unknown_login.
    """
    if not logins:
        return []
    currencies = {g.name: g.currency for g in await platform.list_groups()}
    specs: list[AccountSpec] = []
    for login in logins:
        try:
            info = await platform.get_account(login)
        except AccountNotFound:
            continue
        specs.append(
            AccountSpec(login, info.group, info.leverage, currencies.get(info.group, "USD"), info.rights.value)
        )
    return specs


async def get_account(session: AsyncSession, account_id: int) -> TradingAccount:
    account = await session.get(TradingAccount, account_id)
    if account is None:
        raise TradingAccountNotFound(f"trading account {account_id} not found", field="id")
    return account
