"""Transfers between a client's wallet and their trading accounts, through the platform port.

A transfer spans an external call, so it is a small saga of short transactions (the one place in
the ledger where the service, not its caller, owns the transaction boundaries):

wallet -> account: [hold + transfer row `pending` + idempotency claim] commit -> platform DEPOSIT
with the transfer's external id -> [capture the hold into an entry wallet -> mirror, `done`] or
[release the hold, `failed`] on a definite refusal. On a lost answer (OutcomeUnknown, protocol
garbage, a crash) the operation is looked up by external id before deciding; if that is still
inconclusive the transfer stays `unknown` (hold kept) and `recover_transfers` settles it later.

account -> wallet: free margin checked first (nothing written on refusal) -> [transfer row]
commit -> platform WITHDRAWAL -> [entry mirror -> wallet, `done`] / `failed` / `unknown` as above.

Settling locks the transfer row and acts only on an open status, and the entry's idempotency key
is derived from the external id (unique), so racing settlers can never credit twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import String, and_, cast, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.ledger import idempotency
from domain.ledger.accounts import AccountRef, get_account, get_wallet, trading_account
from domain.ledger.errors import CurrencyMismatch, InsufficientFreeMargin, TradingAccountNotFound
from domain.ledger.holds import capture_hold, place_hold, release_hold
from domain.ledger.models import Transfer
from domain.ledger.posting import Leg, post
from domain.ledger.wallets import positive
from domain.platforms.errors import OutcomeUnknown, PlatformProtocolError
from domain.platforms.port import BalanceOpKind, BalanceOpResult, TradingPlatform
from domain.shared.actor import Actor, system_actor
from domain.shared.db import SessionFactory, in_transaction, utcnow
from domain.shared.errors import DomainError
from domain.shared.money import at_scale

log = structlog.get_logger(__name__)

# A transfer whose outcome is still unknown after this long, and that the platform does not know,
# was never applied: every platform call we make times out well before (seconds).
STALE_AFTER = timedelta(minutes=2)
RECHECK_EVERY = timedelta(seconds=20)


class TransferStatus(StrEnum):
    PENDING = "pending"
    UNKNOWN = "unknown"
    DONE = "done"
    FAILED = "failed"
    HELD = "held"  # transaction monitoring holds it for review (the wallet hold kept): domain/compliance/aml


class Direction(StrEnum):
    TO_ACCOUNT = "to_account"
    FROM_ACCOUNT = "from_account"


OPEN = (TransferStatus.PENDING.value, TransferStatus.UNKNOWN.value)

# server id -> platform; filled at start-up by whoever configures trading servers.
_PLATFORMS: dict[str, TradingPlatform] = {}
PlatformLookup = Callable[[str], TradingPlatform]


def register_platform(server_id: str, platform: TradingPlatform) -> None:
    _PLATFORMS[server_id] = platform


def unregister_platform(server_id: str) -> None:
    _PLATFORMS.pop(server_id, None)


def registered_platform(server_id: str) -> TradingPlatform:
    try:
        return _PLATFORMS[server_id]
    except KeyError:
        raise TradingAccountNotFound("no such trading server", field="serverId") from None


@dataclass(frozen=True)
class TransferView:
    id: int
    external_id: uuid.UUID
    user_id: int
    direction: Direction
    status: TransferStatus
    wallet_id: int
    server_id: str
    login: int
    currency: str
    amount: Decimal
    entry_id: int | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    replayed: bool = False
    trading_account_id: int | None = None  # trading_accounts.id, when the caller named the account by it

    @classmethod
    def of(cls, row: Transfer, *, replayed: bool = False) -> TransferView:
        return cls(row.id, row.external_id, row.user_id, Direction(row.direction), TransferStatus(row.status),
                   row.wallet_account_id, row.server_id, row.login, row.currency, row.amount, row.entry_id,
                   row.error_code, row.error_message, row.created_at, replayed)


async def get_transfer(session: AsyncSession, transfer_id: int, *, lock: bool = False) -> Transfer:
    stmt = select(Transfer).where(Transfer.id == transfer_id)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()
    return row


# -- the saga's steps (each runs in the caller's transaction) ---------------------------------------


@dataclass(frozen=True)
class _Prepared:
    wallet: AccountRef
    mirror: AccountRef
    amount: Decimal
    payload: dict[str, Any]


async def _prepare(
    session: AsyncSession, *, user_id: int, wallet_id: int, server_id: str, login: int, amount: Decimal,
    direction: Direction,
) -> _Prepared:
    wallet = await get_wallet(session, wallet_id, owner_id=user_id)
    mirror = await trading_account(session, user_id=user_id, server_id=server_id, login=login)
    if wallet.currency != mirror.currency:
        raise CurrencyMismatch(f"the trading account is in {mirror.currency}: choose a {mirror.currency} wallet",
                               field="walletId")
    amount = positive(amount, wallet.currency)
    payload = {"user_id": user_id, "wallet_id": wallet.id, "server_id": server_id, "login": login,
               "amount": amount, "direction": direction.value}
    return _Prepared(wallet, mirror, amount, payload)


async def _open(session: AsyncSession, actor: Actor, prep: _Prepared, direction: Direction, key: str,
                ) -> tuple[Transfer, bool]:
    """Claim the key and record the transfer (plus the hold when paying out of the wallet)."""
    claim = await idempotency.claim(session, scope=actor.label, key=key, operation=f"transfer_{direction.value}",
                                    payload=prep.payload)
    if not claim.fresh:
        return await get_transfer(session, int((claim.result or {})["transfer_id"])), False
    external_id = uuid.uuid4()
    hold_id = None
    if direction is Direction.TO_ACCOUNT:
        hold_id = (await place_hold(session, prep.wallet, prep.amount, ref_kind="transfer",
                                    ref_id=str(external_id))).id
    row = Transfer(
        external_id=external_id, user_id=prep.wallet.owner_id, direction=direction.value,
        wallet_account_id=prep.wallet.id, mirror_account_id=prep.mirror.id, server_id=prep.mirror.server_id,
        login=prep.mirror.login, currency=prep.wallet.currency, amount=prep.amount, status=TransferStatus.PENDING,
        hold_id=hold_id, idem_scope=actor.label, idem_key=key.strip(),
    )
    session.add(row)
    await session.flush()
    await session.execute(text(
        "UPDATE idempotency_keys SET result = CAST(:r AS jsonb) WHERE scope = :s AND key = :k"),
        {"r": f'{{"transfer_id": {row.id}}}', "s": actor.label, "k": key.strip()})
    await audit.record(session, actor, action=f"transfer.{direction.value}.start", entity_type="ledger_transfer",
                       entity_id=row.id, after={"amount": str(prep.amount), "currency": row.currency,
                                                "server_id": row.server_id, "login": row.login})
    return row, True


async def settle_done(session: AsyncSession, actor: Actor, transfer_id: int, op: BalanceOpResult | None) -> Transfer:
    """The platform applied the operation: post it (once) and mark the transfer done."""
    row = await get_transfer(session, transfer_id, lock=True)
    if row.status not in OPEN:
        return row
    wallet = await get_account(session, row.wallet_account_id)
    mirror = await get_account(session, row.mirror_account_id)
    assert wallet is not None and mirror is not None
    key = f"transfer:{row.external_id}"
    if row.direction == Direction.TO_ACCOUNT:
        assert row.hold_id is not None
        entry = await capture_hold(session, actor, wallet, row.hold_id, mirror, ref_kind="transfer",
                                   ref_id=str(row.external_id), idempotency_key=key,
                                   description="wallet to trading account")
    else:
        entry = await post(session, actor, [Leg(mirror, row.amount), Leg(wallet, -row.amount)], ref_kind="transfer",
                           ref_id=str(row.external_id), idempotency_key=key, description="trading account to wallet")
    before = row.status
    row.status, row.entry_id, row.updated_at = TransferStatus.DONE, entry.id, utcnow()
    row.platform_ticket = op.ticket if op is not None else None
    await session.flush()
    await idempotency.finish(session, scope=row.idem_scope, key=row.idem_key, result={"transfer_id": row.id})
    await audit.record(session, actor, action="transfer.done", entity_type="ledger_transfer", entity_id=row.id,
                       before={"status": before}, after={"status": row.status, "entry_id": entry.id})
    return row


async def settle_failed(session: AsyncSession, actor: Actor, transfer_id: int, code: str, message: str) -> Transfer:
    """The platform did not apply it: release the hold and mark the transfer failed."""
    row = await get_transfer(session, transfer_id, lock=True)
    if row.status not in OPEN:
        return row
    if row.hold_id is not None:
        wallet = await get_account(session, row.wallet_account_id)
        assert wallet is not None
        await release_hold(session, wallet, row.hold_id)
    before = row.status
    row.status, row.error_code, row.error_message = TransferStatus.FAILED, code, message[:500]
    row.updated_at = utcnow()
    await session.flush()
    await idempotency.finish(session, scope=row.idem_scope, key=row.idem_key, result={"transfer_id": row.id},
                             status=idempotency.FAILED)
    await audit.record(session, actor, action="transfer.failed", entity_type="ledger_transfer", entity_id=row.id,
                       before={"status": before}, after={"status": row.status, "error_code": code})
    return row


async def mark_unknown(session: AsyncSession, transfer_id: int, message: str, *, recheck_at: datetime) -> Transfer:
    row = await get_transfer(session, transfer_id, lock=True)
    if row.status in OPEN:
        row.status, row.error_message, row.next_check_at = TransferStatus.UNKNOWN, message[:500], recheck_at
        row.updated_at = utcnow()
        await session.flush()
    return row


# -- orchestration ------------------------------------------------------------------------------


def _is_definite_refusal(exc: BaseException) -> bool:
    """True when the platform certainly did not apply the operation."""
    if isinstance(exc, OutcomeUnknown | PlatformProtocolError):
        return False
    return isinstance(exc, DomainError)  # incl. PlatformUnavailable: refused before processing


async def _execute(factory: SessionFactory, actor: Actor, platform: TradingPlatform, row: Transfer) -> Transfer:
    kind = BalanceOpKind.DEPOSIT if row.direction == Direction.TO_ACCOUNT else BalanceOpKind.WITHDRAWAL
    try:
        # at the currency's scale: the column keeps 18 places, the platform is sent "12.50", not 18 zeros
        op = await platform.balance_operation(row.login, kind, at_scale(row.amount, row.currency), "wallet transfer",
                                              str(row.external_id))
    except Exception as exc:
        if _is_definite_refusal(exc):
            code, message = str(getattr(exc, "code", "TRANSFER_FAILED")), str(exc)
            return await in_transaction(factory, lambda s: settle_failed(s, actor, row.id, code, message))
        log.warning("transfer.outcome_unknown", transfer_id=row.id, error=str(exc))
        return await _resolve(factory, actor, platform, row, reason=str(exc) or type(exc).__name__)
    return await in_transaction(factory, lambda s: settle_done(s, actor, row.id, op))


async def _resolve(
    factory: SessionFactory, actor: Actor, platform: TradingPlatform, row: Transfer, *, reason: str,
    now: datetime | None = None,
) -> Transfer:
    """Look the operation up by external id and settle, or leave the transfer `unknown`."""
    now = now or utcnow()
    try:
        found = await platform.find_balance_operation(row.login, str(row.external_id),
                                                      since=row.created_at - timedelta(days=1))
    except Exception as exc:
        log.warning("transfer.lookup_failed", transfer_id=row.id, error=str(exc))
        found, reason = None, f"{reason}; lookup failed: {exc}"
    else:
        if found is not None:
            return await in_transaction(factory, lambda s: settle_done(s, actor, row.id, found))
        if now - row.created_at >= STALE_AFTER:
            return await in_transaction(factory, lambda s: settle_failed(
                s, actor, row.id, "PLATFORM_OUTCOME_UNKNOWN", "the platform never applied the operation"))
    return await in_transaction(factory, lambda s: mark_unknown(s, row.id, reason, recheck_at=now + RECHECK_EVERY))


async def transfer_to_trading_account(
    factory: SessionFactory, actor: Actor, *, user_id: int, wallet_id: int, server_id: str, login: int,
    amount: Decimal, idempotency_key: str, platforms: PlatformLookup = registered_platform,
) -> TransferView:
    platform = platforms(server_id)

    async def start(session: AsyncSession) -> tuple[Transfer, bool]:
        prep = await _prepare(session, user_id=user_id, wallet_id=wallet_id, server_id=server_id, login=login,
                              amount=amount, direction=Direction.TO_ACCOUNT)
        row, fresh = await _open(session, actor, prep, Direction.TO_ACCOUNT, idempotency_key)
        if fresh:
            row = await _monitor(session, actor, row)
        return row, fresh

    row, fresh = await in_transaction(factory, start)
    if not fresh:
        return TransferView.of(row, replayed=True)
    if row.status != TransferStatus.PENDING:  # held for review or declined by transaction monitoring
        return TransferView.of(row)
    return TransferView.of(await _execute(factory, actor, platform, row))


async def _monitor(session: AsyncSession, actor: Actor, row: Transfer) -> Transfer:
    """Transaction monitoring's say before the platform is called: go on, hold, or decline."""
    from domain.compliance.aml import events as aml

    said = await aml.on_transfer_to_account(session, actor, transfer_id=row.id, user_id=row.user_id,
                                            amount=row.amount, currency=row.currency, hold_id=row.hold_id)
    if said == "declined":
        return await settle_failed(session, actor, row.id, "AML_DECLINED", "declined by transaction monitoring")
    if said == "held":
        row.status, row.updated_at = TransferStatus.HELD, utcnow()
        await session.flush()
        await audit.record(session, actor, action="transfer.held", entity_type="ledger_transfer", entity_id=row.id,
                           before={"status": "pending"}, after={"status": "held"})
    return row


