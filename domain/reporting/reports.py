"""Reports over the daily rollups (never over raw deals), and the rows behind each figure.

- Revenue by symbol, asset class, trading server, account group, book or desk, per day, week or month;
  deposits, withdrawals, net deposits and first-time deposits by method, currency, country or desk.
- Chart-shaped: every line has a point per time bucket of the period (zero where nothing happened);
  the top N keys by net revenue (deposits) are lines of their own, the rest one "other" line.
- Drill-down: the deals (postings) behind a figure, filtered by the same dimension, key, period and
  desk scope, computed with the rollups' own expressions, so they sum to the figure exactly (while
  the attribution they were counted under still holds; a rebuild re-attributes).
- Scope: back-office staff (domain/clients/access.py) see the whole firm; other staff their desk's
  clients only, and nothing without a desk.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients.access import is_back_office
from domain.reporting.errors import ReportDimensionInvalid, ReportPeriodInvalid
from domain.reporting.rollups import DEAL_FACTS, MONEY_FACTS, day_start
from domain.shared.actor import Actor, ActorKind
from domain.shared.pagination import Page, PageRequest, sql_page

MAX_DAYS = 3_700
MAX_TOP = 50
ZERO = Decimal(0)


class Bucket(enum.Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class RevenueDimension(enum.Enum):
    SYMBOL = "symbol"
    ASSET_CLASS = "asset_class"
    SERVER = "server"
    GROUP = "group"
    BOOK = "book"
    DESK = "desk"


class MoneyDimension(enum.Enum):
    METHOD = "method"
    CURRENCY = "currency"
    COUNTRY = "country"
    DESK = "desk"


_ASSET_CLASS = "COALESCE((SELECT i.asset_class FROM trading_instruments i WHERE i.server_id = {t}.server_id " \
               "AND i.symbol = {t}.symbol), '')"
_REVENUE_KEY = {
    RevenueDimension.SYMBOL: "{t}.symbol", RevenueDimension.ASSET_CLASS: _ASSET_CLASS,
    RevenueDimension.SERVER: "{t}.server_id::text", RevenueDimension.GROUP: "{t}.grp",
    RevenueDimension.BOOK: "{t}.book", RevenueDimension.DESK: "{t}.desk",
}
_MONEY_KEY = {d: "{t}." + d.value for d in MoneyDimension}


def _key_sql(dimension: Any, table: str, keys: dict[Any, str]) -> str:
    if dimension not in keys:
        raise ReportDimensionInvalid("unknown dimension", field="dimension")
    return keys[dimension].format(t=table)


@dataclass(frozen=True)
class Scope:
    """Which desks' figures the caller sees: every desk (`desk` None), one desk, or nothing."""

    desk: str | None
    nothing: bool = False

    def where(self, column: str) -> tuple[str, dict[str, Any]]:
        if self.nothing:
            return "false", {}
        if self.desk is None:
            return "true", {}
        return f"{column} = :scope_desk", {"scope_desk": self.desk}


def scope_of(actor: Actor) -> Scope:
    if actor.kind is ActorKind.SYSTEM or is_back_office(actor):
        return Scope(None)
    if actor.kind is ActorKind.STAFF and actor.desk:
        return Scope(actor.desk)
    return Scope(None, nothing=True)


def check_period(since: date, until: date) -> None:
    if until <= since:
        raise ReportPeriodInvalid("until must be after since", field="until")
    if (until - since).days > MAX_DAYS:
        raise ReportPeriodInvalid(f"a report spans at most {MAX_DAYS} days", field="until")


def _check_top(top: int) -> None:
    if not 1 <= top <= MAX_TOP:
        raise ReportDimensionInvalid(f"top is between 1 and {MAX_TOP}", field="top")


def bucket_of(day: date, bucket: Bucket) -> date:
    if bucket is Bucket.WEEK:
        return day - timedelta(days=day.weekday())
    if bucket is Bucket.MONTH:
        return day.replace(day=1)
    return day


