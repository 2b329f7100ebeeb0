"""Risk queries for the dealing desk (risk.read)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from domain.risk import exposure, limits
from domain.risk.exposure import Dimension
from schema.context import Context
from schema.permissions import Requires
from schema.risk.types import ExposureDimension, ExposureReportType, RiskAlertType


@strawberry.type
class RiskQueries:
    @strawberry.field(permission_classes=[Requires("risk.read")], description="Net exposure by one dimension.")
    async def risk_exposure(
        self, info: Info[Context, Any], by: ExposureDimension, symbol: str | None = None  # type: ignore[valid-type]
    ) -> ExposureReportType:
        async with info.context.session() as session:
            return ExposureReportType.from_report(await exposure.exposure(session, Dimension(by), symbol=symbol))

    @strawberry.field(permission_classes=[Requires("risk.read")], description="Open limit alerts, newest first.")
    async def risk_alerts(self, info: Info[Context, Any]) -> list[RiskAlertType]:
        async with info.context.session() as session:
            return [RiskAlertType.from_alert(a) for a in await limits.list_alerts(session)]


QUERIES = (RiskQueries,)
MUTATIONS: tuple[type, ...] = ()
SUBSCRIPTIONS: tuple[type, ...] = ()
