from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.file_uploads import Upload
from strawberry.types import Info

from domain.clients.access import staff_sees_owner
from domain.clients.storage import default_store
from domain.events.hub import Event
from domain.payments import (
    bank_details,
    crypto,
    deposits,
    disputes,
    method_admin,
    methods,
    refunds,
    repo,
    statements,
    withdrawals,
)
from domain.payments.errors import PaymentNotFound
from domain.payments.repo import TOPIC_PAYMENT_UPDATED
from domain.payments.repo import Payment as PaymentRow
from domain.shared.actor import ActorKind
from schema.clients.ids import client_key
from schema.context import Context
from schema.errors import declares_errors, payload_or_errors
from schema.events import converted
from schema.node import AnyId, global_id, key_of, node_type
from schema.pagination import Connection, page_request, selects_below, to_connection
from schema.payments.types import (
    APPROVALS_PERMISSION,
    CreateDepositInput,
    CreatePaymentMethodInput,
    CryptoDepositAddress,
    Dispute,
    DisputePayload,
    Payment,
    PaymentDirection,
    PaymentMethod,
    PaymentMethodConfig,
    PaymentMethodConfigPayload,
    PaymentPayload,
    PaymentStatus,
    PaymentUpdate,
    ProviderRefund,
    RecordChargebackInput,
    RefundDepositInput,
    RefundPayload,
    RequestWithdrawalInput,
    StatementFormat,
    StatementImport,
    StatementImportPayload,
    UpdatePaymentMethodInput,
    WireBankDetailsInput,
)
from schema.permissions import IsAuthenticated, Requires


def _pid(value: strawberry.ID | str, field: str = "id") -> int:
    return key_of(value, "Payment", field=field)


@node_type("Payment")
async def _payment_nodes(ctx: Context, keys: Sequence[int]) -> list[Payment | None]:
    async with ctx.session() as session:
        found = await repo.get_many(session, keys)
        return [Payment.of(p) if (p := found.get(k)) is not None and await repo.visible_to(session, ctx.actor, p)
                else None for k in keys]


@node_type("Dispute")
async def _dispute_nodes(ctx: Context, keys: Sequence[int]) -> list[Dispute | None]:
    """The client's own (myDisputes), or staff with payments.read who may see the client (as payments)."""
    async with ctx.session() as session:
        found = await disputes.by_ids(session, keys)
        out: list[Dispute | None] = []
        for k in keys:
            row = found.get(k)
            visible = row is not None and (row[1] == ctx.actor.user_id or (
                ctx.actor.has("payments.read") and await staff_sees_owner(session, ctx.actor, row[1])))
            out.append(Dispute.of(row[0]) if row is not None and visible else None)
        return out


def _rule_id(value: strawberry.ID | str) -> int:
    return key_of(value, "PaymentMethodConfig")


@node_type("PaymentMethodConfig")
async def _method_config_nodes(ctx: Context, keys: Sequence[int]) -> list[PaymentMethodConfig | None]:
    """As paymentMethodConfigs: staff with payments.read, disabled rules included."""
    if not (ctx.actor.kind is ActorKind.STAFF and ctx.actor.has("payments.read")):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await method_admin.rules_by_ids(session, list(keys))
    return [PaymentMethodConfig.of(r) if (r := found.get(k)) else None for k in keys]


def _changes(input: UpdatePaymentMethodInput) -> dict[str, Any]:
    given = {k: getattr(input, k) for k in method_admin.MUTABLE}
    changes = {k: v for k, v in given.items() if v is not None}
    if "kind" in changes:
        changes["kind"] = changes["kind"].value
    return changes


def _owner(ctx: Context) -> int:
    if ctx.actor.user_id is None:
        raise PaymentNotFound("no such payment")
    return ctx.actor.user_id


def _key(p: PaymentRow) -> tuple[datetime, int]:
    return p.created_at, p.id