def buckets(since: date, until: date, bucket: Bucket) -> list[date]:
    out, day = [], bucket_of(since, bucket)
    while day < until:
        out.append(day)
        if bucket is Bucket.DAY:
            day += timedelta(days=1)
        elif bucket is Bucket.WEEK:
            day += timedelta(days=7)
        else:
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


_BUCKET_SQL = {Bucket.DAY: "r.day", Bucket.WEEK: "date_trunc('week', r.day)::date",
               Bucket.MONTH: "date_trunc('month', r.day)::date"}


@dataclass
class RevenueFigures:
    deals: int = 0
    volume_lots: Decimal = ZERO
    notional_usd: Decimal = ZERO
    markup_usd: Decimal = ZERO
    commission_usd: Decimal = ZERO
    fee_usd: Decimal = ZERO
    swap_usd: Decimal = ZERO
    client_pnl_usd: Decimal = ZERO
    bbook_pnl_usd: Decimal = ZERO
    unpriced: int = 0
    lp_cost_usd: Decimal = ZERO

    @property
    def net_revenue_usd(self) -> Decimal:
        return (self.markup_usd + self.commission_usd + self.fee_usd + self.swap_usd + self.bbook_pnl_usd
                - self.lp_cost_usd)

    def add(self, other: RevenueFigures) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class MoneyFigures:
    deposits: int = 0
    deposits_usd: Decimal = ZERO
    withdrawals: int = 0
    withdrawals_usd: Decimal = ZERO
    first_deposits: int = 0
    first_deposits_usd: Decimal = ZERO
    unpriced: int = 0

    @property
    def net_deposits_usd(self) -> Decimal:
        return self.deposits_usd - self.withdrawals_usd

    def add(self, other: MoneyFigures) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class Line:
    key: str | None  # None: the "other" line
    total: Any
    points: list[tuple[date, Any]] = field(default_factory=list)


@dataclass
class Report:
    since: date
    until: date
    bucket: Bucket
    dimension: Any
    buckets: list[date]
    lines: list[Line]
    total: Any


def _shape(since: date, until: date, bucket: Bucket, dimension: Any, cells: dict[tuple[str, date], Any],
           make: Callable[[], Any], rank: Callable[[Any], Decimal], top: int) -> Report:
    """Lines per key (the top N by `rank`, then one "other"), each with a point per bucket."""
    slots = buckets(since, until, bucket)
    per_key: dict[str, Any] = defaultdict(make)
    for (key, _b), figures in cells.items():
        per_key[key].add(figures)
    ranked = sorted(per_key, key=lambda k: (-rank(per_key[k]), k))
    kept, rest = ranked[:top], set(ranked[top:])
    total = make()
    for figures in per_key.values():
        total.add(figures)
    lines = []
    for key in kept:
        lines.append(Line(key, per_key[key], [(b, cells.get((key, b)) or make()) for b in slots]))
    if rest:
        other_total, other_points = make(), {b: make() for b in slots}
        for (key, b), figures in cells.items():
            if key in rest:
                other_total.add(figures)
                other_points[b].add(figures)
        lines.append(Line(None, other_total, list(other_points.items())))
    return Report(since, until, bucket, dimension, slots, lines, total)


