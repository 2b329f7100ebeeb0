"""Brokerage configuration as data, set by administrators (config.manage) and audited:
jurisdictions served, account types, the (jurisdiction, account type, currency, book, risk
category) -> platform group map, and leverage caps per jurisdiction/asset class and risk category.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pycountry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.errors import InvalidConfiguration, InvalidCountry, LeverageAboveCap, NoGroupMapping
from domain.clients.models import AccountType, GroupMapping, Jurisdiction, LeverageCap
from domain.shared.actor import Actor
from domain.shared.money import currency as lookup_currency
from domain.trading.servers import get_server

ASSET_CLASSES = ("fx_major", "fx_minor", "gold", "index_major", "commodity", "equity", "crypto")
RISK_CATEGORIES = ("low", "medium", "high")
# ESMA retail limits (product intervention, 2018): the default for regulated EU jurisdictions.
ESMA_RETAIL: dict[str, int] = {"fx_major": 30, "fx_minor": 20, "gold": 20, "index_major": 20, "commodity": 10,
                               "equity": 5, "crypto": 2}
# The account-level leverage of an MT5 login is its FX-major leverage; per-symbol caps live in the group.
ACCOUNT_ASSET_CLASS = "fx_major"


def country_code(value: str, field: str = "country") -> str:
    entry = pycountry.countries.get(alpha_2=value.upper()) if len(value) == 2 else (
        pycountry.countries.get(alpha_3=value.upper()) if len(value) == 3 else None)
    if entry is None:
        raise InvalidCountry(f"{value!r} is not an ISO 3166 country code", field=field)
    return str(entry.alpha_2)


async def set_jurisdiction(session: AsyncSession, actor: Actor, *, country: str, served: bool, regulated: bool,
                           regulator: str = "", high_risk: bool = False) -> Jurisdiction:
    code = country_code(country)
    row = await session.get(Jurisdiction, code, with_for_update=True)
    before = None if row is None else {"served": row.served, "regulated": row.regulated, "high_risk": row.high_risk}
    if row is None:
        row = Jurisdiction(country=code)
        session.add(row)
    row.served, row.regulated, row.regulator, row.high_risk = served, regulated, regulator[:64], high_risk
    await record(session, actor, action="brokerage.jurisdiction_set", entity_type="jurisdiction", entity_id=code,
                 before=before, after={"served": served, "regulated": regulated, "high_risk": high_risk},
                 category="general")
    return row


async def set_account_type(session: AsyncSession, actor: Actor, *, code: str, name: str, pricing: str,
                           currencies: list[str], commission_per_lot: Decimal = Decimal(0),
                           markup_pips: Decimal = Decimal(0)) -> AccountType:
    if pricing not in ("spread", "commission", "markup") or not code.isidentifier():
        raise InvalidConfiguration("pricing is spread, commission or markup; code is an identifier", field="pricing")
    codes = [lookup_currency(c).code for c in currencies]
    row = await session.get(AccountType, code, with_for_update=True)
    if row is None:
        row = AccountType(code=code)
        session.add(row)
    row.name, row.pricing, row.currencies = name[:120], pricing, codes
    row.commission_per_lot, row.markup_pips = commission_per_lot, markup_pips
    await record(session, actor, action="brokerage.account_type_set", entity_type="account_type", entity_id=code,
                 after={"pricing": pricing, "currencies": codes, "commission_per_lot": str(commission_per_lot)},
                 category="general")
    return row


async def set_group_mapping(session: AsyncSession, actor: Actor, *, jurisdiction: str, account_type: str,
                            currency: str, book: str, risk_category: str, server_id: int,
                            group_name: str) -> GroupMapping:
    code = country_code(jurisdiction, "jurisdiction")
    if book not in ("A", "B") or risk_category not in RISK_CATEGORIES or not group_name:
        raise InvalidConfiguration("book is A or B; risk category is low, medium or high", field="book")
    if await session.get(AccountType, account_type) is None:
        raise InvalidConfiguration(f"unknown account type {account_type!r}", field="accountType")
    await get_server(session, server_id)
    cur = lookup_currency(currency).code
    row = await session.scalar(select(GroupMapping).where(
        GroupMapping.jurisdiction == code, GroupMapping.account_type == account_type, GroupMapping.currency == cur,
        GroupMapping.book == book, GroupMapping.risk_category == risk_category).with_for_update())
    before = None if row is None else {"server_id": row.server_id, "group": row.group_name}
    if row is None:
        row = GroupMapping(jurisdiction=code, account_type=account_type, currency=cur, book=book,
                           risk_category=risk_category)
        session.add(row)
    row.server_id, row.group_name = server_id, group_name[:64]
    await session.flush()
    await record(session, actor, action="brokerage.group_mapping_set", entity_type="group_mapping",
                 entity_id=row.id, before=before, after={"server_id": server_id, "group": group_name},
                 category="general")
    return row


async def set_leverage_cap(session: AsyncSession, actor: Actor, *, scope: str, key: str, asset_class: str,
                           max_leverage: int) -> LeverageCap:
    if scope not in ("jurisdiction", "risk") or not 1 <= max_leverage <= 5000:
        raise InvalidConfiguration("scope is jurisdiction or risk; leverage 1..5000", field="scope")
    if asset_class not in (*ASSET_CLASSES, "*"):
        raise InvalidConfiguration(f"unknown asset class {asset_class!r}", field="assetClass")
    if scope == "jurisdiction":
        key = country_code(key, "key")
    elif key not in RISK_CATEGORIES:
        raise InvalidConfiguration("risk caps are keyed by low, medium or high", field="key")
    row = await session.get(LeverageCap, (scope, key, asset_class), with_for_update=True)
    before = None if row is None else {"max_leverage": row.max_leverage}
    if row is None:
        row = LeverageCap(scope=scope, key=key, asset_class=asset_class)
        session.add(row)
    row.max_leverage = max_leverage
    await record(session, actor, action="brokerage.leverage_cap_set", entity_type="leverage_cap",
                 entity_id=f"{scope}:{key}:{asset_class}", before=before, after={"max_leverage": max_leverage},
                 category="leverage_change")
    return row


async def apply_esma_retail(session: AsyncSession, actor: Actor, country: str) -> None:
    for asset_class, cap in ESMA_RETAIL.items():
        await set_leverage_cap(session, actor, scope="jurisdiction", key=country, asset_class=asset_class,
                               max_leverage=cap)


async def leverage_cap(session: AsyncSession, *, jurisdiction: str, risk_category: str,
                       asset_class: str = ACCOUNT_ASSET_CLASS) -> int | None:
    """The lowest applicable cap, or None when nothing caps it."""
    caps = list(await session.scalars(select(LeverageCap.max_leverage).where(
        ((LeverageCap.scope == "jurisdiction") & (LeverageCap.key == jurisdiction)
         & (LeverageCap.asset_class == asset_class))
        | ((LeverageCap.scope == "risk") & (LeverageCap.key == risk_category)
           & LeverageCap.asset_class.in_([asset_class, "*"])))))
    return min(caps) if caps else None


@dataclass(frozen=True)
class Placement:
    server_id: int
    group: str
    leverage: int
    currency: str


async def placement(session: AsyncSession, *, jurisdiction: str, account_type: str, currency: str,
                    risk_category: str, requested_leverage: int | None = None, book: str = "B") -> Placement:
    """Where a new live account goes and at what leverage; a request above the cap is refused."""
    mapping = await session.scalar(select(GroupMapping).where(
        GroupMapping.jurisdiction == jurisdiction, GroupMapping.account_type == account_type,
        GroupMapping.currency == currency, GroupMapping.book == book, GroupMapping.risk_category == risk_category))
    if mapping is None:
        raise NoGroupMapping(f"no platform group for {jurisdiction}/{account_type}/{currency}/{book}/{risk_category}",
                             field="accountType")
    cap = await leverage_cap(session, jurisdiction=jurisdiction, risk_category=risk_category)
    if requested_leverage is not None and cap is not None and requested_leverage > cap:
        raise LeverageAboveCap(f"leverage above the cap of {cap}:1", field="leverage")
    leverage = requested_leverage or cap or 100
    return Placement(mapping.server_id, mapping.group_name, leverage, currency)