@strawberry.type
class PaymentQueries:
    @strawberry.field(permission_classes=[IsAuthenticated],
                      description="Payment methods available for a country and currency.")
    async def payment_methods(self, info: Info[Context, Any], country: str | None = None,
                              currency: str | None = None) -> list[PaymentMethod]:
        async with info.context.session() as session:
            return [PaymentMethod.of(m) for m in await methods.available(session, country=country,
                                                                          currency=currency)]

    @strawberry.field(permission_classes=[Requires("payments.read")],
                      description="Staff: every payment method rule, disabled ones included, by code, currency and "
                                  "country ('*' first); optionally one code, currency or country.")
    async def payment_method_configs(self, info: Info[Context, Any], code: str | None = None,
                                     currency: str | None = None,
                                     country: str | None = None) -> list[PaymentMethodConfig]:
        async with info.context.session() as session:
            return [PaymentMethodConfig.of(r) for r in await method_admin.list_rules(
                session, code=code, currency=currency, country=country)]

    @strawberry.field(permission_classes=[IsAuthenticated.or_token("profile.read")],
                      description="Your payments, newest first.")
    async def my_payments(self, info: Info[Context, Any], first: int | None = None,
                          after: str | None = None,
                          last: int | None = None, before: str | None = None) -> Connection[Payment]:
        ctx = info.context
        req = page_request(info, first, after, last, before)
        async with ctx.session() as session:
            page = await repo.list_for_user(session, _owner(ctx), page=req)
        return to_connection(page, Payment.of, _key)

    @strawberry.field(permission_classes=[IsAuthenticated.or_token("profile.read")],
                      description="One payment: your own, or any for staff with payments.read.")
    async def payment(self, info: Info[Context, Any], id: AnyId) -> Payment:
        async with info.context.session() as session:
            return Payment.of(await repo.get_visible(session, info.context.actor, _pid(id)))

    @strawberry.field(permission_classes=[IsAuthenticated],
                      description="Your deposit address for a crypto asset (issued by the provider on first use).")
    async def crypto_deposit_address(self, info: Info[Context, Any], asset: str) -> CryptoDepositAddress:
        ctx = info.context
        return CryptoDepositAddress.of(await crypto.deposit_address(
            ctx.services.session_factory, ctx.settings, ctx.actor, user_id=_owner(ctx), asset=asset))

    @strawberry.field(permission_classes=[IsAuthenticated], description="Your chargebacks and refunds.")
    async def my_disputes(self, info: Info[Context, Any], first: int | None = None,
                          after: str | None = None, last: int | None = None,
                          before: str | None = None) -> Connection[Dispute]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await disputes.history(session, _owner(info.context), req)
        return to_connection(page, Dispute.of, lambda d: (d.created_at, d.id))

    @strawberry.field(permission_classes=[Requires("payments.read")],
                      description="Staff: every client's deposits and withdrawals newest first (desk staff: their "
                                  "desk's clients'), optionally only some statuses, one direction or one client's "
                                  "(`clientId`: an empty page for a client the staff member does not see).")
    async def payments(self, info: Info[Context, Any], status: list[PaymentStatus] | None = None,
                       direction: PaymentDirection | None = None, first: int | None = None,
                       after: str | None = None, last: int | None = None,
                       before: str | None = None, client_id: AnyId | None = None) -> Connection[Payment]:
        ctx = info.context
        req = page_request(info, first, after, last, before)
        cid = None if client_id is None else client_key(client_id)
        async with ctx.read() as session:
            page = await repo.list_for_staff(session, ctx.actor, req,
                                             statuses=[s.value for s in status] if status else None,
                                             direction=direction.value if direction is not None else None,
                                             client_id=cid)
        return to_connection(page, Payment.of, _key)

    @strawberry.field(permission_classes=[Requires("payments.approve_withdrawal")],
                      description="Staff: withdrawals awaiting approval, oldest first.")
    async def pending_withdrawals(self, info: Info[Context, Any], first: int | None = None,
                                  after: str | None = None,
                                  last: int | None = None, before: str | None = None) -> Connection[Payment]:
        ctx = info.context
        req = page_request(info, first, after, last, before)
        # The page's approvals are read in its statement when selected and the caller may see them
        # (checked once here; each row's field still declares and checks payments.approve_withdrawal).
        if not (ctx.actor.has(APPROVALS_PERMISSION) and selects_below(info, "approvals")):
            async with ctx.session() as session:
                page = await repo.awaiting_approval(session, page=req)
            return to_connection(page, Payment.of, _key)
        async with ctx.session() as session:
            named = await repo.awaiting_approval_with_approvals(session, page=req)
        return to_connection(named, Payment.with_approvals, lambda item: _key(item[0]))