async def revenue(session: AsyncSession, scope: Scope, since: date, until: date, dimension: RevenueDimension,
                  bucket: Bucket = Bucket.DAY, top: int = 10) -> Report:
    """Revenue per key of `dimension` and time bucket over days [since, until), from the daily rollups."""
    check_period(since, until)
    _check_top(top)
    key = _key_sql(dimension, "r", _REVENUE_KEY)
    desk, params = scope.where("r.desk")
    rows = (await session.execute(text(
        f"SELECT {key} AS key, {_BUCKET_SQL[bucket]} AS bucket, sum(deals) AS deals, sum(volume_lots) AS volume_lots, "  # noqa: S608
        "sum(notional_usd) AS notional_usd, sum(markup_usd) AS markup_usd, sum(commission_usd) AS commission_usd, "
        "sum(fee_usd) AS fee_usd, sum(swap_usd) AS swap_usd, sum(client_pnl_usd) AS client_pnl_usd, "
        "sum(bbook_pnl_usd) AS bbook_pnl_usd, sum(unpriced) AS unpriced, sum(lp_cost_usd) AS lp_cost_usd "
        f"FROM reporting_deal_daily r WHERE r.day >= :since AND r.day < :until AND {desk} GROUP BY 1, 2"),
        {"since": since, "until": until, **params})).all()
    cells = {(r.key, r.bucket): RevenueFigures(
        int(r.deals), r.volume_lots, r.notional_usd, r.markup_usd, r.commission_usd, r.fee_usd, r.swap_usd,
        r.client_pnl_usd, r.bbook_pnl_usd, int(r.unpriced), r.lp_cost_usd) for r in rows}
    return _shape(since, until, bucket, dimension, cells, RevenueFigures, lambda f: f.net_revenue_usd, top)


async def money_flow(session: AsyncSession, scope: Scope, since: date, until: date, dimension: MoneyDimension,
                     bucket: Bucket = Bucket.DAY, top: int = 10) -> Report:
    """Deposits, withdrawals and first deposits per key and time bucket over days [since, until)."""
    check_period(since, until)
    _check_top(top)
    key = _key_sql(dimension, "r", _MONEY_KEY)
    desk, params = scope.where("r.desk")
    bound = {"since": since, "until": until, **params}
    rows = (await session.execute(text(
        f"SELECT {key} AS key, {_BUCKET_SQL[bucket]} AS bucket, "  # noqa: S608
        "COALESCE(sum(movements) FILTER (WHERE direction = 'deposit'), 0) AS deposits, "
        "COALESCE(sum(amount_usd) FILTER (WHERE direction = 'deposit'), 0) AS deposits_usd, "
        "COALESCE(sum(movements) FILTER (WHERE direction = 'withdrawal'), 0) AS withdrawals, "
        "COALESCE(sum(amount_usd) FILTER (WHERE direction = 'withdrawal'), 0) AS withdrawals_usd, "
        "sum(unpriced) AS unpriced "
        f"FROM reporting_money_daily r WHERE r.day >= :since AND r.day < :until AND {desk} GROUP BY 1, 2"),
        bound)).all()
    cells = {(r.key, r.bucket): MoneyFigures(int(r.deposits), r.deposits_usd, int(r.withdrawals), r.withdrawals_usd,
                                             unpriced=int(r.unpriced)) for r in rows}
    ftd = (await session.execute(text(
        f"SELECT {key} AS key, {_BUCKET_SQL[bucket]} AS bucket, count(*) AS n, "  # noqa: S608
        "COALESCE(sum(amount_usd), 0) AS usd FROM reporting_first_deposits r "
        f"WHERE r.day >= :since AND r.day < :until AND {desk} GROUP BY 1, 2"), bound)).all()
    for r in ftd:
        cell = cells.setdefault((r.key, r.bucket), MoneyFigures())
        cell.first_deposits, cell.first_deposits_usd = int(r.n), r.usd
    return _shape(since, until, bucket, dimension, cells, MoneyFigures, lambda f: f.deposits_usd, top)


# --- drill-down -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DealRow:
    server_id: int
    deal_id: int
    time: datetime
    login: int
    symbol: str
    group: str
    book: str
    desk: str
    volume_lots: Decimal
    markup_usd: Decimal | None
    commission_usd: Decimal | None
    fee_usd: Decimal | None
    swap_usd: Decimal | None
    client_pnl_usd: Decimal | None
    bbook_pnl_usd: Decimal | None
    lp_cost_usd: Decimal
    user_id: int | None = None

    @property
    def net_revenue_usd(self) -> Decimal | None:
        total = -self.lp_cost_usd
        for part in (self.markup_usd, self.commission_usd, self.fee_usd, self.swap_usd, self.bbook_pnl_usd):
            if part is None:
                return None
            total += part
        return total