async def release_held(session: AsyncSession, actor: Actor, transfer_id: int) -> Transfer:
    """Monitoring released the transfer: it goes on (the `aml_resume_transfer` job calls the platform);
    recovery leaves it to that job for STALE_AFTER."""
    row = await get_transfer(session, transfer_id, lock=True)
    if row.status != TransferStatus.HELD:
        return row
    row.status, row.updated_at, row.next_check_at = TransferStatus.PENDING, utcnow(), utcnow() + STALE_AFTER
    await session.flush()
    await audit.record(session, actor, action="transfer.released", entity_type="ledger_transfer", entity_id=row.id,
                       before={"status": "held"}, after={"status": "pending"})
    return row


async def decline_held(session: AsyncSession, actor: Actor, transfer_id: int, reason: str) -> Transfer:
    """Monitoring declined the transfer: its wallet hold is released and it fails."""
    row = await get_transfer(session, transfer_id, lock=True)
    if row.status != TransferStatus.HELD:
        return row
    row.status = TransferStatus.PENDING  # settle_failed acts on an open transfer
    await session.flush()
    return await settle_failed(session, actor, transfer_id, "AML_DECLINED", reason)


async def resume_released(factory: SessionFactory, transfer_id: int, *,
                          platforms: PlatformLookup = registered_platform) -> Transfer:
    """Call the platform for a transfer monitoring released (once: a settled one is left alone)."""
    async with factory() as session:
        row = await get_transfer(session, transfer_id)
    if row.status != TransferStatus.PENDING or row.entry_id is not None:
        return row
    return await _execute(factory, system_actor("compliance.aml"), platforms(row.server_id), row)


