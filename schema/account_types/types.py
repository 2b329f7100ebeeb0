from __future__ import annotations

from decimal import Decimal

import strawberry

from domain.clients.account_types import AccountTypeSpec
from domain.clients.errors import InvalidConfiguration
from domain.clients.models import AccountType as AccountTypeRow
from domain.shared.money import at_scale
from schema.errors import UserError
from schema.node import bare_id_deprecation, global_id, referenced_key
from schema.scalars import Money


@strawberry.type(description="A kind of trading account clients may open (staff manage them).")
class AccountTypeOffer:
    code: str
    name: str
    pricing: str
    currencies: list[str]
    default_leverage: int
    max_leverage: int
    live: bool
    min_deposit: str = strawberry.field(description="In the account's currency (0: none).")
    enabled: bool
    server_id: strawberry.ID | None = strawberry.field(description="Staff: the server used where no jurisdiction "
                                                                   "mapping exists (null for clients).",
                                                       deprecation_reason=bare_id_deprecation("tradingServerId"))
    trading_server_id: strawberry.ID | None = strawberry.field(
        description="Staff: the TradingServer's global id, used where no jurisdiction mapping exists "
                    "(null for clients).")
    group_name: str | None

    @classmethod
    def of(cls, r: AccountTypeRow, *, staff: bool) -> AccountTypeOffer:
        return cls(code=r.code, name=r.name, pricing=r.pricing, currencies=list(r.currencies),
                   default_leverage=r.default_leverage, max_leverage=r.max_leverage, live=r.live,
                   min_deposit=str(at_scale(Decimal(r.min_deposit), r.currencies[0])) if r.currencies else "0",
                   enabled=r.enabled,
                   server_id=strawberry.ID(str(r.server_id)) if staff and r.server_id is not None else None,
                   trading_server_id=global_id("TradingServer", r.server_id)
                   if staff and r.server_id is not None else None,
                   group_name=r.group_name if staff else None)


@strawberry.input
class AccountTypeInput:
    code: str
    name: str
    currencies: list[str]
    pricing: str = "spread"
    server_id: strawberry.ID | None = None
    group_name: str | None = None
    default_leverage: int = 100
    max_leverage: int = 500
    live: bool = True
    min_deposit: Money | None = None  # type: ignore[valid-type]

    def spec(self) -> AccountTypeSpec:
        server = None
        if self.server_id is not None:
            server = referenced_key(self.server_id, InvalidConfiguration, "serverId")
        return AccountTypeSpec(code=self.code, name=self.name, currencies=list(self.currencies), pricing=self.pricing,
                               server_id=server, group_name=self.group_name, default_leverage=self.default_leverage,
                               max_leverage=self.max_leverage, live=self.live,
                               min_deposit=Decimal(self.min_deposit or 0))


@strawberry.input(description="Open a live trading account of an offered type, in one of its currencies.")
class OpenMyLiveAccountInput:
    account_type: str
    currency: str
    idempotency_key: str
    leverage: int | None = None


@strawberry.type
class AccountTypePayload:
    account_type: AccountTypeOffer | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
