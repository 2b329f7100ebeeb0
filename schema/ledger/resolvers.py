from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.events.hub import Event
from domain.fx import quotes
from domain.ledger import idempotency, transfers, wallets
from domain.ledger.accounts import (
    WalletView,
    balance_of,
    get_wallet,
    owned_trading_account,
    wallets_by_ids,
    wallets_of,
)
from domain.ledger.errors import TransferFailed, WalletNotFound
from domain.ledger.posting import TOPIC_WALLET_UPDATED
from domain.shared.actor import ActorKind
from domain.shared.errors import KNOWN_CODES, DomainError
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors, user_error
from schema.events import converted
from schema.ledger.types import (
    AdjustBalanceInput,
    AdjustBalancePayload,
    BalanceAdjustment,
    BalanceAdjustmentPayload,
    Exchange,
    ExchangeInput,
    ExchangePayload,
    IdempotentOperation,
    Transfer,
    TransferFromTradingAccountInput,
    TransferPayload,
    TransferToTradingAccountInput,
    Wallet,
    WalletTransaction,
    WalletTransactionFilter,
)
from schema.node import AnyId, global_id, key_of, node_type
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import IsAuthenticated, Requires


def _id(value: strawberry.ID | str, field: str) -> int:
    return key_of(value, "Wallet", field=field)


def _account_id(value: strawberry.ID | str) -> int:
    return key_of(value, "TradingAccount", field="tradingAccountId")


@node_type("Wallet")
async def _wallet_nodes(ctx: Context, keys: Sequence[int]) -> list[Wallet | None]:
    """The caller's own wallets only, as myWallets (staff see balances through the client's record)."""
    if ctx.actor.user_id is None:
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await wallets_by_ids(session, keys, owner_id=ctx.actor.user_id)
    return [Wallet.of(w) if (w := found.get(k)) is not None else None for k in keys]


@node_type("WalletTransaction")
async def _transaction_nodes(ctx: Context, keys: Sequence[int]) -> list[WalletTransaction | None]:
    """Postings on the caller's own wallets only, as walletTransactions."""
    if ctx.actor.user_id is None:
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await wallets.transactions_by_ids(session, list(keys), owner_id=ctx.actor.user_id)
    return [WalletTransaction.of(t) if (t := found.get(k)) is not None else None for k in keys]


@node_type("Transfer")
async def _transfer_nodes(ctx: Context, keys: Sequence[int]) -> list[Transfer | None]:
    """The caller's own transfers only, as the transfer mutations answer them."""
    if ctx.actor.user_id is None:
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await transfers.transfers_by_ids(session, list(keys), ctx.actor.user_id)
    return [Transfer.of(t) if (t := found.get(k)) is not None else None for k in keys]


def _owner(ctx: Context) -> int:
    if ctx.actor.user_id is None:
        raise WalletNotFound("no such wallet", field="walletId")
    return ctx.actor.user_id


def _key(t: wallets.WalletTransaction) -> tuple[datetime, int]:
    return t.created_at, t.id