async def transfer_from_trading_account(
    factory: SessionFactory, actor: Actor, *, user_id: int, wallet_id: int, server_id: str, login: int,
    amount: Decimal, idempotency_key: str, platforms: PlatformLookup = registered_platform,
) -> TransferView:
    platform = platforms(server_id)

    async def check(session: AsyncSession) -> tuple[_Prepared, idempotency.Claim | None]:
        prep = await _prepare(session, user_id=user_id, wallet_id=wallet_id, server_id=server_id, login=login,
                              amount=amount, direction=Direction.FROM_ACCOUNT)
        seen = await idempotency.peek(session, scope=actor.label, key=idempotency_key,
                                      operation=f"transfer_{Direction.FROM_ACCOUNT.value}", payload=prep.payload)
        return prep, seen

    prep, seen = await in_transaction(factory, check)
    if seen is not None:
        async with factory() as session:
            return TransferView.of(await get_transfer(session, int((seen.result or {})["transfer_id"])),
                                   replayed=True)
    state = await platform.get_account_state(login)
    if state.margin_free < prep.amount:
        raise InsufficientFreeMargin(f"only {state.margin_free} {state.currency} can be withdrawn now",
                                     field="amount")

    async def start(session: AsyncSession) -> tuple[Transfer, bool]:
        row, fresh = await _open(session, actor, prep, Direction.FROM_ACCOUNT, idempotency_key)
        if fresh:  # the money comes into the client's wallet: monitored, never held
            from domain.compliance.aml import events as aml

            await aml.on_transfer(session, actor, user_id=row.user_id, subject=f"transfer:{row.id}",
                                  kind="account_to_wallet", amount=row.amount, currency=row.currency)
        return row, fresh

    row, fresh = await in_transaction(factory, start)
    if not fresh:
        return TransferView.of(row, replayed=True)
    return TransferView.of(await _execute(factory, actor, platform, row))


