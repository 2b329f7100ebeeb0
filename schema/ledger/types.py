from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.ledger.accounts import WalletView
from domain.ledger.idempotency import Outcome
from domain.ledger.models import LedgerAccount
from domain.ledger.transfers import TransferView
from domain.ledger.wallets import AdjustmentRequest, ExchangeResult
from domain.ledger.wallets import WalletTransaction as WalletTransactionRow
from domain.shared.money import at_scale, decimal_text
from schema.audit.types import DISPLAY_NAMES
from schema.errors import UserError
from schema.loaders import register_loader
from schema.node import DATABASE_ID_DOC, RAW_ID_NOTE, Node, bare_id_deprecation, global_id, optional_global_id
from schema.permissions import Requires
from schema.scalars import Money

if TYPE_CHECKING:
    from schema.clients.types import ClientSummary

WALLET_OWNER = "WalletOwnerByWalletIdLoader"  # BalanceAdjustment.client


@register_loader(WALLET_OWNER)
async def _wallet_owners(session: AsyncSession, wallet_ids: Sequence[int]) -> list[int | None]:
    found = dict((await session.execute(select(LedgerAccount.id, LedgerAccount.owner_id).where(
        LedgerAccount.id.in_(wallet_ids)))).all())
    return [found.get(w) for w in wallet_ids]


