"""Payment methods with their fees and limits per currency and country.

A method has one row per currency with country '*' and optional rows for single countries that
override it (the most specific row wins; a disabled country row makes the method unavailable in
that country even when the default row is enabled).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.payments.errors import AmountOutOfLimits, FirstDepositTooSmall, PaymentMethodUnavailable
from domain.shared.money import currency as currency_info
from domain.shared.money import round_to


@dataclass(frozen=True)
class Method:
    code: str
    kind: str
    provider: str
    display_name: str
    base_url: str
    currency: str
    country: str
    min_amount: Decimal
    max_amount: Decimal
    fee_fixed: Decimal
    fee_percent: Decimal
    first_deposit_min: Decimal
    deposits: bool
    withdrawals: bool

    def fee_for(self, amount: Decimal) -> Decimal:
        return round_to(self.fee_fixed + amount * self.fee_percent / 100, self.currency)

    def check_amount(self, amount: Decimal) -> None:
        if amount < self.min_amount or amount > self.max_amount:
            raise AmountOutOfLimits(
                f"{self.display_name or self.code} takes {self.min_amount.normalize():f} to "
                f"{self.max_amount.normalize():f} {self.currency}", field="amount")


_FIELDS = frozenset(Method.__dataclass_fields__)
_COLS = ("code, kind, provider, display_name, base_url, currency, country, min_amount, max_amount, fee_fixed, "
         "fee_percent, first_deposit_min, deposits, withdrawals")


def _method(r: Any) -> Method:
    m = {k: v for k, v in r._mapping.items() if k in _FIELDS}
    for k in ("min_amount", "max_amount", "fee_fixed", "fee_percent", "first_deposit_min"):
        m[k] = Decimal(m[k])
    return Method(**m)


async def upsert(session: AsyncSession, *, code: str, kind: str, provider: str, currency: str,
                 max_amount: Decimal, country: str = "*", min_amount: Decimal = Decimal(0),
                 fee_fixed: Decimal = Decimal(0), fee_percent: Decimal = Decimal(0),
                 first_deposit_min: Decimal = Decimal(0), base_url: str = "", display_name: str = "",
                 deposits: bool = True, withdrawals: bool = True) -> None:
    """Configure a method (staff with payments.manage, or deployment seeding)."""
    await session.execute(text(
        "INSERT INTO payment_methods (code, kind, provider, display_name, base_url, currency, country, min_amount, "
        "max_amount, fee_fixed, fee_percent, first_deposit_min, deposits, withdrawals) VALUES (:code, :kind, :prov, "
        ":name, :url, :cur, :country, :min, :max, :ff, :fp, :fdm, :dep, :wd) ON CONFLICT (code, currency, country) "
        "DO UPDATE SET kind = EXCLUDED.kind, provider = EXCLUDED.provider, display_name = EXCLUDED.display_name, "
        "base_url = EXCLUDED.base_url, min_amount = EXCLUDED.min_amount, max_amount = EXCLUDED.max_amount, "
        "fee_fixed = EXCLUDED.fee_fixed, fee_percent = EXCLUDED.fee_percent, "
        "first_deposit_min = EXCLUDED.first_deposit_min, deposits = EXCLUDED.deposits, "
        "withdrawals = EXCLUDED.withdrawals, enabled = true, updated_at = now()"),
        {"code": code, "kind": kind, "prov": provider, "name": display_name or code, "url": base_url,
         "cur": currency_info(currency).code, "country": country.upper(), "min": min_amount, "max": max_amount,
         "ff": fee_fixed, "fp": fee_percent, "fdm": first_deposit_min, "dep": deposits, "wd": withdrawals})


async def resolve(session: AsyncSession, code: str, currency: str, country: str | None) -> Method:
    row = (await session.execute(text(
        f"SELECT {_COLS}, enabled FROM payment_methods WHERE code = :code AND currency = :cur "  # noqa: S608
        "AND country IN ('*', :country) ORDER BY (country = '*') LIMIT 1"),
        {"code": code, "cur": currency, "country": (country or "*").upper()})).first()
    if row is None or not row.enabled:
        raise PaymentMethodUnavailable(f"{code} is not available for {currency}", field="methodCode")
    return _method(row)


async def available(session: AsyncSession, *, country: str | None, currency: str | None) -> list[Method]:
    """Methods a client may use: per code and currency, the country's row or else the default."""
    rows = (await session.execute(text(
        f"SELECT * FROM (SELECT DISTINCT ON (code, currency) {_COLS}, enabled FROM payment_methods "  # noqa: S608
        "WHERE country IN ('*', :country) AND (CAST(:cur AS text) IS NULL OR currency = :cur) "
        "ORDER BY code, currency, (country = '*')) m WHERE enabled ORDER BY code, currency"),
        {"country": (country or "*").upper(), "cur": currency})).all()
    return [_method(r) for r in rows]


async def check_first_deposit(session: AsyncSession, method: Method, user_id: int, amount: Decimal) -> None:
    if method.first_deposit_min <= 0 or amount >= method.first_deposit_min:
        return
    earlier = await session.scalar(text(
        "SELECT 1 FROM payments WHERE user_id = :uid AND direction = 'deposit' "
        "AND status IN ('succeeded', 'refunded', 'charged_back') LIMIT 1"), {"uid": user_id})
    if earlier is None:
        raise FirstDepositTooSmall(
            f"a first deposit is at least {method.first_deposit_min.normalize():f} {method.currency}",
            field="amount")
