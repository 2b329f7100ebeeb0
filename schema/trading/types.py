"""GraphQL types of the trading context, written by hand (no ORM object is exposed)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.platforms.port import AccountState
from domain.shared.errors import UnknownCurrency
from domain.shared.money import at_scale
from domain.trading.live import Key, LiveState, account_states
from domain.trading.models import IngestionError, Instrument, PositionRow, TradingAccount
from domain.trading.positions import average_open_price
from domain.trading.servers import ServerConfig, ServerStatus
from schema.errors import UserError
from schema.loaders import register_loader
from schema.node import DATABASE_ID_DOC, Node, bare_id_deprecation, global_id
from schema.scalars import Money

STATE_LOADER = "TradingAccountStateByLoginLoader"
SERVER_ID_DEPRECATION = bare_id_deprecation("tradingServerId")


@functools.lru_cache(maxsize=1024)
def server_global_id(server_id: int) -> strawberry.ID:
    """A server's global id, encoded once per server (every account row of a list page carries one)."""
    return global_id("TradingServer", server_id)


@register_loader(STATE_LOADER, database=False)
async def _load_states(session: AsyncSession, keys: Sequence[Key]) -> list[LiveState | None]:
    # The platform is asked, not the database: no session, and no turn on the read connection.
    return await account_states(keys)


@strawberry.type(name="TradingAccountState", description="Live figures of an account, asked of its trading server.")
class TradingAccountStateType:
    currency: str
    balance: Money  # type: ignore[valid-type]
    credit: Money  # type: ignore[valid-type]
    equity: Money  # type: ignore[valid-type]
    margin: Money  # type: ignore[valid-type]
    margin_free: Money  # type: ignore[valid-type]
    margin_level: Decimal = strawberry.field(description="Percent; 0 when no margin is in use.")
    floating_profit: Money  # type: ignore[valid-type]
    as_of: datetime = strawberry.field(description="When the server reported these figures.")
    stale: bool = strawberry.field(
        description="True when the server did not answer now and these are the last figures seen.")

    @classmethod
    def from_live(cls, live: LiveState) -> TradingAccountStateType:
        s = live.state
        cur = s.currency

        def amt(value: Decimal) -> Decimal:
            try:
                return at_scale(value, cur)
            except UnknownCurrency:  # a server's own currency label: shown as it reported it
                return value

        return cls(
            currency=cur, balance=amt(s.balance), credit=amt(s.credit), equity=amt(s.equity), margin=amt(s.margin),
            margin_free=amt(s.margin_free), margin_level=s.margin_level, floating_profit=amt(s.floating_profit),
            as_of=live.as_of, stale=live.stale,
        )  # fmt: skip


@strawberry.type(description="New figures of one of your trading accounts, sent when deals changing it (a trade "
                               "opened or closed, a deposit or withdrawal on the server) were stored.")
class TradingAccountStateUpdate:
    trading_account_id: strawberry.ID = strawberry.field(description="The TradingAccount's global id.")
    login: int
    state: TradingAccountStateType

    @classmethod
    def from_event(cls, p: dict[str, Any]) -> TradingAccountStateUpdate:
        d = {k: Decimal(p[k]) for k in ("balance", "credit", "equity", "margin", "margin_free", "margin_level",
                                         "floating_profit")}
        state = AccountState(login=int(p["login"]), currency=str(p["currency"]), **d)
        live = LiveState(state, datetime.fromisoformat(p["as_of"]), stale=False)
        return cls(trading_account_id=global_id("TradingAccount", int(p["trading_account_id"])),
                   login=state.login, state=TradingAccountStateType.from_live(live))


@strawberry.type(description="A trading server (MT5 or the simulator) and the health of its deal feed.")
class TradingServer(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
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
            id=global_id("TradingServer", s.id), database_id=strawberry.ID(str(s.id)), name=s.name,
            platform=s.platform, enabled=s.enabled,
            last_success_at=s.last_success_at, last_error=s.last_error,
            consecutive_failures=s.consecutive_failures, next_attempt_at=s.next_attempt_at,
            cursor_time=s.cursor_time, lag_seconds=s.lag_seconds,
        )  # fmt: skip


