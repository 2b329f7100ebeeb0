"""Staff configuration of payment methods (payments.methods.manage): create a rule for a method in
one currency and country ('*' is the default row, a country row overrides it), change it, enable or
disable it; list every rule, disabled ones included. Every change is validated whole before anything
is written, and audited with before/after.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.config import country_code
from domain.payments.errors import (
    InvalidPaymentMethod,
    InvalidPaymentMethodFee,
    InvalidPaymentMethodLimits,
    PaymentMethodExists,
    PaymentMethodNotFound,
    UnknownPaymentProvider,
)
from domain.shared.actor import Actor
from domain.shared.money import currency as currency_info
from domain.shared.money import exact_places, quantize_exact

KINDS = ("card", "wire", "crypto", "local")
# Kinds whose payments call the provider over HTTP, so the rule needs the provider account's endpoint.
CALLING_KINDS = frozenset({"card", "local", "crypto"})
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_NAME, MAX_URL, PERCENT_PLACES = 100, 300, 6


def check_provider(kind: str, provider: str) -> str:
    """The provider adapter key a method of this kind may name: hosted methods go through a PSP
    adapter of the registry (domain/payments/psp_port.py), crypto through a crypto gateway."""
    from domain.payments.crypto_port import gateways as crypto_gateways
    from domain.payments.psp_port import provider_keys

    hosted = tuple(provider_keys())
    known = {"card": hosted, "local": hosted, "crypto": tuple(crypto_gateways()), "wire": ("bank",)}[kind]
    key = provider.strip().lower()
    if key not in known:
        raise UnknownPaymentProvider(f"{kind} methods go through {', '.join(known)}; not {provider!r}",
                                     field="provider")
    return key


@dataclass(frozen=True)
class MethodSpec:
    """Everything a rule holds; what create takes and what update merges into."""

    code: str
    kind: str
    provider: str
    currency: str
    country: str
    max_amount: Decimal
    min_amount: Decimal = Decimal(0)
    fee_fixed: Decimal = Decimal(0)
    fee_percent: Decimal = Decimal(0)
    first_deposit_min: Decimal = Decimal(0)
    base_url: str = ""
    display_name: str = ""
    deposits: bool = True
    withdrawals: bool = True


@dataclass(frozen=True)
class MethodRule(MethodSpec):
    id: int = 0
    enabled: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None


# What update may change (code, currency and country name the rule).
MUTABLE = ("kind", "provider", "base_url", "display_name", "min_amount", "max_amount", "fee_fixed", "fee_percent",
           "first_deposit_min", "deposits", "withdrawals")
_AMOUNTS = {"min_amount": "minAmount", "max_amount": "maxAmount", "fee_fixed": "feeFixed",
            "first_deposit_min": "firstDepositMin"}


def _url(kind: str, value: str) -> str:
    url = value.strip()
    if not url:
        if kind in CALLING_KINDS:
            raise InvalidPaymentMethod(f"{kind} methods need the provider account's endpoint", field="baseUrl")
        return ""
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidPaymentMethod("the endpoint is an http(s) URL of at most 300 characters", field="baseUrl")
    return url


def validate(spec: MethodSpec) -> MethodSpec:
    """The spec normalised, or a typed refusal naming the first field at fault."""
    code = spec.code.strip().lower()
    if not _CODE.match(code):
        raise InvalidPaymentMethod("a method code is 1-32 lowercase letters, digits, - or _", field="code")
    if spec.kind not in KINDS:
        raise InvalidPaymentMethod(f"kind is one of {', '.join(KINDS)}", field="kind")
    cur = currency_info(spec.currency).code
    country = "*" if spec.country.strip() == "*" else country_code(spec.country.strip(), "country")
    amounts = {k: quantize_exact(getattr(spec, k), cur, field=f) for k, f in _AMOUNTS.items()}
    if amounts["min_amount"] < 0 or amounts["first_deposit_min"] < 0:
        raise InvalidPaymentMethodLimits("limits are not negative",
                                         field="minAmount" if amounts["min_amount"] < 0 else "firstDepositMin")
    if amounts["max_amount"] <= 0 or amounts["min_amount"] > amounts["max_amount"]:
        raise InvalidPaymentMethodLimits("the maximum is positive and not below the minimum", field="maxAmount")
    if amounts["first_deposit_min"] > amounts["max_amount"]:
        raise InvalidPaymentMethodLimits("a first-deposit minimum above the maximum would refuse every first deposit",
                                         field="firstDepositMin")
    if amounts["fee_fixed"] < 0:
        raise InvalidPaymentMethodFee("the fixed fee is not negative", field="feeFixed")
    percent = exact_places(spec.fee_percent, PERCENT_PLACES, field="feePercent", what="fee percentages")
    if not Decimal(0) <= percent < 100:
        raise InvalidPaymentMethodFee("the percentage fee is at least 0 and below 100", field="feePercent")
    name = spec.display_name.strip()
    if len(name) > MAX_NAME:
        raise InvalidPaymentMethod("the display name is at most 100 characters", field="displayName")
    return replace(spec, code=code, currency=cur, country=country, provider=check_provider(spec.kind, spec.provider),
                   base_url=_url(spec.kind, spec.base_url), display_name=name or code, fee_percent=percent,
                   min_amount=amounts["min_amount"], max_amount=amounts["max_amount"],
                   fee_fixed=amounts["fee_fixed"], first_deposit_min=amounts["first_deposit_min"])


_COLS = ("id, code, kind, provider, display_name, base_url, currency, country, min_amount, max_amount, fee_fixed, "
         "fee_percent, first_deposit_min, deposits, withdrawals, enabled, created_at, updated_at")


def _rule(r: Any) -> MethodRule:
    m = dict(r._mapping)
    for k in ("min_amount", "max_amount", "fee_fixed", "fee_percent", "first_deposit_min"):
        m[k] = Decimal(m[k])
    return MethodRule(**m)


def _audited(rule: MethodSpec) -> dict[str, Any]:
    out = {k: (format(v.normalize(), "f") if isinstance(v, Decimal) else v)
           for k, v in asdict(rule).items() if k in (*MUTABLE, "code", "currency", "country", "enabled")}
    return out


async def _kind_agrees(session: AsyncSession, spec: MethodSpec, rule_id: int | None) -> None:
    """One code is one kind of method in every currency and country (payments record the kind)."""
    other = await session.scalar(text(
        "SELECT kind FROM payment_methods WHERE code = :c AND kind <> :k AND id IS DISTINCT FROM :id LIMIT 1"),
        {"c": spec.code, "k": spec.kind, "id": rule_id})
    if other is not None:
        raise InvalidPaymentMethod(f"{spec.code} is a {other} method in other currencies or countries", field="kind")


async def rule_for(session: AsyncSession, rule_id: int, *, lock: bool = False) -> MethodRule:
    row = (await session.execute(text(
        f"SELECT {_COLS} FROM payment_methods WHERE id = :id" + (" FOR UPDATE" if lock else "")),  # noqa: S608
        {"id": rule_id})).first()
    if row is None:
        raise PaymentMethodNotFound("no such payment method", field="id")
    return _rule(row)


async def create(session: AsyncSession, actor: Actor, spec: MethodSpec) -> MethodRule:
    spec = validate(spec)
    await _kind_agrees(session, spec, None)
    row = (await session.execute(text(
        "INSERT INTO payment_methods (code, kind, provider, display_name, base_url, currency, country, min_amount, "  # noqa: S608
        "max_amount, fee_fixed, fee_percent, first_deposit_min, deposits, withdrawals) VALUES (:code, :kind, "
        ":provider, :display_name, :base_url, :currency, :country, :min_amount, :max_amount, :fee_fixed, "
        f":fee_percent, :first_deposit_min, :deposits, :withdrawals) ON CONFLICT DO NOTHING RETURNING {_COLS}"),
        asdict(spec))).first()
    if row is None:
        raise PaymentMethodExists(f"{spec.code} already has a rule for {spec.currency} in {spec.country}; "
                                  "update that one", field="code")
    rule = _rule(row)
    await record(session, actor, action="payment_method.created", entity_type="payment_method", entity_id=rule.id,
                 after=_audited(rule), category="payments")
    return rule


async def update(session: AsyncSession, actor: Actor, rule_id: int, changes: dict[str, Any]) -> MethodRule:
    """Change some of a rule's MUTABLE fields; the merged rule is validated as a whole."""
    unknown = set(changes) - set(MUTABLE)
    assert not unknown, unknown  # the schema only hands over these
    current = await rule_for(session, rule_id, lock=True)
    as_spec = MethodSpec(**{k: getattr(current, k) for k in MethodSpec.__dataclass_fields__})
    spec = validate(replace(as_spec, **changes))
    if spec == as_spec:
        return current  # nothing to change, nothing to audit
    await _kind_agrees(session, spec, rule_id)
    sets = ", ".join(f"{k} = :{k}" for k in MUTABLE)  # column names from the code, values bound
    row = (await session.execute(text(
        f"UPDATE payment_methods SET {sets}, updated_at = now() WHERE id = :id RETURNING {_COLS}"),  # noqa: S608
        {**{k: getattr(spec, k) for k in MUTABLE}, "id": rule_id})).one()
    rule = _rule(row)
    await record(session, actor, action="payment_method.updated", entity_type="payment_method",
                 entity_id=rule_id, before=_audited(current), after=_audited(rule), category="payments")
    return rule