@strawberry.type
class PaymentMutations:
    @declares_errors(
        "AMOUNT_PRECISION", "CONFLICT", "DEPOSIT_NOT_ALLOWED_FOR_STATUS", "DISPUTE_EXCEEDS_PAYMENT",
        "ENTRY_ALREADY_REVERSED", "EXTERNAL_SERVICE_UNAVAILABLE", "FIRST_DEPOSIT_TOO_SMALL", "HOLD_NOT_ACTIVE",
        "IDEMPOTENCY_IN_PROGRESS", "IDEMPOTENCY_KEY_REUSED", "INSUFFICIENT_FUNDS", "INVALID_AMOUNT",
        "PAYMENT_INVALID_TRANSITION", "PAYMENT_METHOD_UNAVAILABLE", "PAYMENT_NOT_FOUND", "UNBALANCED_ENTRY",
        "UNKNOWN_CURRENCY", "VALIDATION_FAILED", "WITHDRAWAL_NOT_ALLOWED_FOR_STATUS",
    )
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Start a deposit: a card/local payment returns the URL to send the client to.")
    async def create_deposit(self, info: Info[Context, Any], input: CreateDepositInput) -> PaymentPayload:
        ctx = info.context

        async def work() -> PaymentPayload:
            payment = await deposits.create_deposit(
                ctx.services.session_factory, ctx.settings, ctx.actor, user_id=_owner(ctx),
                method_code=input.method_code, currency=input.currency, amount=input.amount,
                country=input.country, return_url=input.return_url, idempotency_key=input.idempotency_key)
            return PaymentPayload(payment=Payment.of(payment))

        return await payload_or_errors(work, lambda errors: PaymentPayload(errors=errors))

    @declares_errors(
        "AMOUNT_PRECISION", "CLOSED_LOOP_REQUIRED", "CONFLICT", "CRYPTO_ADDRESS_INVALID",
        "DEPOSIT_NOT_ALLOWED_FOR_STATUS", "IDEMPOTENCY_IN_PROGRESS", "IDEMPOTENCY_KEY_REUSED", "INSUFFICIENT_FUNDS",
        "INVALID_AMOUNT", "PAYMENT_METHOD_UNAVAILABLE", "PAYMENT_NOT_FOUND", "STEP_UP_REQUIRED", "UNKNOWN_CURRENCY",
        "VALIDATION_FAILED", "WITHDRAWAL_NOT_ALLOWED_FOR_STATUS",
    )
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Request a withdrawal (needs a fresh 2FA step-up); the amount is held at once.")
    async def request_withdrawal(self, info: Info[Context, Any], input: RequestWithdrawalInput) -> PaymentPayload:
        ctx = info.context

        async def work() -> PaymentPayload:
            async def txn(session: AsyncSession) -> PaymentRow:
                return await withdrawals.request_withdrawal(
                    session, ctx.settings, ctx.actor, user_id=_owner(ctx), method_code=input.method_code,
                    currency=input.currency, amount=input.amount, country=input.country,
                    destination=_destination(input), idempotency_key=input.idempotency_key)

            return PaymentPayload(payment=Payment.of(await ctx.transaction(txn)))

        return await payload_or_errors(work, lambda errors: PaymentPayload(errors=errors))

    @declares_errors(
        "ALREADY_APPROVED_BY_YOU", "AML_HOLD", "AMOUNT_PRECISION", "CONFLICT", "DISPUTE_EXCEEDS_PAYMENT",
        "ENTRY_ALREADY_REVERSED", "EXTERNAL_SERVICE_UNAVAILABLE", "FOUR_EYES_RELATED_APPROVER", "GATEWAY_REFUSED",
        "HOLD_NOT_ACTIVE", "INSUFFICIENT_FUNDS", "INVALID_AMOUNT", "INVALID_ID", "PAYMENT_INVALID_TRANSITION",
        "PAYMENT_METHOD_UNAVAILABLE", "PAYMENT_NOT_FOUND", "SELF_APPROVAL_FORBIDDEN", "UNBALANCED_ENTRY",
        "UNKNOWN_CURRENCY", "VALIDATION_FAILED", "WITHDRAWAL_NOT_AWAITING_APPROVAL",
    )
    @strawberry.mutation(permission_classes=[Requires("payments.approve_withdrawal")],
                         description="Staff: approve a withdrawal (two approvers above the threshold).")
    async def approve_withdrawal(self, info: Info[Context, Any], id: AnyId) -> PaymentPayload:
        ctx = info.context

        async def work() -> PaymentPayload:
            payment, done = await ctx.transaction(lambda s: withdrawals.approve(s, ctx.actor, _pid(id)))
            if done:
                payment = await withdrawals.payout(ctx.services.session_factory, ctx.settings, ctx.actor,
                                                   payment.id)
            return PaymentPayload(payment=Payment.of(payment))

        return await payload_or_errors(work, lambda errors: PaymentPayload(errors=errors))

    @declares_errors(
        "CONFLICT", "HOLD_NOT_ACTIVE", "INVALID_ID", "PAYMENT_INVALID_TRANSITION", "PAYMENT_NOT_FOUND",
        "UNKNOWN_CURRENCY", "VALIDATION_FAILED", "WITHDRAWAL_NOT_AWAITING_APPROVAL",
    )
    @strawberry.mutation(permission_classes=[Requires("payments.approve_withdrawal")],
                         description="Staff: reject a withdrawal; the held amount is released.")
    async def reject_withdrawal(self, info: Info[Context, Any], id: AnyId, reason: str) -> PaymentPayload:
        ctx = info.context

        async def work() -> PaymentPayload:
            payment = await ctx.transaction(lambda s: withdrawals.reject(s, ctx.actor, _pid(id), reason))
            return PaymentPayload(payment=Payment.of(payment))

        return await payload_or_errors(work, lambda errors: PaymentPayload(errors=errors))

    @declares_errors(
        "AMOUNT_PRECISION", "CONFLICT", "DISPUTE_EXCEEDS_PAYMENT", "ENTRY_ALREADY_REVERSED", "INSUFFICIENT_FUNDS",
        "INVALID_AMOUNT", "INVALID_ID", "PAYMENT_INVALID_TRANSITION", "PAYMENT_NOT_FOUND", "UNBALANCED_ENTRY",
        "UNKNOWN_CURRENCY", "VALIDATION_FAILED",
    )
    @strawberry.mutation(permission_classes=[Requires("payments.manage")],
                         description="Staff: record a chargeback or refund against a deposit.")
    async def record_chargeback(self, info: Info[Context, Any], input: RecordChargebackInput) -> DisputePayload:
        ctx = info.context

        async def work() -> DisputePayload:
            async def txn(session: AsyncSession) -> Dispute:
                payment = await repo.get(session, _pid(input.payment_id, "paymentId"), lock=True)
                if payment is None:
                    raise PaymentNotFound("no such payment", field="paymentId")
                return Dispute.of(await disputes.record(session, ctx.actor, payment, kind=input.kind.value,
                                                        amount=input.amount, case_id=input.case_id,
                                                        reason=input.reason))

            return DisputePayload(dispute=await ctx.transaction(txn))

        return await payload_or_errors(work, lambda errors: DisputePayload(errors=errors))

    @declares_errors(
        "AMOUNT_PRECISION", "DISPUTE_EXCEEDS_PAYMENT", "EXTERNAL_SERVICE_UNAVAILABLE", "INVALID_AMOUNT", "INVALID_ID",
        "PAYMENT_METHOD_UNAVAILABLE", "PAYMENT_NOT_FOUND", "UNKNOWN_CURRENCY",
    )
    @strawberry.mutation(permission_classes=[Requires("payments.manage")],
                         description="Staff: ask the provider to refund a card or local deposit (all or part); the "
                                     "wallet is debited when the provider confirms the refund by webhook.")
    async def refund_deposit(self, info: Info[Context, Any], input: RefundDepositInput) -> RefundPayload:
        ctx = info.context

        async def work() -> RefundPayload:
            pid = _pid(input.payment_id, "paymentId")
            made = await refunds.request_refund(ctx.services.session_factory, ctx.settings, ctx.actor, pid,
                                                input.amount)
            return RefundPayload(refund=ProviderRefund(payment_id=global_id("Payment", pid),
                                                       provider_refund_id=made.id, status=made.status))

        return await payload_or_errors(work, lambda errors: RefundPayload(errors=errors))

    @declares_errors(
        "AMOUNT_PRECISION", "CONFLICT", "ENTRY_ALREADY_REVERSED", "HOLD_NOT_ACTIVE", "INSUFFICIENT_FUNDS",
        "INVALID_AMOUNT", "PAYMENT_INVALID_TRANSITION", "PAYMENT_NOT_FOUND", "STATEMENT_MALFORMED",
        "UNBALANCED_ENTRY", "UNKNOWN_CURRENCY", "VALIDATION_FAILED", "WITHDRAWAL_NOT_APPROVED",
    )
    @strawberry.mutation(permission_classes=[Requires("payments.manage")],
                         description="Staff: import a bank statement (CSV, or camt.053.001.02/.08 XML validated "
                                     "against the ISO 20022 XSD) and match wire deposits.")
    async def import_bank_statement(self, info: Info[Context, Any], account: str, format: StatementFormat,
                                    content: str) -> StatementImportPayload:
        ctx = info.context

        async def work() -> StatementImportPayload:
            result = await ctx.transaction(lambda s: statements.import_statement(
                s, ctx.actor, account=account, fmt=format.value, content=content))
            return StatementImportPayload(result=StatementImport.of(result))

        return await payload_or_errors(work, lambda errors: StatementImportPayload(errors=errors))

    @declares_errors(
        "AMOUNT_PRECISION", "CONFLICT", "ENTRY_ALREADY_REVERSED", "HOLD_NOT_ACTIVE", "INSUFFICIENT_FUNDS",
        "INVALID_AMOUNT", "INVALID_ID", "PAYMENT_INVALID_TRANSITION", "PAYMENT_NOT_FOUND", "STEP_UP_REQUIRED",
        "UNBALANCED_ENTRY", "UNKNOWN_CURRENCY", "VALIDATION_FAILED", "WITHDRAWAL_NOT_APPROVED",
    )
    @strawberry.mutation(permission_classes=[Requires("payments.manage")],
                         description="Staff: a wire withdrawal left the bank (needs a fresh step-up): posts the held "
                                     "amount; the bank's reference, a note and an optional file are the evidence.")
    async def mark_withdrawal_paid(self, info: Info[Context, Any], id: AnyId, bank_reference: str, note: str,
                                   evidence: Upload | None = None) -> PaymentPayload:
        ctx = info.context
        file: tuple[str, bytes] | None = None
        if evidence is not None:
            # One byte over the limit is enough to refuse it without reading a huge body into memory.
            data: bytes = await evidence.read(withdrawals.MAX_EVIDENCE_BYTES + 1)  # type: ignore[attr-defined]
            file = (str(getattr(evidence, "filename", "") or ""), data)

        async def work() -> PaymentPayload:
            payment = await ctx.transaction(lambda s: withdrawals.staff_mark_paid(
                s, ctx.settings, default_store(ctx.settings), ctx.actor, _pid(id), bank_reference=bank_reference,
                note=note, file=file))
            return PaymentPayload(payment=Payment.of(payment))

        return await payload_or_errors(work, lambda errors: PaymentPayload(errors=errors))

    @declares_errors(
        "AMOUNT_PRECISION", "CONFLICT", "ENTRY_ALREADY_REVERSED", "HOLD_NOT_ACTIVE", "INSUFFICIENT_FUNDS",
        "INVALID_AMOUNT", "INVALID_ID", "PAYMENT_INVALID_TRANSITION", "PAYMENT_NOT_FOUND", "STEP_UP_REQUIRED",
        "UNBALANCED_ENTRY", "UNKNOWN_CURRENCY", "VALIDATION_FAILED", "WITHDRAWAL_NOT_APPROVED",
    )
    @strawberry.mutation(permission_classes=[Requires("payments.manage")],
                         description="Staff: the bank sent a wire withdrawal back (needs a fresh step-up): the held "
                                     "amount is released, or a paid amount credited back to the wallet.")
    async def mark_withdrawal_returned(self, info: Info[Context, Any], id: AnyId,
                                       reason: str) -> PaymentPayload:
        ctx = info.context

        async def work() -> PaymentPayload:
            payment = await ctx.transaction(lambda s: withdrawals.staff_mark_returned(
                s, ctx.settings, ctx.actor, _pid(id), reason))
            return PaymentPayload(payment=Payment.of(payment))

        return await payload_or_errors(work, lambda errors: PaymentPayload(errors=errors))


