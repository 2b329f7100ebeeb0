"""Payments jobs: send approved withdrawals whose payout call did not get through, and apply
parked webhooks whose payment has since appeared.

Both survive running twice: payouts carry the payment reference as the provider's idempotency key
and only leave from status created; parked events are applied under the payment's row lock and
marked applied in the same transaction.
"""

from __future__ import annotations

from typing import Any

from arq import cron
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.payments import repo, withdrawals
from domain.payments.deposits import provider_lock
from domain.payments.webhooks import apply_parked
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from domain.shared.settings import Settings

WorkerCtx = dict[str, Any]
BATCH = 100


async def retry_payouts(ctx: WorkerCtx) -> int:
    factory = ctx["session_factory"]
    settings: Settings = ctx["services"].settings
    async with factory() as s:
        ids = list((await s.scalars(text(
            "SELECT id FROM payments WHERE direction = 'withdrawal' AND approval = 'approved' AND status = 'created' "
            "AND updated_at < now() - interval '1 minute' ORDER BY id LIMIT :n"), {"n": BATCH})).all())
    sent = 0
    for pid in ids:
        try:
            await withdrawals.payout(factory, settings, system_actor("payments.retry_payouts"), int(pid))
            sent += 1
        except DomainError:
            continue  # the provider is still unreachable or refused: logged in the gateway log, retried later
    return sent


async def apply_parked_webhooks(ctx: WorkerCtx) -> int:
    factory = ctx["session_factory"]
    async with factory() as s:
        rows = (await s.execute(text(
            "SELECT DISTINCT w.provider, w.provider_payment_id, p.id AS payment_id FROM payment_parked_webhooks w "
            "JOIN payments p ON p.provider = w.provider AND p.provider_payment_id = w.provider_payment_id "
            "WHERE w.applied_at IS NULL LIMIT :n"), {"n": BATCH})).all()
    applied = 0
    for row in rows:
        async def txn(session: AsyncSession, row: Any = row) -> int:
            await provider_lock(session, row.provider, row.provider_payment_id)
            payment = await repo.get(session, int(row.payment_id), lock=True)
            return await apply_parked(session, payment) if payment is not None else 0

        applied += await in_transaction(factory, txn)
    return applied


FUNCTIONS: list[Any] = [retry_payouts, apply_parked_webhooks]


def cron_jobs(settings: Settings) -> list[Any]:
    return [
        cron(retry_payouts, second={15}, unique=True),
        cron(apply_parked_webhooks, second={35}, unique=True),
    ]