@strawberry.type
class LedgerQueries:
    @strawberry.field(permission_classes=[IsAuthenticated],
                      description="The outcome of one of your money operations by the idempotency key you sent it "
                                  "with (null: never received, or expired after 7 days). After an internal error, "
                                  "ask here before retrying with a new key.")
    async def operation_by_idempotency_key(self, info: Info[Context, Any], key: str) -> IdempotentOperation | None:
        async with info.context.session() as session:
            actor = info.context.actor
            found = await idempotency.outcome(session, scope=actor.label, key=key,
                                              user_id=actor.user_id if actor.kind is ActorKind.STAFF else None)
        return IdempotentOperation.of(found) if found is not None else None

    @strawberry.field(permission_classes=[IsAuthenticated.or_token("profile.read")],
                      description="The signed-in client's wallets.")
    async def my_wallets(self, info: Info[Context, Any]) -> list[Wallet]:
        uid = info.context.actor.user_id
        if uid is None:
            return []
        async with info.context.raw_read() as conn:
            return [Wallet.of(w) for w in await wallets_of(conn, uid)]

    @strawberry.field(permission_classes=[IsAuthenticated.or_token("profile.read")],
                      description="Movements on one of your wallets, newest first.")
    async def wallet_transactions(
        self, info: Info[Context, Any], wallet_id: AnyId, filter: WalletTransactionFilter | None = None,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[WalletTransaction]:
        ctx = info.context
        req = page_request(info, first, after, last, before)
        async with ctx.session() as session:
            wallet = await get_wallet(session, _id(wallet_id, "walletId"), owner_id=_owner(ctx))
            page = await wallets.wallet_transactions(
                session, wallet, page=req, kinds=filter.kinds if filter else None,
                since=filter.since if filter else None, until=filter.until if filter else None)
        return to_connection(page, WalletTransaction.of, _key)

    @strawberry.field(permission_classes=[Requires("ledger.adjust")],
                      description="Staff: balance adjustments awaiting a second staff member, oldest first.")
    async def pending_balance_adjustments(self, info: Info[Context, Any], first: int | None = None,
                                          after: str | None = None, last: int | None = None,
                                          before: str | None = None) -> Connection[BalanceAdjustment]:
        ctx = info.context
        req = page_request(info, first, after, last, before)
        async with ctx.session() as session:
            page = await wallets.pending_adjustments(session, page=req)
        return to_connection(page, BalanceAdjustment.of, _adjustment_key)


def _transfer_payload(view: transfers.TransferView) -> TransferPayload:
    errors: list[UserError] = []
    if view.status is transfers.TransferStatus.FAILED:
        code = view.error_code if view.error_code in KNOWN_CODES else None
        exc = DomainError(view.error_message or "the transfer failed", code=code) if code else \
            TransferFailed(view.error_message or "the transfer failed")
        errors.append(user_error(exc))
    return TransferPayload(transfer=Transfer.of(view), errors=errors)


def _transfer_failed(errors: list[UserError]) -> TransferPayload:
    return TransferPayload(errors=errors)


def _adjustment_key(r: wallets.AdjustmentRequest) -> tuple[datetime, int]:
    return r.created_at, r.id


async def _transfer(
    ctx: Context, move: Any, input: TransferToTradingAccountInput | TransferFromTradingAccountInput
) -> TransferPayload:
    """Both directions share one shape: the saga in domain/ledger/transfers.py does the rest."""

    async def work() -> TransferPayload:
        owner = _owner(ctx)
        account_id = _account_id(input.trading_account_id)
        async with ctx.session() as session:
            server_id, login = await owned_trading_account(session, user_id=owner, account_id=account_id)
        view = await move(
            ctx.services.session_factory, ctx.actor, user_id=owner, wallet_id=_id(input.wallet_id, "walletId"),
            server_id=server_id, login=login, amount=input.amount, idempotency_key=input.idempotency_key)
        return _transfer_payload(dataclasses.replace(view, trading_account_id=account_id))

    return await payload_or_errors(work, _transfer_failed)


@strawberry.type
class LedgerMutations:
    @declares_errors(
        "AML_DECLINED", "AMOUNT_PRECISION", "CURRENCY_MISMATCH", "HOLD_NOT_ACTIVE", "IDEMPOTENCY_IN_PROGRESS",
        "IDEMPOTENCY_KEY_REUSED", "INSUFFICIENT_FUNDS", "INVALID_AMOUNT", "INVALID_ID", "PLATFORM_ACCOUNT_EXISTS",
        "PLATFORM_ACCOUNT_NOT_FOUND", "PLATFORM_AUTH_FAILED", "PLATFORM_INVALID_GROUP", "PLATFORM_INVALID_REQUEST",
        "PLATFORM_NOT_ENOUGH_MONEY", "PLATFORM_OUTCOME_UNKNOWN", "PLATFORM_PROTOCOL_ERROR", "PLATFORM_REJECTED",
        "PLATFORM_UNAVAILABLE", "TRADING_ACCOUNT_NOT_FOUND", "TRANSFER_FAILED", "UNKNOWN_CURRENCY",
        "VALIDATION_FAILED", "WALLET_NOT_FOUND",
    )
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Move money from your wallet to your trading account.")
    async def transfer_to_trading_account(
        self, info: Info[Context, Any], input: TransferToTradingAccountInput
    ) -> TransferPayload:
        return await _transfer(info.context, transfers.transfer_to_trading_account, input)

    @declares_errors(
        "AMOUNT_PRECISION", "CURRENCY_MISMATCH", "HOLD_NOT_ACTIVE", "IDEMPOTENCY_IN_PROGRESS",
        "IDEMPOTENCY_KEY_REUSED", "INSUFFICIENT_FREE_MARGIN", "INSUFFICIENT_FUNDS", "INVALID_AMOUNT", "INVALID_ID",
        "PLATFORM_ACCOUNT_EXISTS", "PLATFORM_ACCOUNT_NOT_FOUND", "PLATFORM_AUTH_FAILED", "PLATFORM_INVALID_GROUP",
        "PLATFORM_INVALID_REQUEST", "PLATFORM_NOT_ENOUGH_MONEY", "PLATFORM_OUTCOME_UNKNOWN",
        "PLATFORM_PROTOCOL_ERROR", "PLATFORM_REJECTED", "PLATFORM_UNAVAILABLE", "TRADING_ACCOUNT_NOT_FOUND",
        "TRANSFER_FAILED", "UNKNOWN_CURRENCY", "VALIDATION_FAILED", "WALLET_NOT_FOUND",
    )
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Move money from your trading account back to your wallet.")
    async def transfer_from_trading_account(
        self, info: Info[Context, Any], input: TransferFromTradingAccountInput
    ) -> TransferPayload:
        return await _transfer(info.context, transfers.transfer_from_trading_account, input)

    @declares_errors(
        "AMOUNT_PRECISION", "CONFLICT", "ENTRY_ALREADY_REVERSED", "FX_QUOTE_EXPIRED", "FX_QUOTE_NOT_FOUND",
        "FX_QUOTE_USED", "IDEMPOTENCY_IN_PROGRESS", "IDEMPOTENCY_KEY_REUSED", "INSUFFICIENT_FUNDS", "INVALID_AMOUNT",
        "UNBALANCED_ENTRY", "UNKNOWN_CURRENCY", "VALIDATION_FAILED", "WALLET_NOT_FOUND",
    )
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Exchange between two of your wallets at the rate of a quote from quoteExchange: "
                                     "accepts the quote (once, before it expires).")
    async def exchange(self, info: Info[Context, Any], input: ExchangeInput) -> ExchangePayload:
        ctx = info.context

        async def work() -> ExchangePayload:
            owner, qid = _owner(ctx), quotes.quote_id(input.quote_id)

            async def txn(session: AsyncSession) -> wallets.ExchangeResult:
                return await quotes.accept_quote(session, ctx.actor, user_id=owner, quote=qid,
                                                 idempotency_key=input.idempotency_key)

            return ExchangePayload(exchange=Exchange.of(await ctx.transaction(txn, grouped=True)))

        return await payload_or_errors(work, lambda errors: ExchangePayload(errors=errors))

    @declares_errors(
        "AMOUNT_PRECISION", "CONFLICT", "ENTRY_ALREADY_REVERSED", "IDEMPOTENCY_IN_PROGRESS", "IDEMPOTENCY_KEY_REUSED",
        "INSUFFICIENT_FUNDS", "INVALID_AMOUNT", "INVALID_ID", "PERMISSION_DENIED", "UNBALANCED_ENTRY",
        "UNKNOWN_CURRENCY", "VALIDATION_FAILED", "WALLET_NOT_FOUND",
    )
    @strawberry.mutation(permission_classes=[Requires("ledger.adjust")],
                         description="Staff: correct a wallet's balance, with a reason (audited).")
    async def adjust_balance(self, info: Info[Context, Any], input: AdjustBalanceInput) -> AdjustBalancePayload:
        ctx = info.context

        async def work() -> AdjustBalancePayload:
            wid = _id(input.wallet_id, "walletId")

            async def txn(session: AsyncSession) -> AdjustBalancePayload:
                outcome = await wallets.request_adjustment(
                    session, ctx.actor, wallet_id=wid, amount=input.amount, reason=input.reason,
                    idempotency_key=input.idempotency_key, allow_negative=input.allow_negative)
                account = await get_wallet(session, wid, owner_id=None)
                wallet = Wallet.of(WalletView(account, await balance_of(session, wid)))
                if outcome.request is not None:
                    return AdjustBalancePayload(pending=outcome.pending, wallet=wallet,
                                                adjustment_id=global_id("BalanceAdjustment", outcome.request.id),
                                                adjustment=BalanceAdjustment.of(outcome.request))
                assert outcome.movement is not None
                return AdjustBalancePayload(entry_id=strawberry.ID(str(outcome.movement.entry_id)), wallet=wallet)

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda errors: AdjustBalancePayload(errors=errors))

    @declares_errors(
        "AMOUNT_PRECISION", "BALANCE_ADJUSTMENT_NOT_FOUND", "BALANCE_ADJUSTMENT_NOT_PENDING", "CONFLICT",
        "ENTRY_ALREADY_REVERSED", "FOUR_EYES_RELATED_APPROVER", "INSUFFICIENT_FUNDS", "INVALID_AMOUNT", "INVALID_ID",
        "PERMISSION_DENIED", "SELF_APPROVAL_FORBIDDEN", "UNBALANCED_ENTRY", "UNKNOWN_CURRENCY", "VALIDATION_FAILED",
        "WALLET_NOT_FOUND",
    )
    @strawberry.mutation(permission_classes=[Requires("ledger.adjust")],
                         description="Staff: approve another staff member's pending balance adjustment (it posts).")
    async def approve_balance_adjustment(self, info: Info[Context, Any], id: AnyId) -> BalanceAdjustmentPayload:
        return await _decide(info.context, id, None)

    @declares_errors(
        "AMOUNT_PRECISION", "BALANCE_ADJUSTMENT_NOT_FOUND", "BALANCE_ADJUSTMENT_NOT_PENDING", "CONFLICT",
        "ENTRY_ALREADY_REVERSED", "FOUR_EYES_RELATED_APPROVER", "INSUFFICIENT_FUNDS", "INVALID_AMOUNT", "INVALID_ID",
        "PERMISSION_DENIED", "SELF_APPROVAL_FORBIDDEN", "UNBALANCED_ENTRY", "UNKNOWN_CURRENCY", "VALIDATION_FAILED",
        "WALLET_NOT_FOUND",
    )
    @strawberry.mutation(permission_classes=[Requires("ledger.adjust")],
                         description="Staff: reject a pending balance adjustment (nothing posts).")
    async def reject_balance_adjustment(self, info: Info[Context, Any], id: AnyId,
                                        reason: str) -> BalanceAdjustmentPayload:
        return await _decide(info.context, id, reason)