@strawberry.type
class PaymentMethodMutations:
    @declares_errors(
        "AMOUNT_PRECISION", "INVALID_AMOUNT", "INVALID_COUNTRY", "INVALID_PAYMENT_METHOD",
        "INVALID_PAYMENT_METHOD_FEE", "INVALID_PAYMENT_METHOD_LIMITS", "PAYMENT_METHOD_EXISTS", "UNKNOWN_CURRENCY",
        "UNKNOWN_PAYMENT_PROVIDER",
    )
    @strawberry.mutation(permission_classes=[Requires("payments.methods.manage")],
                         description="Staff: add a payment method rule for a currency and country ('*' the default), "
                                     "with fees, limits and the PSP account it goes through.")
    async def create_payment_method(self, info: Info[Context, Any],
                                    input: CreatePaymentMethodInput) -> PaymentMethodConfigPayload:
        ctx = info.context
        zero = Decimal(0)
        spec = method_admin.MethodSpec(
            code=input.code, kind=input.kind.value, provider=input.provider, currency=input.currency,
            country=input.country, max_amount=input.max_amount, min_amount=input.min_amount or zero,
            fee_fixed=input.fee_fixed or zero, fee_percent=input.fee_percent or zero,
            first_deposit_min=input.first_deposit_min or zero, base_url=input.base_url,
            display_name=input.display_name, deposits=input.deposits, withdrawals=input.withdrawals)

        async def work() -> PaymentMethodConfigPayload:
            rule = await ctx.transaction(lambda s: method_admin.create(s, ctx.actor, spec))
            return PaymentMethodConfigPayload(method=PaymentMethodConfig.of(rule))

        return await payload_or_errors(work, lambda errors: PaymentMethodConfigPayload(errors=errors))

    @declares_errors(
        "AMOUNT_PRECISION", "INVALID_AMOUNT", "INVALID_COUNTRY", "INVALID_ID", "INVALID_PAYMENT_METHOD",
        "INVALID_PAYMENT_METHOD_FEE", "INVALID_PAYMENT_METHOD_LIMITS", "PAYMENT_METHOD_NOT_FOUND", "UNKNOWN_CURRENCY",
        "UNKNOWN_PAYMENT_PROVIDER",
    )
    @strawberry.mutation(permission_classes=[Requires("payments.methods.manage")],
                         description="Staff: change a payment method rule (the fields given).")
    async def update_payment_method(self, info: Info[Context, Any], id: AnyId,
                                    input: UpdatePaymentMethodInput) -> PaymentMethodConfigPayload:
        ctx = info.context

        async def work() -> PaymentMethodConfigPayload:
            rule = await ctx.transaction(lambda s: method_admin.update(s, ctx.actor, _rule_id(id), _changes(input)))
            return PaymentMethodConfigPayload(method=PaymentMethodConfig.of(rule))

        return await payload_or_errors(work, lambda errors: PaymentMethodConfigPayload(errors=errors))

    @declares_errors("INVALID_BIC", "INVALID_IBAN", "INVALID_ID", "INVALID_PAYMENT_METHOD", "PAYMENT_METHOD_NOT_FOUND",
                     "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("payments.methods.manage")],
                         description="Staff: set the bank account a wire method rule's deposits are paid into (shown "
                                     "to clients with a wire deposit's reference); audited.")
    async def set_wire_bank_details(self, info: Info[Context, Any], method_id: AnyId,
                                    input: WireBankDetailsInput) -> PaymentMethodConfigPayload:
        ctx = info.context
        details = bank_details.BankDetails(iban=input.iban, bic=input.bic, beneficiary_name=input.beneficiary_name,
                                           beneficiary_address=input.beneficiary_address, bank_name=input.bank_name)

        async def work() -> PaymentMethodConfigPayload:
            async def txn(s: AsyncSession) -> method_admin.MethodRule:
                rule_id = key_of(method_id, "PaymentMethodConfig", field="methodId")
                await bank_details.set_for_method(s, ctx.actor, rule_id, details)
                return await method_admin.rule_for(s, rule_id)

            return PaymentMethodConfigPayload(method=PaymentMethodConfig.of(await ctx.transaction(txn)))

        return await payload_or_errors(work, lambda errors: PaymentMethodConfigPayload(errors=errors))

    @declares_errors("INVALID_ID", "PAYMENT_METHOD_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires("payments.methods.manage")],
                         description="Staff: enable or disable a payment method rule (payments under way go on).")
    async def set_payment_method_enabled(self, info: Info[Context, Any], id: AnyId,
                                         enabled: bool) -> PaymentMethodConfigPayload:
        ctx = info.context

        async def work() -> PaymentMethodConfigPayload:
            rule = await ctx.transaction(lambda s: method_admin.set_enabled(s, ctx.actor, _rule_id(id), enabled))
            return PaymentMethodConfigPayload(method=PaymentMethodConfig.of(rule))

        return await payload_or_errors(work, lambda errors: PaymentMethodConfigPayload(errors=errors))


def _payment(event: Event) -> PaymentUpdate:
    return PaymentUpdate.from_event(event.payload)


@strawberry.type
class PaymentSubscriptions:
    @strawberry.subscription(permission_classes=[IsAuthenticated.or_token("profile.read")],
                             description="Your payments as they change.")
    async def payment_updated(self, info: Info[Context, Any]) -> AsyncGenerator[PaymentUpdate, None]:
        async with info.context.subscribe_own(info, TOPIC_PAYMENT_UPDATED) as sub:
            while True:
                update = converted(await info.context.next_event(sub), _payment)
                if update is not None:
                    yield update


QUERIES = (PaymentQueries,)
MUTATIONS = (PaymentMutations, PaymentMethodMutations)
SUBSCRIPTIONS = (PaymentSubscriptions,)


def _destination(input: RequestWithdrawalInput) -> dict[str, Any]:
    if input.address or input.tag:
        return {"address": input.address, "tag": input.tag}
    return {"iban": input.iban} if input.iban else {}
