"""GraphQL types of reports: figures per dimension and time bucket, shaped for charts, and the rows
behind them. USD figures are exact decimals (sums of exact per-deal products): round for display."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

import strawberry

from domain.reporting import funnel, reports
from domain.reporting.config import LpCommission, SpreadMarkup
from schema.node import global_id
from schema.reporting.source import ReportSource


@strawberry.enum(description="Time bucket of a report's points (weeks start on Monday; UTC days).")
class ReportBucket(enum.Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@strawberry.enum(description="What revenue is broken down by.")
class RevenueDimension(enum.Enum):
    SYMBOL = "symbol"
    ASSET_CLASS = "asset_class"
    SERVER = "server"
    GROUP = "group"
    BOOK = "book"
    DESK = "desk"


@strawberry.enum(description="What deposits and withdrawals are broken down by.")
class MoneyFlowDimension(enum.Enum):
    METHOD = "method"
    CURRENCY = "currency"
    COUNTRY = "country"
    DESK = "desk"


@strawberry.enum(description="Deposits or withdrawals.")
class MoneyDirection(enum.Enum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


@strawberry.type(description="Revenue figures in USD at each deal's rate. Net revenue = spread markup + commission "
                             "+ fee + swap + B-book P&L (the broker's share of the clients' losses and gains) - LP "
                             "cost (the A-booked volume at the LP's commission per lot, where configured).")
class RevenueFigures:
    deals: int
    volume_lots: Decimal
    notional_usd: Decimal
    spread_markup_usd: Decimal
    commission_usd: Decimal
    fee_usd: Decimal
    swap_usd: Decimal
    client_pnl_usd: Decimal
    b_book_pnl_usd: Decimal
    lp_cost_usd: Decimal = strawberry.field(
        description="What the liquidity providers charge on the A-booked share of the volume (per lot, configured "
                    "per server and symbol with setReportLpCommission; 0 where none is)")
    net_revenue_usd: Decimal
    unpriced_deals: int = strawberry.field(description="Deals of a currency without a USD rate (in no USD figure)")

    @classmethod
    def of(cls, f: reports.RevenueFigures) -> RevenueFigures:
        return cls(deals=f.deals, volume_lots=f.volume_lots, notional_usd=f.notional_usd,
                   spread_markup_usd=f.markup_usd, commission_usd=f.commission_usd, fee_usd=f.fee_usd,
                   swap_usd=f.swap_usd, client_pnl_usd=f.client_pnl_usd, b_book_pnl_usd=f.bbook_pnl_usd,
                   lp_cost_usd=f.lp_cost_usd, net_revenue_usd=f.net_revenue_usd, unpriced_deals=f.unpriced)


@strawberry.type(description="Client money in and out in USD at each entry's rate; first deposits by the day they "
                             "were made.")
class MoneyFlowFigures:
    deposits: int
    deposits_usd: Decimal
    withdrawals: int
    withdrawals_usd: Decimal
    net_deposits_usd: Decimal
    first_deposits: int
    first_deposits_usd: Decimal
    unpriced: int

    @classmethod
    def of(cls, f: reports.MoneyFigures) -> MoneyFlowFigures:
        return cls(deposits=f.deposits, deposits_usd=f.deposits_usd, withdrawals=f.withdrawals,
                   withdrawals_usd=f.withdrawals_usd, net_deposits_usd=f.net_deposits_usd,
                   first_deposits=f.first_deposits, first_deposits_usd=f.first_deposits_usd, unpriced=f.unpriced)


@strawberry.type(description="One time bucket of a line.")
class RevenuePoint:
    bucket: date
    figures: RevenueFigures


@strawberry.type(description="One key of the dimension (or, with `other`, every key beyond the top N).")
class RevenueLine:
    key: str | None
    other: bool
    total: RevenueFigures
    points: list[RevenuePoint]


@strawberry.type(description="Revenue by a dimension over [since, until), a point per bucket for each line.")
class RevenueReport:
    since: date
    until: date
    bucket: ReportBucket
    dimension: RevenueDimension
    buckets: list[date]
    lines: list[RevenueLine]
    total: RevenueFigures
    source: ReportSource = strawberry.field(description="Read on the replica or the primary, and why")

    @classmethod
    def of(cls, r: reports.Report, source: ReportSource) -> RevenueReport:
        return cls(source=source, since=r.since, until=r.until, bucket=ReportBucket(r.bucket.value),
                   dimension=RevenueDimension(r.dimension.value), buckets=r.buckets,
                   lines=[RevenueLine(key=x.key, other=x.key is None, total=RevenueFigures.of(x.total),
                                      points=[RevenuePoint(bucket=b, figures=RevenueFigures.of(f))
                                              for b, f in x.points])
                          for x in r.lines],
                   total=RevenueFigures.of(r.total))


@strawberry.type(description="One time bucket of a line.")
class MoneyFlowPoint:
    bucket: date
    figures: MoneyFlowFigures


@strawberry.type(description="One key of the dimension (or, with `other`, every key beyond the top N).")
class MoneyFlowLine:
    key: str | None
    other: bool
    total: MoneyFlowFigures
    points: list[MoneyFlowPoint]


@strawberry.type(description="Deposits, withdrawals and first deposits by a dimension over [since, until).")
class MoneyFlowReport:
    since: date
    until: date
    bucket: ReportBucket
    dimension: MoneyFlowDimension
    buckets: list[date]
    lines: list[MoneyFlowLine]
    total: MoneyFlowFigures
    source: ReportSource = strawberry.field(description="Read on the replica or the primary, and why")

    @classmethod
    def of(cls, r: reports.Report, source: ReportSource) -> MoneyFlowReport:
        return cls(source=source, since=r.since, until=r.until, bucket=ReportBucket(r.bucket.value),
                   dimension=MoneyFlowDimension(r.dimension.value), buckets=r.buckets,
                   lines=[MoneyFlowLine(key=x.key, other=x.key is None, total=MoneyFlowFigures.of(x.total),
                                        points=[MoneyFlowPoint(bucket=b, figures=MoneyFlowFigures.of(f))
                                                for b, f in x.points])
                          for x in r.lines],
                   total=MoneyFlowFigures.of(r.total))


@strawberry.type(description="A deal behind a revenue figure, with its part of each figure (USD).")
class ReportDeal:
    trading_server_id: strawberry.ID
    deal_id: int
    time: datetime
    login: int
    symbol: str
    group: str
    book: str
    desk: str
    volume_lots: Decimal
    spread_markup_usd: Decimal | None
    commission_usd: Decimal | None
    fee_usd: Decimal | None
    swap_usd: Decimal | None
    client_pnl_usd: Decimal | None
    b_book_pnl_usd: Decimal | None
    lp_cost_usd: Decimal
    net_revenue_usd: Decimal | None
    user_id: int | None = strawberry.field(description="The client (user) whose account made the deal")

    @classmethod
    def of(cls, d: reports.DealRow) -> ReportDeal:
        return cls(trading_server_id=global_id("TradingServer", d.server_id), deal_id=d.deal_id, time=d.time,
                   login=d.login, symbol=d.symbol,
                   group=d.group, book=d.book, desk=d.desk, volume_lots=d.volume_lots, spread_markup_usd=d.markup_usd,
                   commission_usd=d.commission_usd, fee_usd=d.fee_usd, swap_usd=d.swap_usd,
                   client_pnl_usd=d.client_pnl_usd, b_book_pnl_usd=d.bbook_pnl_usd, lp_cost_usd=d.lp_cost_usd,
                   net_revenue_usd=d.net_revenue_usd, user_id=d.user_id)


@strawberry.type(description="A client-wallet posting behind a deposit or withdrawal figure.")
class ReportPosting:
    entry_id: int
    posting_id: int
    time: datetime
    user_id: int
    direction: MoneyDirection
    method: str
    currency: str
    country: str
    desk: str
    amount: Decimal = strawberry.field(description="In the posting's currency; a returned withdrawal is negative")
    amount_usd: Decimal | None
    first_deposit: bool

    @classmethod
    def of(cls, p: reports.PostingRow) -> ReportPosting:
        return cls(entry_id=p.entry_id, posting_id=p.posting_id, time=p.time, user_id=p.user_id,
                   direction=MoneyDirection(p.direction), method=p.method, currency=p.currency, country=p.country,
                   desk=p.desk, amount=p.amount, amount_usd=p.amount_usd, first_deposit=p.first_deposit)


@strawberry.type(description="What a rebuild recomputed.")
class ReportRebuild:
    since: date
    until: date
    deal_rows: int
    money_rows: int
    first_deposits: int


@strawberry.type(description="The spread markup built into a group's prices.")
class ReportSpreadMarkup:
    trading_server_id: strawberry.ID
    group: str
    markup_pips: Decimal

    @classmethod
    def of(cls, m: SpreadMarkup) -> ReportSpreadMarkup:
        return cls(trading_server_id=global_id("TradingServer", m.server_id), group=m.group, markup_pips=m.markup_pips)


@strawberry.type(description="What the liquidity provider charges per lot on a server's symbol (A-booked volume).")
class ReportLpCommission:
    trading_server_id: strawberry.ID
    symbol: str
    per_lot_usd: Decimal

    @classmethod
    def of(cls, c: LpCommission) -> ReportLpCommission:
        return cls(trading_server_id=global_id("TradingServer", c.server_id), symbol=c.symbol,
                   per_lot_usd=c.per_lot_usd)


@strawberry.enum(description="What the acquisition funnel is broken down by (IB: the referral code clients came with).")
class FunnelDimension(enum.Enum):
    CAMPAIGN = "campaign"
    SOURCE = "source"
    COUNTRY = "country"
    IB = "ib"


@strawberry.type(description="One key's funnel: counts per step, each step's share of the registered clients, and "
                             "median hours between steps (null without a client reaching the later step).")
class FunnelLine:
    key: str | None
    leads: int
    converted_leads: int
    lead_conversion: Decimal | None
    registered: int
    verified: int
    approved: int
    first_deposits: int
    first_trades: int
    verified_share: Decimal | None
    approved_share: Decimal | None
    first_deposit_share: Decimal | None
    first_trade_share: Decimal | None
    median_hours_to_verify: Decimal | None
    median_hours_to_approve: Decimal | None
    median_hours_to_first_deposit: Decimal | None
    median_hours_first_deposit_to_first_trade: Decimal | None

    @classmethod
    def of(cls, x: funnel.FunnelLine) -> FunnelLine:
        return cls(key=x.key, leads=x.leads, converted_leads=x.converted_leads,
                   lead_conversion=x.rate(x.converted_leads, x.leads), registered=x.registered,
                   verified=x.verified, approved=x.approved, first_deposits=x.first_deposits,
                   first_trades=x.first_trades, verified_share=x.rate(x.verified, x.registered),
                   approved_share=x.rate(x.approved, x.registered),
                   first_deposit_share=x.rate(x.first_deposits, x.registered),
                   first_trade_share=x.rate(x.first_trades, x.registered),
                   median_hours_to_verify=x.median_hours_to_verify,
                   median_hours_to_approve=x.median_hours_to_approve,
                   median_hours_to_first_deposit=x.median_hours_to_first_deposit,
                   median_hours_first_deposit_to_first_trade=x.median_hours_first_deposit_to_first_trade)


@strawberry.type(description="Lead -> registered -> verified -> approved -> first deposit -> first trade for the "
                             "clients registered (and leads captured) in [since, until).")
class FunnelReport:
    since: date
    until: date
    dimension: FunnelDimension
    lines: list[FunnelLine]
    total: FunnelLine

    @classmethod
    def of(cls, f: funnel.Funnel) -> FunnelReport:
        return cls(since=f.since, until=f.until, dimension=FunnelDimension(f.dimension.value),
                   lines=[FunnelLine.of(x) for x in f.lines], total=FunnelLine.of(f.total))
