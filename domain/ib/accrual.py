"""Accruals: commission amounts move into each IB's payable account in the ledger.

One journal entry per currency and batch (or recompute run): a credit to every IB's payable
account and the opposite debit to the broker's revenue (commissions reduce what the broker keeps).
The entry's idempotency key is derived from the batch, so a repeat can never post twice.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger.accounts import AccountRef, AccountType, Purpose, house_account
from domain.ledger.posting import Leg, post
from domain.shared.actor import Actor

# Creates the missing per-IB payable accounts in one statement (the ledger creates one at a time);
# same columns and balance row as domain.ledger.accounts._get_or_create.
_ENSURE_PAYABLES = text(
    """
    WITH ins AS (
        INSERT INTO ledger_accounts (type, purpose, currency, owner_id, shards)
        SELECT 'liability', 'ib_payable', :cur, o, 1 FROM unnest(CAST(:owners AS bigint[])) o
        ON CONFLICT DO NOTHING RETURNING id
    )
    INSERT INTO ledger_balances (account_id, shard, non_negative) SELECT id, 0, false FROM ins
    """
)
_PAYABLES = text(
    "SELECT id, owner_id FROM ledger_accounts WHERE purpose = 'ib_payable' AND currency = :cur "
    "AND owner_id = ANY(CAST(:owners AS bigint[])) AND server_id IS NULL AND login IS NULL AND provider IS NULL"
)


async def payable_accounts(session: AsyncSession, currency: str, ib_ids: list[int]) -> dict[int, AccountRef]:
    """Each IB's payable account in `currency`, created on demand; by IB id."""
    await session.execute(_ENSURE_PAYABLES, {"cur": currency, "owners": ib_ids})
    rows = (await session.execute(_PAYABLES, {"cur": currency, "owners": ib_ids})).all()
    return {int(r.owner_id): AccountRef(int(r.id), AccountType.LIABILITY, Purpose.IB_PAYABLE, currency,
                                        int(r.owner_id), 1) for r in rows}


async def post_accruals(
    session: AsyncSession, actor: Actor, totals: list[tuple[int, str, Decimal]], *, ref_kind: str, ref_id: str,
    idempotency_key: str,
) -> list[int]:
    """Post (ib, currency, amount) totals; returns the entry ids (one per currency with a non-zero leg)."""
    by_currency: dict[str, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for ib_id, cur, amount in totals:
        by_currency[cur][ib_id] += amount
    entry_ids: list[int] = []
    for cur in sorted(by_currency):
        amounts = {ib: amt for ib, amt in sorted(by_currency[cur].items()) if amt != 0}
        if not amounts:
            continue
        accounts = await payable_accounts(session, cur, list(amounts))
        legs = [Leg(accounts[ib], -amt) for ib, amt in amounts.items()]
        house_total = sum(amounts.values(), Decimal(0))
        if house_total != 0:
            legs.append(Leg(await house_account(session, Purpose.BROKER_REVENUE, cur), house_total))
        if len(legs) < 2:  # pragma: no cover - one IB with a zero house leg cannot happen
            continue
        entry = await post(session, actor, legs, ref_kind=ref_kind, ref_id=ref_id,
                           idempotency_key=f"{idempotency_key}:{cur}",
                           description="IB commission accrual", details={"ibs": len(amounts)})
        entry_ids.append(entry.id)
    return entry_ids