@dataclass(frozen=True)
class PostingRow:
    entry_id: int
    posting_id: int
    time: datetime
    user_id: int
    direction: str
    method: str
    currency: str
    country: str
    desk: str
    amount: Decimal
    amount_usd: Decimal | None
    first_deposit: bool


async def revenue_deals(session: AsyncSession, scope: Scope, since: date, until: date, page: PageRequest, *,
                        dimension: RevenueDimension | None = None, key: str | None = None,
                        user_id: int | None = None) -> Page[DealRow]:
    """The buy/sell deals behind a revenue figure: the period's, of this key of `dimension` (all without), of
    one client's accounts with `user_id` (a client figure's deals)."""
    check_period(since, until)
    desk, params = scope.where("f.desk")
    where = ["true", desk]
    if dimension is not None:
        where.append(f"{_key_sql(dimension, 'f', _REVENUE_KEY)} = :key")
        params["key"] = key or ""
    deals = "(SELECT * FROM trading_deals WHERE time >= :t0 AND time < :t1 AND action IN (0, 1))"
    if user_id is not None:
        deals = ("(SELECT * FROM trading_deals WHERE time >= :t0 AND time < :t1 AND action IN (0, 1) AND account_id IN "
                 "(SELECT x.id FROM trading_accounts x WHERE x.user_id = :user_id))")
        params["user_id"] = user_id
    source = f"({DEAL_FACTS.format(source=deals)}) f"
    return await sql_page(
        session, page, columns="f.*", source=source, where=where,
        params={"t0": day_start(since), "t1": day_start(until), **params},
        key=("f.time", "f.server_id", "f.deal_id"), descending=False,
        convert=lambda r: DealRow(int(r.server_id), int(r.deal_id), r.time, int(r.login), r.symbol, r.grp, r.book,
                                  r.desk, r.volume, r.markup_usd, r.commission_usd, r.fee_usd, r.swap_usd,
                                  r.client_pnl_usd, r.bbook_pnl_usd, r.lp_cost_usd, r.user_id))


async def money_postings(session: AsyncSession, scope: Scope, since: date, until: date, page: PageRequest, *,
                         direction: str | None = None, dimension: MoneyDimension | None = None,
                         key: str | None = None, first_deposits: bool = False,
                         user_id: int | None = None) -> Page[PostingRow]:
    """The client-wallet postings behind a deposit/withdrawal figure (or only first deposits)."""
    check_period(since, until)
    if direction not in (None, "deposit", "withdrawal"):
        raise ReportDimensionInvalid("direction is deposit or withdrawal", field="direction")
    desk, params = scope.where("f.desk")
    where = ["true", desk]
    if dimension is not None:
        where.append(f"{_key_sql(dimension, 'f', _MONEY_KEY)} = :key")
        params["key"] = key or ""
    if direction is not None:
        where.append("f.direction = :direction")
        params["direction"] = direction
    if first_deposits:
        where.append("f.first_deposit")
    if user_id is not None:
        where.append("f.user_id = :user_id")
        params["user_id"] = user_id
    source = ("(SELECT m.*, EXISTS (SELECT 1 FROM reporting_first_deposits x WHERE x.entry_id = m.entry_id) "  # noqa: S608
              "AS first_deposit FROM (" + MONEY_FACTS.format(source=(
                  "(SELECT * FROM ledger_entries WHERE ref_kind IN ('deposit', 'withdrawal', 'withdrawal_return') "
                  "AND created_at >= :t0 AND created_at < :t1)")) + ") m) f")
    return await sql_page(
        session, page, columns="f.*", source=source, where=where,
        params={"t0": day_start(since), "t1": day_start(until), **params},
        key=("f.created_at", "f.posting_id"), descending=False,
        convert=lambda r: PostingRow(int(r.entry_id), int(r.posting_id), r.created_at, int(r.user_id), r.direction,
                                     r.method, r.currency, r.country, r.desk, r.amount, r.amount_usd,
                                     bool(r.first_deposit)))