async def set_enabled(session: AsyncSession, actor: Actor, rule_id: int, enabled: bool) -> MethodRule:
    current = await rule_for(session, rule_id, lock=True)
    if current.enabled == enabled:
        return current
    row = (await session.execute(text(
        f"UPDATE payment_methods SET enabled = :e, updated_at = now() WHERE id = :id RETURNING {_COLS}"),  # noqa: S608
        {"e": enabled, "id": rule_id})).one()
    await record(session, actor, action="payment_method.enabled" if enabled else "payment_method.disabled",
                 entity_type="payment_method", entity_id=rule_id, before={"enabled": current.enabled},
                 after={"enabled": enabled}, category="payments")
    return _rule(row)


async def rules_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, MethodRule]:
    """Rules by id, disabled ones included (one statement)."""
    rows = (await session.execute(text(f"SELECT {_COLS} FROM payment_methods WHERE id = ANY(:ids)"),  # noqa: S608
                                  {"ids": ids})).all()
    return {int(r.id): _rule(r) for r in rows}


async def list_rules(session: AsyncSession, *, code: str | None = None, currency: str | None = None,
                     country: str | None = None) -> list[MethodRule]:
    """Every rule, disabled ones included, by code, currency and country ('*' first)."""
    rows = (await session.execute(text(
        f"SELECT {_COLS} FROM payment_methods WHERE (CAST(:code AS text) IS NULL OR code = :code) "  # noqa: S608
        "AND (CAST(:cur AS text) IS NULL OR currency = :cur) "
        "AND (CAST(:country AS text) IS NULL OR country = :country) "
        "ORDER BY code, currency, (country <> '*'), country"),
        {"code": code.strip().lower() if code else None, "cur": currency.upper() if currency else None,
         "country": country.strip().upper() if country else None})).all()
    return [_rule(r) for r in rows]
