"""Commission plans: versioned, effective-dated, assigned per IB (a default plan covers the rest).

A version is a list of clauses. Each clause says what it pays on (per lot, share of the commission
or of the spread markup, revenue share, CPA), which deals it matches, and how it distributes over
the levels of the upline (level 0 = the client's own IB):

- `percent`: level L earns `base_rate * level_rates[L]` per unit (e.g. $10/lot x 20%/5%/2%);
- `override`: `level_rates` are each level's own rate, and level L earns
  `level_rates[L] - level_rates[L - 1]` (a master earns its rate minus its sub-IB's).

The per-level payout rates are derived once, here, and stored with the clause; a clause whose
levels would pay more than `max_total` per unit (or a share above 100%) is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.ib import PLAN_CATEGORY
from domain.ib.errors import InvalidPlan, PlanExceedsCap, PlanNotFound, PlanVersionOverlap, RetroactiveNotAllowed
from domain.ib.network import PAST_TOLERANCE, require_approved
from domain.shared.actor import Actor
from domain.shared.db import utcnow
from domain.shared.errors import Conflict, DomainError, ValidationFailed
from domain.shared.money import currency as currency_info
from domain.shared.money import parse_decimal
from domain.shared.pagination import Page, PageRequest, sql_page

ONE = Decimal(1)
MAX_LEVELS = 20


class ClauseKind(StrEnum):
    PER_LOT = "per_lot"
    SPREAD_SHARE = "spread_share"
    COMMISSION_SHARE = "commission_share"
    REVENUE_SHARE = "revenue_share"
    CPA = "cpa"


SHARE_KINDS = frozenset({ClauseKind.SPREAD_SHARE, ClauseKind.COMMISSION_SHARE, ClauseKind.REVENUE_SHARE})


class Distribution(StrEnum):
    OVERRIDE = "override"
    PERCENT = "percent"


class Side(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    BOTH = "both"


@dataclass(frozen=True)
class ClauseSpec:
    kind: ClauseKind
    level_rates: tuple[Decimal, ...]
    # percent: the amount per unit the levels share (per-lot amount, or fraction of commission/markup/revenue,
    # or the CPA amount); override: unused (1).
    base_rate: Decimal = ONE
    # The most all levels together may earn per unit.
    max_total: Decimal = ONE
    # Patterns where % and _ are wildcards and every other character is literal (matched with LIKE ... ESCAPE '':
    # MT5 group names such as real\raw carry backslashes, which LIKE would otherwise read as an escape).
    symbols: tuple[str, ...] | None = None  # e.g. ("EUR%", "XAUUSD"); None = all
    excluded_symbols: tuple[str, ...] = ()
    account_groups: tuple[str, ...] | None = None  # patterns (as symbols) over the account's group
    excluded_logins: tuple[int, ...] = ()
    side: Side = Side.BOTH
    lot_modifier: Decimal = ONE
    markup_pips: Decimal = Decimal(0)  # spread_share: the markup built into the group's spread
    min_hold_seconds: int = 0
    params: dict[str, Any] = field(default_factory=dict)  # cpa / revenue_share settings


def payout_rates(distribution: Distribution, spec: ClauseSpec) -> tuple[Decimal, ...]:
    """What each level earns per unit; refuses clauses paying more than the plan allows."""
    rates = spec.level_rates
    if not 1 <= len(rates) <= MAX_LEVELS:
        raise InvalidPlan(f"a clause has 1 to {MAX_LEVELS} levels", field="levelRates")
    if any(r < 0 for r in rates) or spec.base_rate < 0 or spec.max_total < 0:
        raise InvalidPlan("rates cannot be negative", field="levelRates")
    if spec.kind in SHARE_KINDS and spec.max_total > ONE:
        raise PlanExceedsCap("a share clause cannot pay more than 100%", field="maxTotal")
    if distribution is Distribution.PERCENT:
        if sum(rates) > ONE:
            raise PlanExceedsCap("level percentages add up to more than 100%", field="levelRates")
        out = tuple(spec.base_rate * r for r in rates)
    else:
        if any(b < a for a, b in pairwise(rates)):
            raise PlanExceedsCap("override rates must not decrease up the tree", field="levelRates")
        out = tuple(r - p for r, p in zip(rates, (Decimal(0), *rates[:-1]), strict=True))
    if sum(out) > spec.max_total:
        raise PlanExceedsCap(f"the levels pay {sum(out)} per unit, above the plan's {spec.max_total}",
                             field="levelRates")
    return out


def _validate(spec: ClauseSpec) -> None:
    if spec.min_hold_seconds < 0 or (spec.min_hold_seconds and spec.side is not Side.CLOSE):
        raise InvalidPlan("a minimum holding time applies to closing deals only (side=close)", field="minHoldSeconds")
    if spec.lot_modifier <= 0:
        raise InvalidPlan("lot modifiers are positive", field="lotModifier")
    if spec.kind is ClauseKind.SPREAD_SHARE and spec.markup_pips <= 0:
        raise InvalidPlan("a spread markup share needs the markup in pips", field="markupPips")
    if spec.kind is ClauseKind.CPA:
        needed = {"min_deposit", "deposit_days", "min_lots", "lots_days"}
        if not needed <= set(spec.params):
            raise InvalidPlan(f"a CPA clause needs {sorted(needed)}", field="params")
        _param_amount(spec.params, "min_deposit")
        _param_amount(spec.params, "min_lots")
        _param_days(spec.params, "deposit_days")
        _param_days(spec.params, "lots_days")
    if spec.kind is ClauseKind.REVENUE_SHARE:
        if "cost_per_lot" in spec.params:
            _param_amount(spec.params, "cost_per_lot")
        if not isinstance(spec.params.get("carry_forward", True), bool):
            raise InvalidPlan("carry_forward is true or false", field="params.carry_forward")


# The accruals cast these params in SQL ((params->>'min_deposit')::numeric, ...): a value that does not
# cast would fail every later accrual run, so it is refused when the version is added.
def _param_amount(params: dict[str, Any], key: str) -> None:
    value = params[key]
    try:
        amount = parse_decimal(str(value) if isinstance(value, int | Decimal) else value, field=f"params.{key}")
    except DomainError:
        raise InvalidPlan(f"{key} is a plain decimal such as 100 or 0.5", field=f"params.{key}") from None
    if amount < 0 or isinstance(value, bool):
        raise InvalidPlan(f"{key} cannot be negative", field=f"params.{key}")


def _param_days(params: dict[str, Any], key: str) -> None:
    value = params[key]
    days = value if isinstance(value, int) and not isinstance(value, bool) else (
        int(value) if isinstance(value, str) and value.isdigit() else None)
    if days is None or not 1 <= days <= 3650:
        raise InvalidPlan(f"{key} is a whole number of days from 1 to 3650", field=f"params.{key}")


@contextmanager
def at_clause(index: int) -> Iterator[None]:
    """Name the clause at fault in an error's field (`clauses[1].markupPips`), so a form with several
    clauses shows it beside the right one."""
    try:
        yield
    except DomainError as e:
        e.field = f"clauses[{index}].{e.field}" if e.field else f"clauses[{index}]"
        raise


async def create_plan(session: AsyncSession, actor: Actor, *, name: str, currency: str,
                      is_default: bool = False) -> int:
    cur = currency_info(currency)
    name = name.strip()
    if not 0 < len(name) <= 120:
        raise ValidationFailed("a plan name has 1 to 120 characters", field="name")
    if is_default:
        await session.execute(text("UPDATE ib_plans SET is_default = false WHERE is_default"))
    plan_id = await session.scalar(text(
        "INSERT INTO ib_plans (name, currency, scale, is_default) VALUES (:n, :c, :s, :d) "
        "ON CONFLICT (name) DO NOTHING RETURNING id"), {"n": name, "c": cur.code, "s": cur.scale, "d": is_default})
    if plan_id is None:
        raise Conflict("a plan with this name exists", field="name")
    await record(session, actor, action="ib.plan_created", entity_type="ib_plan", entity_id=int(plan_id),
                 after={"name": name, "currency": cur.code, "is_default": is_default}, category=PLAN_CATEGORY)
    return int(plan_id)


async def add_version(
    session: AsyncSession, actor: Actor, plan_id: int, *, distribution: Distribution, clauses: list[ClauseSpec],
    valid_from: datetime, valid_to: datetime | None = None, allow_retroactive: bool = False,
) -> int:
    """A new version in force during [valid_from, valid_to).

    An open-ended latest version starting earlier is closed at `valid_from` (a successor); any
    other overlap is refused, as is a start in the past without `allow_retroactive`.
    """
    if not clauses:
        raise InvalidPlan("a plan version needs at least one clause", field="clauses")
    if valid_to is not None and valid_to <= valid_from:
        raise InvalidPlan("validTo must be after validFrom", field="validTo")
    if valid_from < utcnow() - PAST_TOLERANCE and not allow_retroactive:
        raise RetroactiveNotAllowed("a plan version starting in the past needs allowRetroactive", field="validFrom")
    derived = []
    for i, spec in enumerate(clauses):
        with at_clause(i):
            _validate(spec)
            derived.append(payout_rates(distribution, spec))
    if await session.scalar(text("SELECT 1 FROM ib_plans WHERE id = :id FOR UPDATE"), {"id": plan_id}) is None:
        raise PlanNotFound("no such plan", field="planId")
    versions = (await session.execute(text(
        "SELECT id, valid_from, valid_to FROM ib_plan_versions WHERE plan_id = :p ORDER BY valid_from"),
        {"p": plan_id})).all()
    successor_of: int | None = None
    for v in versions:
        overlaps = v.valid_from < (valid_to or datetime.max.replace(tzinfo=valid_from.tzinfo)) and (
            v.valid_to is None or v.valid_to > valid_from)
        if not overlaps:
            continue
        if v.valid_to is None and v.valid_from < valid_from and v is versions[-1] and valid_to is None:
            successor_of = int(v.id)
            continue
        raise PlanVersionOverlap("this version overlaps another version of the plan", field="validFrom")
    if successor_of is not None:
        await session.execute(text("UPDATE ib_plan_versions SET valid_to = :t WHERE id = :id"),
                              {"t": valid_from, "id": successor_of})
    version_id = await session.scalar(text(
        "INSERT INTO ib_plan_versions (plan_id, version, distribution, valid_from, valid_to, created_by) "
        "VALUES (:p, (SELECT coalesce(max(version), 0) + 1 FROM ib_plan_versions WHERE plan_id = :p), "
        ":d, :f, :t, :by) "
        "RETURNING id"),
        {"p": plan_id, "d": distribution.value, "f": valid_from, "t": valid_to, "by": actor.user_id})
    for no, (spec, rates) in enumerate(zip(clauses, derived, strict=True), start=1):
        await session.execute(text(
            "INSERT INTO ib_plan_clauses (version_id, clause_no, kind, base_rate, level_rates, payout_rates, "
            "max_total, "
            "symbols, excluded_symbols, account_groups, excluded_logins, side, lot_modifier, markup_pips, "
            "min_hold_seconds, params) VALUES (:v, :no, :k, :b, :lr, :pr, :mt, :sy, :xs, :ag, :xl, :side, :lm, :mp, "
            ":mh, CAST(:params AS jsonb))"),
            {"v": version_id, "no": no, "k": spec.kind.value, "b": spec.base_rate, "lr": list(spec.level_rates),
             "pr": list(rates), "mt": spec.max_total, "sy": list(spec.symbols) if spec.symbols is not None else None,
             "xs": list(spec.excluded_symbols),
             "ag": list(spec.account_groups) if spec.account_groups is not None else None,
             "xl": list(spec.excluded_logins), "side": spec.side.value, "lm": spec.lot_modifier,
             "mp": spec.markup_pips, "mh": spec.min_hold_seconds, "params": _json(spec.params)})
    await record(session, actor, action="ib.plan_version_added", entity_type="ib_plan", entity_id=plan_id,
                 after={"version_id": int(version_id), "distribution": distribution.value,
                        "valid_from": valid_from.isoformat(), "valid_to": valid_to.isoformat() if valid_to else None,
                        "clauses": [{"kind": s.kind.value, "level_rates": [str(r) for r in s.level_rates],
                                     "payout_rates": [str(r) for r in d]}
                                    for s, d in zip(clauses, derived, strict=True)]}, category=PLAN_CATEGORY)
    return int(version_id)


def _json(value: dict[str, Any]) -> str:
    import orjson

    return orjson.dumps(value, default=str).decode()


async def assign(session: AsyncSession, actor: Actor, ib_id: int, plan_id: int, *, effective_from: datetime,
                 reason: str = "", allow_retroactive: bool = False) -> None:
    """The plan an IB's clients' deals are paid under from `effective_from`."""
    await require_approved(session, ib_id)
    if effective_from < utcnow() - PAST_TOLERANCE and not allow_retroactive:
        raise RetroactiveNotAllowed("an assignment dated in the past needs allowRetroactive", field="effectiveFrom")
    if await session.scalar(text("SELECT 1 FROM ib_plans WHERE id = :id"), {"id": plan_id}) is None:
        raise PlanNotFound("no such plan", field="planId")
    await session.execute(text("SELECT 1 FROM ib_partners WHERE user_id = :id FOR UPDATE"), {"id": ib_id})
    current = (await session.execute(text(
        "SELECT plan_id, valid_from FROM ib_plan_assignments WHERE ib_id = :ib AND valid_to IS NULL"),
        {"ib": ib_id})).first()
    if current is not None:
        if current.valid_from >= effective_from:
            raise PlanVersionOverlap("the assignment must start after the current one", field="effectiveFrom")
        await session.execute(text(
            "UPDATE ib_plan_assignments SET valid_to = :t WHERE ib_id = :ib AND valid_to IS NULL"),
            {"t": effective_from, "ib": ib_id})
    await session.execute(text(
        "INSERT INTO ib_plan_assignments (ib_id, plan_id, valid_from, reason, created_by) "
        "VALUES (:ib, :p, :t, :r, :by)"),
        {"ib": ib_id, "p": plan_id, "t": effective_from, "r": reason[:2000], "by": actor.user_id})
    await record(session, actor, action="ib.plan_assigned", entity_type="ib_partner", entity_id=ib_id,
                 before={"plan_id": current.plan_id if current else None},
                 after={"plan_id": plan_id, "effective_from": effective_from.isoformat()}, reason=reason or None,
                 category=PLAN_CATEGORY)


@dataclass(frozen=True)
class PlanSummary:
    """A plan as staff list it: its latest version and the IBs on it now."""

    id: int
    name: str
    currency: str
    is_default: bool
    created_at: datetime
    latest_version: int | None
    latest_valid_from: datetime | None
    current_ibs: int


_PLAN_SUMMARY = (
    "p.id, p.name, p.currency, p.is_default, p.created_at, "
    "(SELECT max(v.version) FROM ib_plan_versions v WHERE v.plan_id = p.id) AS latest_version, "
    "(SELECT v.valid_from FROM ib_plan_versions v WHERE v.plan_id = p.id ORDER BY v.version DESC LIMIT 1) "
    "AS latest_valid_from, "
    "(SELECT count(*) FROM ib_plan_assignments a WHERE a.plan_id = p.id AND a.valid_to IS NULL) AS current_ibs"
)


def _summary(row: Any) -> PlanSummary:
    m = row._mapping
    return PlanSummary(int(m["id"]), m["name"], m["currency"], bool(m["is_default"]), m["created_at"],
                       m["latest_version"], m["latest_valid_from"], int(m["current_ibs"]))


async def list_plans(session: AsyncSession, page: PageRequest) -> Page[PlanSummary]:
    """Every commission plan, oldest first."""
    return await sql_page(session, page, columns=_PLAN_SUMMARY, source="ib_plans p", where=[], params={},
                          key=("p.id",), descending=False, convert=_summary)


async def plans_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, PlanSummary]:
    rows = (await session.execute(text(
        f"SELECT {_PLAN_SUMMARY} FROM ib_plans p WHERE p.id = ANY(CAST(:ids AS bigint[]))"),  # noqa: S608
        {"ids": ids})).all()
    return {s.id: s for s in map(_summary, rows)}


@dataclass(frozen=True)
class StoredClause:
    """A clause as stored: what staff entered and the per-level payout rates derived from it."""

    clause_no: int
    kind: str
    base_rate: Decimal
    level_rates: tuple[Decimal, ...]
    payout_rates: tuple[Decimal, ...]
    max_total: Decimal
    symbols: tuple[str, ...] | None
    excluded_symbols: tuple[str, ...]
    account_groups: tuple[str, ...] | None
    side: str
    lot_modifier: Decimal
    markup_pips: Decimal
    min_hold_seconds: int
    params: dict[str, Any]


@dataclass(frozen=True)
class PlanVersion:
    id: int
    plan_id: int
    version: int
    distribution: str
    valid_from: datetime
    valid_to: datetime | None
    created_by: int | None
    created_at: datetime
    clauses: tuple[StoredClause, ...]


async def versions_of(session: AsyncSession, plan_ids: list[int]) -> dict[int, list[PlanVersion]]:
    """Each plan's versions, newest first, with their clauses (two queries for any number of plans)."""
    rows = (await session.execute(text(
        "SELECT id, plan_id, version, distribution, valid_from, valid_to, created_by, created_at "
        "FROM ib_plan_versions WHERE plan_id = ANY(CAST(:ids AS bigint[])) ORDER BY plan_id, version DESC"),
        {"ids": plan_ids})).all()
    clauses: dict[int, list[StoredClause]] = {}
    if rows:
        for c in (await session.execute(text(
                "SELECT version_id, clause_no, kind, base_rate, level_rates, payout_rates, max_total, symbols, "
                "excluded_symbols, account_groups, side, lot_modifier, markup_pips, min_hold_seconds, params "
                "FROM ib_plan_clauses WHERE version_id = ANY(CAST(:ids AS bigint[])) "
                "ORDER BY version_id, clause_no"), {"ids": [r.id for r in rows]})).all():
            clauses.setdefault(int(c.version_id), []).append(StoredClause(
                int(c.clause_no), c.kind, c.base_rate, tuple(c.level_rates), tuple(c.payout_rates), c.max_total,
                tuple(c.symbols) if c.symbols is not None else None, tuple(c.excluded_symbols),
                tuple(c.account_groups) if c.account_groups is not None else None, c.side, c.lot_modifier,
                c.markup_pips, int(c.min_hold_seconds), dict(c.params)))
    out: dict[int, list[PlanVersion]] = {k: [] for k in plan_ids}
    for r in rows:
        out[int(r.plan_id)].append(PlanVersion(
            int(r.id), int(r.plan_id), int(r.version), r.distribution, r.valid_from, r.valid_to,
            int(r.created_by) if r.created_by is not None else None, r.created_at,
            tuple(clauses.get(int(r.id), ()))))
    return out
