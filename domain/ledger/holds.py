"""Holds: money reserved on a wallet for an operation in flight (available = balance - held).

Placing is one guarded statement (nothing is written if the funds are not available); capturing
releases the hold inside the same statement that posts the entry (posting.post with release_hold).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger.accounts import AccountRef, Balance
from domain.ledger.errors import HoldNotActive, InsufficientFunds
from domain.ledger.posting import Leg, PostedEntry, post, wallet_events
from domain.shared.actor import Actor
from domain.shared.money import quantize_exact

_EVENTS = wallet_events("upd", "NULL")  # a hold changes what is available: the wallet announces it


@dataclass(frozen=True)
class PlacedHold:
    id: int
    balance: Balance


async def place_hold(
    session: AsyncSession, wallet: AccountRef, amount: Decimal, *, ref_kind: str, ref_id: str | int
) -> PlacedHold:
    amount = quantize_exact(amount, wallet.currency, field="amount")
    if amount <= 0 or wallet.shards != 1:
        raise InsufficientFunds("a hold needs a positive amount on a single-row account", field="amount")
    row = (await session.execute(text(
        "WITH upd AS (UPDATE ledger_balances SET held = held + :amt, updated_at = now() "  # noqa: S608 - constant
        "  WHERE account_id = :acc AND shard = 0 AND balance - held - :amt >= 0 "
        "  RETURNING account_id, shard, balance, held), "
        "h AS (INSERT INTO ledger_holds (account_id, amount, ref_kind, ref_id) "
        "  SELECT :acc, :amt, :rk, :rid FROM upd RETURNING id), "
        f"ev AS ({_EVENTS}) "
        "SELECT h.id, upd.balance, upd.held FROM h, upd"),
        {"acc": wallet.id, "amt": amount, "rk": ref_kind, "rid": str(ref_id)})).first()
    if row is None:
        raise InsufficientFunds("not enough available funds", field="amount")
    bal = Balance(Decimal(row.balance), Decimal(row.held))
    return PlacedHold(int(row.id), bal)


async def release_hold(session: AsyncSession, wallet: AccountRef, hold_id: int) -> Balance:
    row = (await session.execute(text(
        "WITH h AS (UPDATE ledger_holds SET status = 'released', settled_at = now() "  # noqa: S608 - constant
        "  WHERE id = :id AND account_id = :acc AND status = 'active' RETURNING account_id, amount), "
        "upd AS (UPDATE ledger_balances b SET held = b.held - h.amount, updated_at = now() FROM h "
        "  WHERE b.account_id = h.account_id AND b.shard = 0 RETURNING b.account_id, b.shard, b.balance, b.held), "
        f"ev AS ({_EVENTS}) "
        "SELECT balance, held FROM upd"), {"id": hold_id, "acc": wallet.id})).first()
    if row is None:
        raise HoldNotActive("the hold is not active")
    bal = Balance(Decimal(row.balance), Decimal(row.held))
    return bal


async def capture_hold(
    session: AsyncSession, actor: Actor, wallet: AccountRef, hold_id: int, counter: AccountRef, *,
    ref_kind: str, ref_id: str | int, idempotency_key: str, description: str = "",
) -> PostedEntry:
    """Turn the hold into an entry: debit the wallet by the held amount, credit `counter`."""
    row = (await session.execute(text(
        "UPDATE ledger_holds SET status = 'captured', settled_at = now() "
        "WHERE id = :id AND account_id = :acc AND status = 'active' RETURNING amount"),
        {"id": hold_id, "acc": wallet.id})).first()
    if row is None:
        raise HoldNotActive("the hold is not active")
    amount = Decimal(row.amount)
    legs = [Leg(wallet, amount, release_hold=amount), Leg(counter, -amount)]
    return await post(session, actor, legs, ref_kind=ref_kind, ref_id=ref_id,
                      idempotency_key=idempotency_key, description=description)
