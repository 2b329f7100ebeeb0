"""GraphQL types of the risk context, written by hand."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.risk.desk import AssignmentRow, Flag, ThresholdSet, as_json
from domain.risk.exposure import Dimension, ExposureLine, ExposureReport, HistoryPoint, TopClient
from domain.risk.limits import Alert, Limit
from domain.risk.metrics import ClientMetrics
from domain.risk.segmentation import Rule
from domain.risk.whatif import WhatIfLine, WhatIfReport
from domain.shared.money import at_scale
from schema.clients.ids import client_id_of, user_id_of
from schema.node import DATABASE_ID_DOC, Node, bare_id_deprecation, global_id, optional_global_id
from schema.scalars import Money

ExposureDimension = strawberry.enum(Dimension, name="ExposureDimension")


@strawberry.type(description="Net exposure of one breakdown key; money in USD at current prices.")
class ExposureLineType:
    key: str
    net_lots: Decimal
    long_lots: Decimal
    short_lots: Decimal
    positions: int
    base_units: Decimal | None = strawberry.field(description="Units of the base currency (symbol breakdown only).")
    notional_usd: Money | None  # type: ignore[valid-type]
    gross_usd: Money | None  # type: ignore[valid-type]
    client_pnl_usd: Money | None = strawberry.field(description="Clients' floating P&L.")  # type: ignore[valid-type]
    bbook_pnl_usd: Money | None = strawberry.field(description="The broker's floating P&L on the B-booked share.")  # type: ignore[valid-type]

    @classmethod
    def from_line(cls, x: ExposureLine) -> ExposureLineType:
        return cls(key=x.key, net_lots=x.net_lots, long_lots=x.long_lots, short_lots=x.short_lots,
                   positions=x.positions, base_units=x.base_units, notional_usd=x.notional_usd,
                   gross_usd=x.gross_usd, client_pnl_usd=x.client_pnl_usd, bbook_pnl_usd=x.bbook_pnl_usd)


@strawberry.type(description="Exposure broken down by one dimension, with what could not be valued.")
class ExposureReportType:
    dimension: ExposureDimension  # type: ignore[valid-type]
    lines: list[ExposureLineType]
    unpriced_symbols: list[str]
    unmapped_groups: list[str]
    as_of: datetime | None

    @classmethod
    def from_report(cls, r: ExposureReport) -> ExposureReportType:
        return cls(dimension=r.dimension, lines=[ExposureLineType.from_line(x) for x in r.lines],
                   unpriced_symbols=r.unpriced, unmapped_groups=r.unmapped_groups, as_of=r.as_of)


@strawberry.type(description="A limit breach; open until exposure is back within the limit.")
class RiskAlertType(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    scope: str
    key: str
    measure: str
    observed: Decimal
    threshold: Decimal
    opened_at: datetime
    cleared_at: datetime | None

    @classmethod
    def from_alert(cls, a: Alert) -> RiskAlertType:
        return cls(id=global_id("RiskAlertType", a.id), database_id=strawberry.ID(str(a.id)), scope=a.scope,
                   key=a.key, measure=a.measure, observed=a.observed, threshold=a.threshold, opened_at=a.opened_at,
                   cleared_at=a.cleared_at)


# --- dealing desk --------------------------------------------------------------------------------



def _id(value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


@strawberry.enum(description="How a client's flow is booked.")
class Book(enum.Enum):
    A = "A"
    B = "B"
    HYBRID = "HYBRID"


@strawberry.enum(description="A dealer's decision on a toxic-flow flag.")
class FlagDecision(enum.Enum):
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


@strawberry.enum(description="Where a flag is in review.")
class FlagStatus(enum.Enum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


@strawberry.type(description="An account's net position in one symbol.")
class TopClientType:
    account_id: strawberry.ID | None = strawberry.field(deprecation_reason=bare_id_deprecation("tradingAccountId"))
    trading_account_id: strawberry.ID | None = strawberry.field(description="The TradingAccount's global id.")
    client_user_id: strawberry.ID | None
    server_id: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("tradingServerId"))
    trading_server_id: strawberry.ID = strawberry.field(description="The TradingServer's global id.")
    login: int
    net_lots: Decimal
    positions: int

    @strawberry.field(description="The client id of clientUserId.")
    async def client_id(self, info: Info[Any, Any]) -> strawberry.ID | None:
        return await client_id_of(info, self.client_user_id)

    @classmethod
    def of(cls, t: TopClient) -> TopClientType:
        return cls(account_id=_id(t.account_id), trading_account_id=optional_global_id("TradingAccount", t.account_id),
                   client_user_id=_id(t.user_id), server_id=strawberry.ID(str(t.server_id)),
                   trading_server_id=global_id("TradingServer", t.server_id),
                   login=t.login, net_lots=t.net_lots, positions=t.positions)  # fmt: skip


@strawberry.type(description="One exposure snapshot of a symbol (for charts).")
class ExposurePointType:
    taken_at: datetime
    net_lots: Decimal
    notional: Decimal | None = strawberry.field(description="In the symbol's quote currency.")

    @classmethod
    def of(cls, p: HistoryPoint) -> ExposurePointType:
        return cls(taken_at=p.taken_at, net_lots=p.net_lots, notional=p.notional)


@strawberry.type(description="Trading figures of one account, or of a client over all its accounts.")
class ClientMetricsType:
    account_ids: list[strawberry.ID]
    realised_pnl: Money  # type: ignore[valid-type]
    floating_pnl: Money | None  # type: ignore[valid-type]
    closed_trades: int
    win_rate: float | None
    expectancy: Decimal | None
    profit_factor: float | None
    avg_hold_seconds: float | None
    hold_distribution: JSON
    trades_per_day: float | None
    volume_lots: Decimal
    news_share: float | None
    slippage_points: Decimal | None = strawberry.field(
        description="Average slippage per fill in points, positive in the client's favour; null when the "
        "trading server reports no requested prices.")
    positive_slippage_share: float | None = strawberry.field(
        description="Of the fills that slipped, the share that slipped in the client's favour.")
    order_requests: int = strawberry.field(description="Market requests sent, filled or not.")
    rejected_request_share: float | None = strawberry.field(
        description="Share of the requests the server refused (requotes, off quotes, no money).")
    net_deposits: Money  # type: ignore[valid-type]
    equity_growth: float | None
    risk_score: int

    @classmethod
    def of(cls, m: ClientMetrics) -> ClientMetricsType:
        return cls(account_ids=[strawberry.ID(str(a)) for a in m.accounts], realised_pnl=m.realised_pnl,
                   floating_pnl=m.floating_pnl, closed_trades=m.closed_trades, win_rate=m.win_rate,
                   expectancy=m.expectancy, profit_factor=m.profit_factor, avg_hold_seconds=m.avg_hold_seconds,
                   hold_distribution=cast(JSON, m.hold_distribution), trades_per_day=m.trades_per_day,
                   volume_lots=m.volume_lots, news_share=m.news_share, slippage_points=m.slippage_points,
                   positive_slippage_share=m.positive_slippage_share, order_requests=m.order_requests,
                   rejected_request_share=m.rejected_request_share, net_deposits=m.net_deposits,
                   equity_growth=m.equity_growth, risk_score=m.risk_score)  # fmt: skip


@strawberry.type(description="A toxic-flow flag with the evidence that raised it.")
class RiskFlagType(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    account_id: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("tradingAccountId"))
    trading_account_id: strawberry.ID = strawberry.field(description="The TradingAccount's global id.")
    server_id: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("tradingServerId"))
    trading_server_id: strawberry.ID = strawberry.field(description="The TradingServer's global id.")
    login: int
    client_user_id: strawberry.ID | None
    detector: str
    status: FlagStatus
    score: Decimal
    evidence: JSON
    created_at: datetime
    updated_at: datetime
    review_note: str | None

    @strawberry.field(description="The client id of clientUserId.")
    async def client_id(self, info: Info[Any, Any]) -> strawberry.ID | None:
        return await client_id_of(info, self.client_user_id)

    @classmethod
    def of(cls, f: Flag) -> RiskFlagType:
        return cls(id=global_id("RiskFlagType", f.id), database_id=strawberry.ID(str(f.id)),
                   account_id=strawberry.ID(str(f.account_id)),
                   trading_account_id=global_id("TradingAccount", f.account_id),
                   server_id=strawberry.ID(str(f.server_id)), trading_server_id=global_id("TradingServer", f.server_id),
                   login=f.login, client_user_id=_id(f.user_id),
                   detector=f.detector, status=FlagStatus(f.status), score=f.score,
                   evidence=cast(JSON, as_json(f.evidence)), created_at=f.created_at, updated_at=f.updated_at,
                   review_note=f.review_note)  # fmt: skip


@strawberry.type(description="A segment assignment: the book an account is routed to, why, and its sync state.")
class SegmentAssignmentType(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    account_id: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("tradingAccountId"))
    trading_account_id: strawberry.ID = strawberry.field(description="The TradingAccount's global id.")
    server_id: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("tradingServerId"))
    trading_server_id: strawberry.ID = strawberry.field(description="The TradingServer's global id.")
    login: int
    client_id: strawberry.ID | None
    book: Book
    a_book_percent: Decimal
    source: str
    rule_id: strawberry.ID | None = strawberry.field(deprecation_reason=bare_id_deprecation("segmentRuleId"))
    segment_rule_id: strawberry.ID | None = strawberry.field(description="The SegmentRuleType's global id.")
    reason: str
    evidence: JSON
    effective_at: datetime
    target_group: str | None
    sync_status: str
    sync_error: str | None

    @strawberry.field(description="The user id of clientId.")
    async def client_user_id(self, info: Info[Any, Any]) -> strawberry.ID | None:
        return await user_id_of(info, self.client_id)

    @classmethod
    def of(cls, a: AssignmentRow) -> SegmentAssignmentType:
        return cls(id=global_id("SegmentAssignmentType", a.id), database_id=strawberry.ID(str(a.id)),
                   account_id=strawberry.ID(str(a.account_id)),
                   segment_rule_id=optional_global_id("SegmentRuleType", a.rule_id),
                   trading_account_id=global_id("TradingAccount", a.account_id),
                   server_id=strawberry.ID(str(a.server_id)), trading_server_id=global_id("TradingServer", a.server_id),
                   login=a.login, client_id=_id(a.client_id),
                   book=Book(a.book), a_book_percent=a.a_book_pct, source=a.source, rule_id=_id(a.rule_id),
                   reason=a.reason, evidence=cast(JSON, as_json(a.evidence)), effective_at=a.effective_at,
                   target_group=a.target_group, sync_status=a.sync_status, sync_error=a.sync_error)  # fmt: skip


@strawberry.type(description="A segmentation rule (all conditions must hold; lowest priority first).")
class SegmentRuleType(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    name: str
    priority: int
    condition: JSON
    book: Book
    a_book_percent: Decimal

    @classmethod
    def of(cls, r: Rule) -> SegmentRuleType:
        return cls(id=global_id("SegmentRuleType", r.id), database_id=strawberry.ID(str(r.id)), name=r.name,
                   priority=r.priority, condition=cast(JSON, r.condition),
                   book=Book(r.book), a_book_percent=r.a_book_pct)  # fmt: skip


@strawberry.type(description="Detector thresholds: the defaults, or an override for a group and/or symbol ('*').")
class RiskThresholdType:
    detector: str
    group: str
    symbol: str
    params: JSON
    is_default: bool

    @classmethod
    def of(cls, t: ThresholdSet) -> RiskThresholdType:
        return cls(detector=t.detector, group=t.group, symbol=t.symbol, params=cast(JSON, t.params),
                   is_default=t.is_default)


@strawberry.type(description="Segmentation rules and detector thresholds in force.")
class RiskRulesType:
    segment_rules: list[SegmentRuleType]
    thresholds: list[RiskThresholdType]
    limits: list[RiskLimitType]


@strawberry.type(description="An exposure limit.")
class RiskLimitType(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    scope: str
    key: str
    max_net_lots: Decimal | None
    max_notional_usd: Money | None  # type: ignore[valid-type]

    @classmethod
    def of(cls, x: Limit) -> RiskLimitType:
        return cls(id=global_id("RiskLimitType", x.id), database_id=strawberry.ID(str(x.id)), scope=x.scope, key=x.key,
                   max_net_lots=x.max_net_lots,
                   max_notional_usd=None if x.max_notional_usd is None else at_scale(x.max_notional_usd, "USD"))


@strawberry.type(description="Per-symbol outcome of a what-if booking, beside the booking in force; money in USD.")
class WhatIfLineType:
    symbol: str
    closing_deals: int
    client_pnl_usd: Money | None  # type: ignore[valid-type]
    broker_pnl_actual_usd: Money | None  # type: ignore[valid-type]
    broker_pnl_what_if_usd: Money | None  # type: ignore[valid-type]
    client_net_lots: Decimal
    broker_net_lots_actual: Decimal
    broker_net_lots_what_if: Decimal

    @classmethod
    def of(cls, x: WhatIfLine) -> WhatIfLineType:
        return cls(symbol=x.symbol, closing_deals=x.closing_deals, client_pnl_usd=x.client_pnl_usd,
                   broker_pnl_actual_usd=x.broker_pnl_actual_usd, broker_pnl_what_if_usd=x.broker_pnl_what_if_usd,
                   client_net_lots=x.client_net_lots, broker_net_lots_actual=x.broker_net_lots_actual,
                   broker_net_lots_what_if=x.broker_net_lots_what_if)  # fmt: skip


@strawberry.type(description="What the broker would have had under another booking for a period.")
class WhatIfReportType:
    account_ids: list[strawberry.ID]
    book: Book
    a_book_percent: Decimal
    since: datetime
    until: datetime
    lines: list[WhatIfLineType]
    total: WhatIfLineType
    unconverted_currencies: list[str]

    @classmethod
    def of(cls, r: WhatIfReport) -> WhatIfReportType:
        return cls(account_ids=[strawberry.ID(str(a)) for a in r.account_ids], book=Book(r.book),
                   a_book_percent=r.a_book_pct, since=r.since, until=r.until,
                   lines=[WhatIfLineType.of(x) for x in r.lines], total=WhatIfLineType.of(r.total),
                   unconverted_currencies=r.unconverted_currencies)  # fmt: skip


@strawberry.type(description="Exposure by symbol, live.")
class ExposureUpdateLineType:
    symbol: str
    net_lots: Decimal
    positions: int
    notional_usd: Money | None  # type: ignore[valid-type]
    client_pnl_usd: Money | None  # type: ignore[valid-type]
    bbook_pnl_usd: Money | None  # type: ignore[valid-type]


@strawberry.type(description="The latest exposure state (updates are coalesced: the latest state wins).")
class ExposureUpdateType:
    event_id: strawberry.ID
    source: str
    as_of: datetime | None
    unpriced_symbols: list[str]
    lines: list[ExposureUpdateLineType]
    coalesced: int = strawberry.field(description="Updates folded into this one since the previous delivery.")

    @classmethod
    def of(cls, event_id: int, payload: dict[str, Any], coalesced: int) -> ExposureUpdateType:
        def dec(v: Any) -> Decimal | None:
            return None if v is None else Decimal(str(v))

        as_of = payload.get("as_of")
        return cls(event_id=strawberry.ID(str(event_id)), source=str(payload.get("source", "")),
                   as_of=datetime.fromisoformat(as_of) if as_of else None,
                   unpriced_symbols=[str(s) for s in payload.get("unpriced") or []],
                   lines=[ExposureUpdateLineType(symbol=str(x["symbol"]), net_lots=Decimal(str(x["net_lots"])),
                                                 positions=int(x.get("positions") or 0),
                                                 notional_usd=dec(x.get("notional_usd")),
                                                 client_pnl_usd=dec(x.get("client_pnl_usd")),
                                                 bbook_pnl_usd=dec(x.get("bbook_pnl_usd")))
                          for x in payload.get("lines") or []], coalesced=coalesced)  # fmt: skip