async def recover_transfers(
    factory: SessionFactory, *, platforms: PlatformLookup = registered_platform, now: datetime | None = None,
    limit: int = 100,
) -> dict[str, int]:
    """Settle transfers left `unknown` (or `pending` by a crashed process) by asking the platform.

    Safe to run twice or concurrently: due rows are claimed with SKIP LOCKED and their next check
    pushed back before the platform is asked, and settling re-checks the status under a row lock.
    """
    now = now or utcnow()
    actor = system_actor("ledger.recover_transfers")

    async def due(session: AsyncSession) -> list[Transfer]:
        rows = list((await session.execute(
            select(Transfer).where(
                Transfer.status.in_(OPEN),
                text("coalesce(next_check_at, created_at + :stale) <= :now"),
            ).params(stale=STALE_AFTER, now=now)
            .order_by(Transfer.id).limit(limit).with_for_update(skip_locked=True)
        )).scalars())
        for row in rows:
            row.next_check_at, row.attempts = now + RECHECK_EVERY, row.attempts + 1
        await session.flush()
        return rows

    counts = {"checked": 0, "done": 0, "failed": 0, "unknown": 0}
    for row in await in_transaction(factory, due):
        counts["checked"] += 1
        try:
            platform = platforms(row.server_id)
        except DomainError:
            counts["unknown"] += 1
            continue
        settled = await _resolve(factory, actor, platform, row, reason="recovery", now=now)
        counts[settled.status if settled.status != TransferStatus.PENDING else "unknown"] += 1
    return counts


async def transfers_by_ids(session: AsyncSession, ids: list[int], user_id: int) -> dict[int, TransferView]:
    """The user's own transfers among `ids`, each with the trading account it moved money to or from."""
    from domain.trading.models import TradingAccount

    account = and_(cast(TradingAccount.server_id, String) == Transfer.server_id, TradingAccount.login == Transfer.login)
    rows = await session.execute(select(Transfer, TradingAccount.id).outerjoin(TradingAccount, account)
                                 .where(Transfer.id.in_(ids), Transfer.user_id == user_id))
    return {t.id: replace(TransferView.of(t), trading_account_id=a) for t, a in rows}


async def list_transfers(session: AsyncSession, user_id: int, *, limit: int = 50) -> list[TransferView]:
    rows = (await session.execute(select(Transfer).where(Transfer.user_id == user_id)
                                  .order_by(Transfer.created_at.desc(), Transfer.id.desc()).limit(limit))).scalars()
    return [TransferView.of(r) for r in rows]