def _adjustment_id(value: strawberry.ID | str) -> int:
    return key_of(value, "BalanceAdjustment")


@node_type("BalanceAdjustment")
async def _adjustment_nodes(ctx: Context, keys: Sequence[int]) -> list[BalanceAdjustment | None]:
    """Staff with ledger.adjust (pendingBalanceAdjustments, and the decided ones approve/reject answer with)."""
    if not (ctx.actor.kind is ActorKind.STAFF and ctx.actor.has("ledger.adjust")):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await wallets.adjustments_by_ids(session, list(keys))
    return [BalanceAdjustment.of(r) if (r := found.get(k)) else None for k in keys]


async def _decide(ctx: Context, id: strawberry.ID, reject_reason: str | None) -> BalanceAdjustmentPayload:
    async def work() -> BalanceAdjustmentPayload:
        rid = _adjustment_id(id)

        async def txn(session: AsyncSession) -> BalanceAdjustmentPayload:
            if reject_reason is None:
                decided = await wallets.approve_adjustment(session, ctx.actor, rid)
            else:
                decided = await wallets.reject_adjustment(session, ctx.actor, rid, reject_reason)
            account = await get_wallet(session, decided.wallet_id, owner_id=None)
            return BalanceAdjustmentPayload(adjustment=BalanceAdjustment.of(decided), wallet=Wallet.of(
                WalletView(account, await balance_of(session, decided.wallet_id))))

        return await ctx.transaction(txn)

    return await payload_or_errors(work, lambda errors: BalanceAdjustmentPayload(errors=errors))


def _wallet(event: Event) -> Wallet:
    return Wallet.from_event(event.payload)


@strawberry.type
class LedgerSubscriptions:
    @strawberry.subscription(permission_classes=[IsAuthenticated.or_token("profile.read")],
                             description="Your wallets as they change.")
    async def wallet_updated(self, info: Info[Context, Any]) -> AsyncGenerator[Wallet, None]:
        async with info.context.subscribe_own(info, TOPIC_WALLET_UPDATED) as sub:
            while True:
                wallet = converted(await info.context.next_event(sub), _wallet)
                if wallet is not None:
                    yield wallet


QUERIES = (LedgerQueries,)
MUTATIONS = (LedgerMutations,)
SUBSCRIPTIONS = (LedgerSubscriptions,)