@strawberry.type(name="TradingAccount", description="An account (login) on a trading server.")
class TradingAccountType(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    server_id: strawberry.ID = strawberry.field(deprecation_reason=SERVER_ID_DEPRECATION)
    trading_server_id: strawberry.ID = strawberry.field(description="The TradingServer's global id.")
    login: int
    group: str
    leverage: int
    currency: str
    account_type: str
    rights: str
    created_at: datetime
    account_type_code: str | None = strawberry.field(
        default=None, description="The account type the client chose when opening it (accountTypes' code); "
                                  "null for accounts not opened through one.")

    async def _live(self, info: Info[Any, Any]) -> LiveState | None:
        return await info.context.loaders.get(STATE_LOADER).load((int(self.server_id), self.login))  # type: ignore[no-any-return]

    @strawberry.field(description="Live balance, equity and margin from the trading server (at most ~2 s); null "
                                  "when the server cannot be reached and no recent figures are known.")
    async def state(self, info: Info[Any, Any]) -> TradingAccountStateType | None:
        live = await self._live(info)
        return None if live is None else TradingAccountStateType.from_live(live)

    @strawberry.field(description="True when live figures are unavailable now (state is null or stale).")
    async def state_stale(self, info: Info[Any, Any]) -> bool:
        live = await self._live(info)
        return live is None or live.stale

    @classmethod
    def from_row(cls, a: TradingAccount) -> TradingAccountType:
        return cls(
            id=global_id("TradingAccount", a.id), database_id=strawberry.ID(str(a.id)),
            server_id=strawberry.ID(str(a.server_id)), trading_server_id=server_global_id(a.server_id), login=a.login,
            group=a.group, leverage=a.leverage, currency=a.currency, account_type=a.account_type,
            rights=a.rights, created_at=a.created_at, account_type_code=a.account_type_code,
        )  # fmt: skip

    @classmethod
    def from_record(cls, r: asyncpg.Record) -> TradingAccountType:
        """From a raw row of domain.trading.queries.ACCOUNT_COLUMNS (hot list reads)."""
        pk = r["id"]
        return cls(
            id=global_id("TradingAccount", pk), database_id=strawberry.ID(str(pk)),
            server_id=strawberry.ID(str(r["server_id"])), trading_server_id=server_global_id(r["server_id"]),
            login=r["login"], group=r["group"], leverage=r["leverage"],
            currency=r["currency"], account_type=r["account_type"], rights=r["rights"], created_at=r["created_at"],
            account_type_code=r["account_type_code"],
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
    def from_record(cls, d: asyncpg.Record) -> DealType:
        """From a raw row of domain.trading.queries.DEAL_COLUMNS."""
        return cls(
            deal_id=str(d["deal_id"]), time=d["time"], login=d["login"], position_id=str(d["position_id"]),
            action=d["action"], entry=d["entry"], symbol=d["symbol"], price=d["price"], volume=d["volume"],
            profit=d["profit"], commission=d["commission"], swap=d["storage"], fee=d["fee"],
            notional_usd=d["notional_usd"], comment=d["comment"],
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
class IngestionErrorType(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    server_id: strawberry.ID = strawberry.field(deprecation_reason=SERVER_ID_DEPRECATION)
    trading_server_id: strawberry.ID = strawberry.field(description="The TradingServer's global id.")
    deal_id: str | None
    kind: str
    detail: str
    created_at: datetime
    resolved_at: datetime | None

    @classmethod
    def from_row(cls, e: IngestionError) -> IngestionErrorType:
        return cls(
            id=global_id("IngestionError", e.id), database_id=strawberry.ID(str(e.id)),
            server_id=strawberry.ID(str(e.server_id)), trading_server_id=global_id("TradingServer", e.server_id),
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


@strawberry.input(description="A server symbol and the canonical symbol it stands for.")
class SymbolMappingInput:
    server_symbol: str
    canonical: str


@strawberry.input
class TradingServerInput:
    name: str
    base_url: str
    manager_login: int
    password: str
    symbol_map: list[SymbolMappingInput] = strawberry.field(default_factory=list)
    enabled: bool = True
    platform: str = strawberry.field(default="mt5", description="A registered trading platform (tradingPlatforms).")

    def to_config(self) -> ServerConfig:
        return ServerConfig(
            name=self.name, base_url=self.base_url, manager_login=self.manager_login, password=self.password,
            platform=self.platform,
            symbol_map={m.server_symbol: m.canonical for m in self.symbol_map}, enabled=self.enabled,
        )  # fmt: skip


@strawberry.type
class TradingServerPayload:
    trading_server: TradingServer | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class IngestionErrorPayload:
    ingestion_error: IngestionErrorType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="A trading server's margin alert levels (percent of margin level = equity / margin x "
                             "100): owners are notified below the warning level, and again below the stop-out level.")
class MarginAlertLevels:
    server_id: strawberry.ID = strawberry.field(description="The trading server's global ID.")
    warning_level: Decimal
    stop_out_level: Decimal

    @classmethod
    def of(cls, server_id: int, warning: Decimal, stop_out: Decimal) -> MarginAlertLevels:
        return cls(server_id=global_id("TradingServer", server_id), warning_level=warning,
                   stop_out_level=stop_out)


@strawberry.type
class MarginAlertLevelsPayload:
    margin_alert_levels: MarginAlertLevels | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
