from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.payments import bank_details, crypto
from domain.payments.bank_details import BankDetails
from domain.payments.crypto import DepositAddress
from domain.payments.disputes import Dispute as DisputeRow
from domain.payments.method_admin import MethodRule
from domain.payments.methods import Method
from domain.payments.repo import Approval
from domain.payments.repo import Payment as PaymentRow
from domain.payments.statements import ImportResult
from domain.shared.money import at_scale
from schema.errors import UserError
from schema.loaders import register_loader
from schema.node import DATABASE_ID_DOC, RAW_ID_NOTE, Node, global_id
from schema.permissions import Requires
from schema.plain_fields import prefetched
from schema.scalars import Money

if TYPE_CHECKING:
    from schema.clients.types import ClientSummary


@strawberry.enum
class PaymentStatus(Enum):
    CREATED = "created"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    CHARGED_BACK = "charged_back"
    RETURNED = "returned"


@strawberry.enum
class PaymentDirection(Enum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


@strawberry.enum
class StatementFormat(Enum):
    CSV = "csv"
    CAMT053 = "camt053"


@strawberry.enum
class DisputeKind(Enum):
    CHARGEBACK = "chargeback"
    REFUND = "refund"


@strawberry.type(description="A way to pay in or out, with its limits and fees for one currency.")
class PaymentMethod:
    code: str
    kind: str
    name: str
    currency: str
    min_amount: Money  # type: ignore[valid-type]
    max_amount: Money  # type: ignore[valid-type]
    fee_fixed: Money  # type: ignore[valid-type]
    fee_percent: str
    first_deposit_min: Money  # type: ignore[valid-type]
    deposits: bool
    withdrawals: bool

    @classmethod
    def of(cls, m: Method) -> PaymentMethod:
        c = m.currency
        return cls(code=m.code, kind=m.kind, name=m.display_name, currency=c, min_amount=at_scale(m.min_amount, c),
                   max_amount=at_scale(m.max_amount, c), fee_fixed=at_scale(m.fee_fixed, c),
                   fee_percent=format(m.fee_percent.normalize(), "f"),
                   first_deposit_min=at_scale(m.first_deposit_min, c), deposits=m.deposits,
                   withdrawals=m.withdrawals)


BANK_DETAILS_BY_METHOD = "BankDetailsByMethodIdLoader"  # PaymentMethodConfig.bankDetails


@register_loader(BANK_DETAILS_BY_METHOD)
async def _load_bank_details(session: AsyncSession, ids: Sequence[int]) -> list[BankDetails | None]:
    found = await bank_details.for_methods(session, list(ids))
    return [found.get(i) for i in ids]


@strawberry.type(description="The bank account a wire method's deposits are paid into.")
class WireBankDetails:
    iban: str
    bic: str
    beneficiary_name: str
    beneficiary_address: str
    bank_name: str

    @classmethod
    def of(cls, d: BankDetails) -> WireBankDetails:
        return cls(iban=d.iban, bic=d.bic, beneficiary_name=d.beneficiary_name,
                   beneficiary_address=d.beneficiary_address, bank_name=d.bank_name)


@strawberry.input(description="A wire method's bank account: IBAN (check digits verified) and BIC of the same "
                              "country, the beneficiary's name and address, the bank's name.")
class WireBankDetailsInput:
    iban: str
    bic: str
    beneficiary_name: str
    beneficiary_address: str
    bank_name: str


APPROVALS_BY_PAYMENT = "PaymentApprovalsByPaymentIdLoader"  # Payment.approvals
APPROVALS_PERMISSION = "payments.approve_withdrawal"


@strawberry.type(description="One staff member's approval of a withdrawal (Payment.approvals).")
class PaymentApproval:
    staff_user_id: strawberry.ID = strawberry.field(description="The approver's global id (StaffUser.id).")
    name: str = strawberry.field(description="The approver's display name now (their e-mail while they have none).")
    approved_at: datetime


@register_loader(APPROVALS_BY_PAYMENT)
async def _load_approvals(session: AsyncSession, payment_ids: Sequence[int]) -> list[list[PaymentApproval]]:
    rows = await session.execute(text(
        "SELECT a.payment_id, a.approver_id, a.created_at, u.display_name, u.email FROM payment_approvals a "
        "JOIN users u ON u.id = a.approver_id WHERE a.payment_id = ANY(:ids) ORDER BY a.created_at, a.approver_id"),
        {"ids": list(payment_ids)})
    found: dict[int, list[PaymentApproval]] = {}
    for r in rows:
        found.setdefault(r.payment_id, []).append(PaymentApproval(
            staff_user_id=global_id("StaffUser", r.approver_id), name=r.display_name or r.email,
            approved_at=r.created_at))
    return [found.get(pid, []) for pid in payment_ids]


@strawberry.type(description="A deposit or withdrawal. `reference` is quoted on bank transfers.")
class Payment(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    user_id: strawberry.Private[int]
    method_kind: strawberry.Private[str]
    country: strawberry.Private[str | None]
    reference: str
    direction: str
    method_code: str
    status: PaymentStatus
    approval: str | None
    currency: str
    amount: Money  # type: ignore[valid-type]
    fee: Money  # type: ignore[valid-type]
    redirect_url: str | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    # Set by a list that read its page's approvals with the page (`pendingWithdrawals`); else a loader batch.
    prefetched_approvals: strawberry.Private[list[PaymentApproval] | None] = None

    @classmethod
    def of(cls, p: PaymentRow) -> Payment:
        c = p.currency
        return cls(id=global_id("Payment", p.id), database_id=strawberry.ID(str(p.id)), reference=p.reference,
                   direction=p.direction, method_code=p.method_code, status=PaymentStatus(p.status.value),
                   approval=p.approval,
                   currency=c, amount=at_scale(p.amount, c), fee=at_scale(p.fee, c), redirect_url=p.redirect_url,
                   failure_reason=p.failure_reason, created_at=p.created_at, updated_at=p.updated_at,
                   user_id=p.user_id, method_kind=p.method_kind, country=p.country)

    @classmethod
    def with_approvals(cls, item: tuple[PaymentRow, list[Approval]]) -> Payment:
        """A payment read with its approvals (`Payment.approvals` then reads them here, not by a loader)."""
        row, approvals = item
        payment = cls.of(row)
        payment.prefetched_approvals = [PaymentApproval(
            staff_user_id=global_id("StaffUser", a.approver_id), name=a.name, approved_at=a.approved_at)
            for a in approvals] if row.direction == "withdrawal" else []
        return payment

    @strawberry.field(description="A wire deposit: the bank account to pay it into, quoting `reference` as the "
                                  "payment reference; null for other payments, or while the method has no account.")
    async def wire_instructions(self, info: Info[Any, Any]) -> WireBankDetails | None:
        if self.direction != "deposit" or self.method_kind != "wire":
            return None
        async with info.context.read() as session:
            found = await bank_details.for_payment(session, self.method_code, self.currency, self.country)
        return WireBankDetails.of(found) if found is not None else None

    @strawberry.field(description="A crypto deposit: its chain transaction's confirmations so far and how many "
                                  "credit it (read again while it is pending); null for other payments.")
    async def crypto_confirmations(self, info: Info[Any, Any]) -> CryptoConfirmations | None:
        if self.direction != "deposit" or self.method_kind != "crypto":
            return None
        async with info.context.read() as session:
            found = await crypto.confirmations_of(session, int(self.database_id), self.currency)
        return None if found is None else CryptoConfirmations(confirmations=found.confirmations,
                                                                required=found.required, dropped=found.dropped)

    @strawberry.field(permission_classes=[Requires("clients.read")],
                      description="Staff: the client who made this payment (needs clients.read), as client lists "
                                  "show them; one statement for a whole page of payments.")
    async def client(self, info: Info[Any, Any]) -> Annotated[
            ClientSummary, strawberry.lazy("schema.clients.types")] | None:
        from schema.clients.types import CLIENT_SUMMARY_BY_USER

        found: ClientSummary | None = await info.context.loaders.get(CLIENT_SUMMARY_BY_USER).load(self.user_id)
        return found

    @strawberry.field(permission_classes=[Requires(APPROVALS_PERMISSION)],
                      metadata=prefetched("prefetched_approvals"),
                      description="Staff (needs payments.approve_withdrawal): who approved this withdrawal so far, "
                                  "by name, oldest first (the first approver of one waiting for a second); empty "
                                  "for deposits. One statement for a whole page of payments.")
    def approvals(self, info: Info[Any, Any]) -> list[PaymentApproval] | None:
        # A plain function, so a prefetched row costs no coroutine (and a compiled row reads the
        # attribute, its permission checked once per operation: schema/plain_fields.py); otherwise
        # it answers the loader's awaitable: one statement for the whole page, never one per row.
        if self.prefetched_approvals is not None:
            return self.prefetched_approvals
        if self.direction != "withdrawal":
            return []
        return cast(list[PaymentApproval], info.context.loaders.get(APPROVALS_BY_PAYMENT).load(int(self.database_id)))


@strawberry.type(description="A crypto deposit's chain transaction as the gateway last reported it.")
class CryptoConfirmations:
    confirmations: int = strawberry.field(description="Confirmations so far (0 once the transaction was dropped).")
    required: int = strawberry.field(description="The confirmations after which the deposit is credited.")
    dropped: bool = strawberry.field(description="The transaction was dropped from the chain (never credited).")


@strawberry.type(description="A payment's new status, pushed to its owner.")
class PaymentUpdate:
    id: strawberry.ID = strawberry.field(description="The payment's global id (Payment.id).")
    reference: str
    status: PaymentStatus
    direction: str
    amount: Money  # type: ignore[valid-type]
    currency: str

    @classmethod
    def from_event(cls, e: dict[str, Any]) -> PaymentUpdate:
        return cls(id=global_id("Payment", e["payment_id"]), reference=e["reference"],
                   status=PaymentStatus(e["status"]), direction=e["direction"],
                   amount=at_scale(Decimal(e["amount"]), e["currency"]), currency=e["currency"])


@strawberry.type
class Dispute(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    payment_id: strawberry.ID = strawberry.field(description="The payment's global id (Payment.id).")
    kind: DisputeKind
    case_id: str
    amount: Money  # type: ignore[valid-type]
    currency: str
    reason: str
    negative_balance: bool
    created_at: datetime

    @classmethod
    def of(cls, d: DisputeRow) -> Dispute:
        return cls(id=global_id("Dispute", d.id), database_id=strawberry.ID(str(d.id)),
                   payment_id=global_id("Payment", d.payment_id),
                   kind=DisputeKind(d.kind), case_id=d.case_id, amount=at_scale(d.amount, d.currency),
                   currency=d.currency, reason=d.reason, negative_balance=d.negative_balance,
                   created_at=d.created_at)


@strawberry.type
class StatementImport:
    matched: list[str] = strawberry.field(description="References of wire deposits credited.")
    settled: list[str] = strawberry.field(description="References of wire withdrawals the bank paid out (debits).")
    returned: list[str] = strawberry.field(description="References of wire withdrawals the bank sent back.")
    unmatched: list[str]
    amount_mismatch: list[str]
    duplicates: list[str]

    @classmethod
    def of(cls, r: ImportResult) -> StatementImport:
        return cls(matched=r.matched, settled=r.settled, returned=r.returned, unmatched=r.unmatched,
                   amount_mismatch=r.amount_mismatch, duplicates=r.duplicates)


@strawberry.input
class CreateDepositInput:
    method_code: str
    currency: str
    amount: Money  # type: ignore[valid-type]
    country: str | None = None
    return_url: str = ""
    idempotency_key: str | None = strawberry.field(
        default=None, description="A repeat with the same key returns the same deposit; look it up with "
                                  "operationByIdempotencyKey.")


@strawberry.input
class RequestWithdrawalInput:
    method_code: str
    currency: str
    amount: Money  # type: ignore[valid-type]
    idempotency_key: str
    country: str | None = None
    iban: str | None = None
    address: str | None = strawberry.field(default=None, description="A crypto method's destination address.")
    tag: str | None = strawberry.field(default=None, description="Its destination tag or memo (XRP and the like).")


@strawberry.input
class RecordChargebackInput:
    payment_id: strawberry.ID = strawberry.field(description=RAW_ID_NOTE)
    amount: Money  # type: ignore[valid-type]
    case_id: str
    reason: str = ""
    kind: DisputeKind = DisputeKind.CHARGEBACK


@strawberry.input
class RefundDepositInput:
    payment_id: strawberry.ID = strawberry.field(description=RAW_ID_NOTE)
    amount: Money  # type: ignore[valid-type]


@strawberry.type(description="A refund the provider accepted; it is booked (a refund record on the deposit) when "
                             "the provider confirms it by webhook.")
class ProviderRefund:
    payment_id: strawberry.ID = strawberry.field(description="The payment's global id (Payment.id).")
    provider_refund_id: str
    status: str


@strawberry.type
class RefundPayload:
    refund: ProviderRefund | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PaymentPayload:
    payment: Payment | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DisputePayload:
    dispute: Dispute | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class StatementImportPayload:
    result: StatementImport | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="Your deposit address for a crypto asset; deposits credit after the confirmations.")
class CryptoDepositAddress:
    asset: str
    address: str
    confirmations_required: int

    @classmethod
    def of(cls, a: DepositAddress) -> CryptoDepositAddress:
        return cls(asset=a.asset, address=a.address, confirmations_required=a.confirmations_required)


@strawberry.enum
class PaymentMethodKind(Enum):
    CARD = "card"
    WIRE = "wire"
    CRYPTO = "crypto"
    LOCAL = "local"


@strawberry.type(description="Staff: one payment method rule, disabled ones included. country '*' is the default "
                             "row for the method and currency; a country row overrides it (a disabled one makes the "
                             "method unavailable in that country). provider is the adapter key, baseUrl the provider "
                             "account's endpoint.")
class PaymentMethodConfig(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    code: str
    kind: PaymentMethodKind
    provider: str
    base_url: str
    display_name: str
    currency: str
    country: str
    min_amount: Money  # type: ignore[valid-type]
    max_amount: Money  # type: ignore[valid-type]
    fee_fixed: Money  # type: ignore[valid-type]
    fee_percent: Decimal
    first_deposit_min: Money  # type: ignore[valid-type]
    deposits: bool
    withdrawals: bool
    enabled: bool
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, r: MethodRule) -> PaymentMethodConfig:
        c = r.currency
        return cls(id=global_id("PaymentMethodConfig", r.id), database_id=strawberry.ID(str(r.id)), code=r.code,
                   kind=PaymentMethodKind(r.kind), provider=r.provider,
                   base_url=r.base_url, display_name=r.display_name, currency=c, country=r.country,
                   min_amount=at_scale(r.min_amount, c), max_amount=at_scale(r.max_amount, c),
                   fee_fixed=at_scale(r.fee_fixed, c), fee_percent=r.fee_percent.normalize(),
                   first_deposit_min=at_scale(r.first_deposit_min, c), deposits=r.deposits,
                   withdrawals=r.withdrawals, enabled=r.enabled, created_at=r.created_at, updated_at=r.updated_at)

    @strawberry.field(description="A wire method's bank account (setWireBankDetails); null for other kinds and "
                                  "until set.")
    async def bank_details(self, info: Info[Any, Any]) -> WireBankDetails | None:
        if self.kind is not PaymentMethodKind.WIRE:
            return None
        found = await info.context.loaders.get(BANK_DETAILS_BY_METHOD).load(int(self.database_id))
        return WireBankDetails.of(found) if found is not None else None


@strawberry.input(description="A payment method rule for one currency and country ('*': every country without a "
                              "rule of its own). Omitted amounts are 0.")
class CreatePaymentMethodInput:
    code: str
    kind: PaymentMethodKind
    provider: str
    currency: str
    max_amount: Money  # type: ignore[valid-type]
    country: str = "*"
    min_amount: Money | None = None  # type: ignore[valid-type]
    fee_fixed: Money | None = None  # type: ignore[valid-type]
    fee_percent: Decimal | None = None
    first_deposit_min: Money | None = None  # type: ignore[valid-type]
    base_url: str = ""
    display_name: str = ""
    deposits: bool = True
    withdrawals: bool = True


@strawberry.input(description="What to change in a payment method rule; omitted fields stay as they are.")
class UpdatePaymentMethodInput:
    kind: PaymentMethodKind | None = None
    provider: str | None = None
    base_url: str | None = None
    display_name: str | None = None
    min_amount: Money | None = None  # type: ignore[valid-type]
    max_amount: Money | None = None  # type: ignore[valid-type]
    fee_fixed: Money | None = None  # type: ignore[valid-type]
    fee_percent: Decimal | None = None
    first_deposit_min: Money | None = None  # type: ignore[valid-type]
    deposits: bool | None = None
    withdrawals: bool | None = None


@strawberry.type
class PaymentMethodConfigPayload:
    method: PaymentMethodConfig | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
