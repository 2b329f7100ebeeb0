"""Account types clients choose from when they open a live account, managed by staff (config.manage):
name, pricing, the currencies offered, the trading server and group (used where no jurisdiction
mapping exists), default and maximum leverage, live or demo, minimum deposit; disabled types are
kept (accounts refer to them) but not offered. Every change is audited."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.config import Placement, leverage_cap, placement
from domain.clients.errors import (
    AccountTypeExists,
    AccountTypeNotFound,
    CurrencyNotOffered,
    InvalidConfiguration,
    LeverageAboveCap,
    NoGroupMapping,
)
from domain.clients.models import AccountType
from domain.shared.actor import Actor
from domain.shared.errors import DomainError
from domain.shared.money import currency as lookup_currency
from domain.shared.money import quantize_exact
from domain.trading.models import TradingServer

PRICING = ("spread", "commission", "markup")
MAX_LEVERAGE = 5000


@dataclass(frozen=True)
class AccountTypeSpec:
    code: str
    name: str
    currencies: list[str]
    pricing: str = "spread"
    server_id: int | None = None
    group_name: str | None = None
    default_leverage: int = 100
    max_leverage: int = 500
    live: bool = True
    min_deposit: Decimal = Decimal(0)
    commission_per_lot: Decimal = field(default=Decimal(0))


def _public(row: AccountType) -> dict[str, object]:
    return {"name": row.name, "pricing": row.pricing, "currencies": list(row.currencies), "server_id": row.server_id,
            "group": row.group_name, "default_leverage": row.default_leverage, "max_leverage": row.max_leverage,
            "live": row.live, "min_deposit": str(row.min_deposit), "enabled": row.enabled}


async def _checked(session: AsyncSession, spec: AccountTypeSpec) -> AccountTypeSpec:
    if not spec.code.isidentifier() or len(spec.code) > 32:
        raise InvalidConfiguration("code is an identifier of at most 32 characters", field="code")
    if not spec.name.strip() or len(spec.name) > 120:
        raise InvalidConfiguration("name must be 1 to 120 characters", field="name")
    if spec.pricing not in PRICING:
        raise InvalidConfiguration("pricing is spread, commission or markup", field="pricing")
    if not spec.currencies:
        raise InvalidConfiguration("at least one currency is offered", field="currencies")
    try:
        codes = sorted({lookup_currency(c).code for c in spec.currencies})
    except DomainError:
        raise InvalidConfiguration("currencies are configured currency codes", field="currencies") from None
    if not 1 <= spec.default_leverage <= spec.max_leverage <= MAX_LEVERAGE:
        raise InvalidConfiguration(f"1 <= defaultLeverage <= maxLeverage <= {MAX_LEVERAGE}", field="defaultLeverage")
    if (spec.server_id is None) != (spec.group_name is None) or (spec.group_name is not None and not (
            0 < len(spec.group_name.strip()) <= 64)):
        raise InvalidConfiguration("a trading server and a group (1 to 64 characters) go together", field="groupName")
    if spec.server_id is not None and await session.get(TradingServer, spec.server_id) is None:
        raise InvalidConfiguration("no such trading server", field="serverId")
    min_deposit = quantize_exact(spec.min_deposit, codes[0], field="minDeposit") if spec.min_deposit else Decimal(0)
    if min_deposit < 0:
        raise InvalidConfiguration("minDeposit must not be negative", field="minDeposit")
    return AccountTypeSpec(spec.code, spec.name.strip(), codes, spec.pricing, spec.server_id,
                           spec.group_name.strip() if spec.group_name else None, spec.default_leverage,
                           spec.max_leverage, spec.live, min_deposit, spec.commission_per_lot)


def _apply(row: AccountType, spec: AccountTypeSpec) -> None:
    row.name, row.pricing, row.currencies = spec.name, spec.pricing, spec.currencies
    row.server_id, row.group_name = spec.server_id, spec.group_name
    row.default_leverage, row.max_leverage = spec.default_leverage, spec.max_leverage
    row.live, row.min_deposit = spec.live, spec.min_deposit


async def create_account_type(session: AsyncSession, actor: Actor, spec: AccountTypeSpec) -> AccountType:
    spec = await _checked(session, spec)
    if await session.get(AccountType, spec.code, with_for_update=True) is not None:
        raise AccountTypeExists(f"account type {spec.code!r} exists", field="code")
    row = AccountType(code=spec.code, enabled=True, commission_per_lot=Decimal(0), markup_pips=Decimal(0))
    _apply(row, spec)
    session.add(row)
    await session.flush()
    await record(session, actor, action="brokerage.account_type_created", entity_type="account_type",
                 entity_id=spec.code, after=_public(row), category="general")
    return row


async def get_account_type(session: AsyncSession, code: str, *, lock: bool = False) -> AccountType:
    row = await session.get(AccountType, code, with_for_update=lock, populate_existing=lock)
    if row is None:
        raise AccountTypeNotFound("no such account type", field="code")
    return row


async def update_account_type(session: AsyncSession, actor: Actor, spec: AccountTypeSpec) -> AccountType:
    row = await get_account_type(session, spec.code, lock=True)
    spec = await _checked(session, spec)
    before = _public(row)
    _apply(row, spec)
    await session.flush()
    await record(session, actor, action="brokerage.account_type_updated", entity_type="account_type",
                 entity_id=spec.code, before=before, after=_public(row), category="general")
    return row


async def set_account_type_enabled(session: AsyncSession, actor: Actor, code: str, enabled: bool) -> AccountType:
    row = await get_account_type(session, code, lock=True)
    if row.enabled != enabled:
        row.enabled = enabled
        await session.flush()
        await record(session, actor, action="brokerage.account_type_" + ("enabled" if enabled else "disabled"),
                     entity_type="account_type", entity_id=code, before={"enabled": not enabled},
                     after={"enabled": enabled}, category="general")
    return row


async def list_account_types(session: AsyncSession, *, offered_only: bool) -> list[AccountType]:
    stmt = select(AccountType).order_by(AccountType.code)
    if offered_only:
        stmt = stmt.where(AccountType.enabled.is_(True))
    return list(await session.scalars(stmt))


async def offered(session: AsyncSession, code: str, currency: str, *, live: bool = True) -> tuple[AccountType, str]:
    """The enabled account type a client chose, and the currency checked against it."""
    row = await session.get(AccountType, code)
    if row is None or not row.enabled or row.live != live:
        raise AccountTypeNotFound("no such account type", field="accountType")
    try:
        cur = lookup_currency(currency).code
    except DomainError:
        raise CurrencyNotOffered(f"{row.name} accounts are offered in {', '.join(row.currencies)}",
                                 field="currency") from None
    if cur not in row.currencies:
        raise CurrencyNotOffered(f"{row.name} accounts are offered in {', '.join(row.currencies)}", field="currency")
    return row, cur


async def place(session: AsyncSession, kind: AccountType, *, jurisdiction: str, currency: str, risk_category: str,
                requested_leverage: int | None) -> Placement:
    """Where an account of this type goes: the jurisdiction's group mapping for it when there is one,
    else the type's own server and group; leverage as requested (or the type's default), within the
    type's maximum and the jurisdiction's and risk category's caps."""
    if requested_leverage is not None and not 1 <= requested_leverage <= kind.max_leverage:
        raise LeverageAboveCap(f"{kind.name} accounts allow up to {kind.max_leverage}:1", field="leverage")
    cap = await leverage_cap(session, jurisdiction=jurisdiction, risk_category=risk_category)
    if requested_leverage is not None and cap is not None and requested_leverage > cap:
        raise LeverageAboveCap(f"leverage above the cap of {cap}:1", field="leverage")
    leverage = requested_leverage or min(kind.default_leverage, cap or kind.default_leverage)
    try:
        mapped = await placement(session, jurisdiction=jurisdiction, account_type=kind.code, currency=currency,
                                 risk_category=risk_category, requested_leverage=leverage)
        return Placement(mapped.server_id, mapped.group, leverage, currency)
    except NoGroupMapping:
        if kind.server_id is None or kind.group_name is None:
            raise
        return Placement(kind.server_id, kind.group_name, leverage, currency)