@strawberry.type(description="A client's wallet in one currency. available = balance - held.")
class Wallet(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    currency: str
    balance: Money  # type: ignore[valid-type]
    held: Money  # type: ignore[valid-type]
    available: Money  # type: ignore[valid-type]

    @classmethod
    def of(cls, view: WalletView) -> Wallet:
        cur = view.account.currency
        wid = view.account.id
        return cls(id=global_id("Wallet", wid), database_id=strawberry.ID(str(wid)), currency=cur,
                   balance=at_scale(view.balance.balance, cur),
                   held=at_scale(view.balance.held, cur), available=at_scale(view.balance.available, cur))

    @classmethod
    def from_event(cls, p: dict[str, str]) -> Wallet:
        cur = p["currency"]
        return cls(id=global_id("Wallet", p["wallet_id"]), database_id=strawberry.ID(str(p["wallet_id"])),
                   currency=cur,
                   balance=at_scale(Decimal(p["balance"]), cur), held=at_scale(Decimal(p["held"]), cur),
                   available=at_scale(Decimal(p["available"]), cur))


@strawberry.type(description="One movement on a wallet: + money in, - money out.")
class WalletTransaction(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    entry_id: strawberry.ID
    created_at: datetime
    amount: Money  # type: ignore[valid-type]
    currency: str
    kind: str
    reference: str
    description: str

    @classmethod
    def of(cls, t: WalletTransactionRow) -> WalletTransaction:
        return cls(id=global_id("WalletTransaction", t.id), database_id=strawberry.ID(str(t.id)),
                   entry_id=strawberry.ID(str(t.entry_id)), created_at=t.created_at,
                   amount=at_scale(t.amount, t.currency), currency=t.currency, kind=t.kind, reference=t.reference,
                   description=t.description)


@strawberry.input
class WalletTransactionFilter:
    kinds: list[str] | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.enum
class TransferStatus(Enum):
    PENDING = "pending"
    UNKNOWN = "unknown"
    DONE = "done"
    FAILED = "failed"
    HELD = "held"  # transaction monitoring holds it for review (the money stays held in the wallet)


@strawberry.enum
class TransferDirection(Enum):
    TO_ACCOUNT = "to_account"
    FROM_ACCOUNT = "from_account"


@strawberry.type(description="A move between a wallet and a trading account.")
class Transfer(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    direction: TransferDirection
    status: TransferStatus
    wallet_id: strawberry.ID = strawberry.field(description="The wallet's global id (Wallet.id).")
    trading_account_id: strawberry.ID | None = strawberry.field(
        description="The trading account's global id (TradingAccount.id).")
    server_id: str
    trading_account_login: int
    currency: str
    amount: Money  # type: ignore[valid-type]
    created_at: datetime

    @classmethod
    def of(cls, t: TransferView) -> Transfer:
        return cls(id=global_id("Transfer", t.id), database_id=strawberry.ID(str(t.id)),
                   direction=TransferDirection(t.direction.value),
                   status=TransferStatus(t.status.value), wallet_id=global_id("Wallet", t.wallet_id),
                   trading_account_id=optional_global_id("TradingAccount", t.trading_account_id or None),
                   server_id=t.server_id, trading_account_login=t.login, currency=t.currency,
                   amount=at_scale(t.amount, t.currency), created_at=t.created_at)


@strawberry.input
class TransferToTradingAccountInput:
    wallet_id: strawberry.ID = strawberry.field(description=RAW_ID_NOTE)
    trading_account_id: strawberry.ID = strawberry.field(description="The trading account's id (TradingAccount.id). "
                                                                     + RAW_ID_NOTE)
    amount: Money  # type: ignore[valid-type]
    idempotency_key: str


@strawberry.input
class TransferFromTradingAccountInput:
    wallet_id: strawberry.ID = strawberry.field(description=RAW_ID_NOTE)
    trading_account_id: strawberry.ID = strawberry.field(description="The trading account's id (TradingAccount.id). "
                                                                     + RAW_ID_NOTE)
    amount: Money  # type: ignore[valid-type]
    idempotency_key: str


@strawberry.type
class TransferPayload:
    transfer: Transfer | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Accept a quote from quoteExchange (before it expires, once).")
class ExchangeInput:
    quote_id: strawberry.ID
    idempotency_key: str


@strawberry.type
class Exchange:
    sold: Money  # type: ignore[valid-type]
    sold_currency: str
    bought: Money  # type: ignore[valid-type]
    bought_currency: str
    mid_rate: str
    applied_rate: str
    fee: Money  # type: ignore[valid-type]

    @classmethod
    def of(cls, r: ExchangeResult) -> Exchange:
        return cls(sold=at_scale(r.sold, r.sold_currency), sold_currency=r.sold_currency,
                   bought=at_scale(r.bought, r.bought_currency), bought_currency=r.bought_currency,
                   mid_rate=decimal_text(r.mid_rate), applied_rate=decimal_text(r.applied_rate),
                   fee=at_scale(r.fee, r.bought_currency))


@strawberry.type
class ExchangePayload:
    exchange: Exchange | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class AdjustBalanceInput:
    wallet_id: strawberry.ID = strawberry.field(description=RAW_ID_NOTE)
    amount: Money  # type: ignore[valid-type]
    reason: str
    idempotency_key: str
    allow_negative: bool = False


@strawberry.enum
class BalanceAdjustmentStatus(Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@strawberry.type(description="A staff balance adjustment above the four-eyes threshold, awaiting or decided.")
class BalanceAdjustment(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    wallet_id: strawberry.ID = strawberry.field(description="The wallet's global id (Wallet.id).")
    amount: Money  # type: ignore[valid-type]
    currency: str
    reason: str
    allow_negative: bool
    status: BalanceAdjustmentStatus
    requested_by: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("requestedById"))
    requested_by_id: strawberry.ID = strawberry.field(description="The requester's global id (StaffUser.id).")
    decided_by: strawberry.ID | None = strawberry.field(deprecation_reason=bare_id_deprecation("decidedById"))
    decided_by_id: strawberry.ID | None = strawberry.field(description="The decider's global id (StaffUser.id).")
    decision_reason: str | None
    entry_id: strawberry.ID | None
    created_at: datetime
    decided_at: datetime | None
    wallet_key: strawberry.Private[int]
    requester_key: strawberry.Private[int]
    decider_key: strawberry.Private[int | None]

    @strawberry.field(permission_classes=[Requires("ledger.adjust")],
                      description="The requester's display name now (the first of the four eyes; null while they "
                                  "have none). One statement for a whole page.")
    async def requested_by_name(self, info: Info[Any, Any]) -> str | None:
        name: str | None = await info.context.loaders.get(DISPLAY_NAMES).load(self.requester_key)
        return name

    @strawberry.field(permission_classes=[Requires("ledger.adjust")],
                      description="The second staff member's display name now, once decided (null before, or while "
                                  "they have none).")
    async def decided_by_name(self, info: Info[Any, Any]) -> str | None:
        if self.decider_key is None:
            return None
        name: str | None = await info.context.loaders.get(DISPLAY_NAMES).load(self.decider_key)
        return name

    @strawberry.field(permission_classes=[Requires("clients.read")],
                      description="The client whose wallet it adjusts (needs clients.read), as client lists show "
                                  "them; one statement for a whole page.")
    async def client(self, info: Info[Any, Any]) -> Annotated[
            ClientSummary, strawberry.lazy("schema.clients.types")] | None:
        from schema.clients.types import CLIENT_SUMMARY_BY_USER

        owner: int | None = await info.context.loaders.get(WALLET_OWNER).load(self.wallet_key)
        if owner is None:
            return None
        found: ClientSummary | None = await info.context.loaders.get(CLIENT_SUMMARY_BY_USER).load(owner)
        return found

    @classmethod
    def of(cls, r: AdjustmentRequest) -> BalanceAdjustment:
        def opt(v: int | None) -> strawberry.ID | None:
            return strawberry.ID(str(v)) if v is not None else None

        return cls(id=global_id("BalanceAdjustment", r.id), database_id=strawberry.ID(str(r.id)),
                   wallet_id=global_id("Wallet", r.wallet_id), requested_by_id=global_id("StaffUser", r.requested_by),
                   decided_by_id=optional_global_id("StaffUser", r.decided_by),
                   amount=at_scale(r.amount, r.currency), currency=r.currency, reason=r.reason,
                   allow_negative=r.allow_negative, status=BalanceAdjustmentStatus(r.status),
                   requested_by=strawberry.ID(str(r.requested_by)), decided_by=opt(r.decided_by),
                   decision_reason=r.decision_reason, entry_id=opt(r.entry_id), created_at=r.created_at,
                   decided_at=r.decided_at, wallet_key=r.wallet_id, requester_key=r.requested_by,
                   decider_key=r.decided_by)


@strawberry.type(description="Posted at once (entryId, wallet), or pending a second staff member "
                             "(pending: true, adjustmentId) when above the four-eyes threshold.")
class AdjustBalancePayload:
    entry_id: strawberry.ID | None = None
    wallet: Wallet | None = None
    pending: bool = False
    adjustment_id: strawberry.ID | None = None
    adjustment: BalanceAdjustment | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class BalanceAdjustmentPayload:
    adjustment: BalanceAdjustment | None = None
    wallet: Wallet | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.enum(description="Where an operation sent with an idempotency key stands.")
class OperationStatus(Enum):
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@strawberry.type(description="The stored outcome of one of your money operations, by its idempotency key: "
                             "whether it was applied, and what it returned (ids of the entry, transfer or payment).")
class IdempotentOperation:
    idempotency_key: str
    status: OperationStatus
    result: JSON | None  # type: ignore[valid-type]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, o: Outcome) -> IdempotentOperation:
        return cls(idempotency_key=o.key, status=OperationStatus(o.status), result=o.result,  # type: ignore[arg-type]
                   created_at=o.created_at, updated_at=o.updated_at)
