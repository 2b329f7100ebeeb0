"""GraphQL types of the risk context, written by hand."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain.risk.exposure import Dimension, ExposureLine, ExposureReport
from domain.risk.limits import Alert
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
class RiskAlertType:
    id: strawberry.ID
    scope: str
    key: str
    measure: str
    observed: Decimal
    threshold: Decimal
    opened_at: datetime
    cleared_at: datetime | None

    @classmethod
    def from_alert(cls, a: Alert) -> RiskAlertType:
        return cls(id=strawberry.ID(str(a.id)), scope=a.scope, key=a.key, measure=a.measure, observed=a.observed,
                   threshold=a.threshold, opened_at=a.opened_at, cleared_at=a.cleared_at)
