"""GraphQL types of the trading context, written by hand (no ORM object is exposed)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain.trading.models import DealRow, IngestionError, Instrument, PositionRow, TradingAccount
from domain.trading.positions import average_open_price
from domain.trading.servers import ServerStatus
from schema.scalars import Money


@strawberry.type(description="A trading server (MT5 or the simulator) and the health of its deal feed.")
class TradingServer:
    id: strawberry.ID
    name: str
    platform: str
    enabled: bool
    last_success_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    next_attempt_at: datetime | None
    cursor_time: datetime | None = strawberry.field(description="Time of the last deal ingested.")
    lag_seconds: float | None = strawberry.field(description="Seconds since the last successful pull.")

    @classmethod
    def from_status(cls, s: ServerStatus) -> TradingServer:
        return cls(
            id=strawberry.ID(str(s.id)), name=s.name, platform=s.platform, enabled=s.enabled,
            last_success_at=s.last_success_at, last_error=s.last_error,
            consecutive_failures=s.consecutive_failures, next_attempt_at=s.next_attempt_at,
            cursor_time=s.cursor_time, lag_seconds=s.lag_seconds,
        )  # fmt: skip


@strawberry.type(name="TradingAccount", description="An account (login) on a trading server.")
class TradingAccountType:
    id: strawberry.ID
    server_id: strawberry.ID
    login: int
    group: str
    leverage: int
    currency: str
    account_type: str
    rights: str
    created_at: datetime

    @classmethod
    def from_row(cls, a: TradingAccount) -> TradingAccountType:
        return cls(
            id=strawberry.ID(str(a.id)), server_id=strawberry.ID(str(a.server_id)), login=a.login,
            group=a.group, leverage=a.leverage, currency=a.currency, account_type=a.account_type,
            rights=a.rights, created_at=a.created_at,
        )  # fmt: skip


@strawberry.type(name="Deal", description="A deal (trade or balance operation) as the server reported it.")
class DealType:
    deal_id: str
    time: datetime
    login: int
    position_id: str
    action: int
    entry: int
    symbol: str
    price: Decimal
    volume: Decimal
    profit: Money  # type: ignore[valid-type]
    commission: Money  # type: ignore[valid-type]
    swap: Money  # type: ignore[valid-type]
    fee: Money  # type: ignore[valid-type]
    notional_usd: Money | None  # type: ignore[valid-type]
    comment: str

    @classmethod
    def from_row(cls, d: DealRow) -> DealType:
        return cls(
            deal_id=str(d.deal_id), time=d.time, login=d.login, position_id=str(d.position_id),
            action=d.action, entry=d.entry, symbol=d.symbol, price=d.price, volume=d.volume,
            profit=d.profit, commission=d.commission, swap=d.storage, fee=d.fee,
            notional_usd=d.notional_usd, comment=d.comment,
        )  # fmt: skip


@strawberry.type(name="Position", description="An open position, kept current from deals and snapshots.")
class PositionType:
    position_id: str
    symbol: str
    side: str
    volume: Decimal
    price_open: Decimal | None
    opened_at: datetime | None

    @classmethod
    def from_row(cls, p: PositionRow) -> PositionType:
        return cls(
            position_id=str(p.position_id), symbol=p.symbol, side=p.side, volume=p.volume,
            price_open=average_open_price(p), opened_at=p.opened_at,
        )  # fmt: skip


@strawberry.type(name="IngestionError", description="A problem met while ingesting deals, awaiting resolution.")
class IngestionErrorType:
    id: strawberry.ID
    server_id: strawberry.ID
    deal_id: str | None
    kind: str
    detail: str
    created_at: datetime
    resolved_at: datetime | None

    @classmethod
    def from_row(cls, e: IngestionError) -> IngestionErrorType:
        return cls(
            id=strawberry.ID(str(e.id)), server_id=strawberry.ID(str(e.server_id)),
            deal_id=str(e.deal_id) if e.deal_id is not None else None, kind=e.kind, detail=e.detail,
            created_at=e.created_at, resolved_at=e.resolved_at,
        )  # fmt: skip


@strawberry.type(name="Instrument", description="A symbol a trading server offers.")
class InstrumentType:
    symbol: str
    canonical: str
    asset_class: str
    contract_size: Decimal
    base_currency: str
    quote_currency: str
    digits: int
    pip_size: Decimal

    @classmethod
    def from_row(cls, i: Instrument) -> InstrumentType:
        return cls(
            symbol=i.symbol, canonical=i.canonical, asset_class=i.asset_class, contract_size=i.contract_size,
            base_currency=i.base_currency, quote_currency=i.quote_currency, digits=i.digits,
            pip_size=i.pip_size,
        )  # fmt: skip


@strawberry.input
class DealFilter:
    symbol: str | None = None
    from_time: datetime | None = strawberry.field(default=None, name="from")
    to_time: datetime | None = strawberry.field(default=None, name="to")
