"""IB jobs: commission accrual per ingested deal batch, a sweeper that catches missed batches, and
the payout run (each IB's last closed cycle period; idempotent per IB, currency and period).

`ib_process_deal_batch(ctx, event_id, topic, payload)` matches the relay's job call for a
`trading.deals_ingested` outbox event. The engine is idempotent per batch (ib_batches), so a
redelivered event, a retry after a crash and the sweeper racing the relay all write once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from arq import cron
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ib import cpa, payouts, revshare
from domain.ib.engine import BatchOutcome, process_batch
from domain.shared.actor import system_actor
from domain.shared.db import SessionFactory, in_transaction, utcnow
from domain.shared.errors import DomainError
from domain.shared.settings import Settings
from domain.trading.ingestion import TOPIC_DEALS_INGESTED, DealBatch

log = structlog.get_logger(__name__)
WorkerCtx = dict[str, Any]
SWEEP_LIMIT = 200


async def _process(factory: SessionFactory, event_id: int | None, payload: dict[str, Any]) -> BatchOutcome | None:
    batch = DealBatch.from_event(payload, event_id)
    if batch is None:
        return None
    actor = system_actor("ib.accrual", correlation_id=f"ib-batch:{batch.batch_id}")
    return await in_transaction(factory, lambda s: process_batch(s, actor, batch))


async def ib_process_deal_batch(ctx: WorkerCtx, event_id: int, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    if topic != TOPIC_DEALS_INGESTED:
        return {"skipped": topic}
    out = await _process(ctx["session_factory"], event_id, payload)
    if out is None:
        return {"lines": 0}
    log.info("ib.batch", batch=str(out.batch_id), fresh=out.fresh, lines=out.lines, unpriced=out.unpriced)
    return {"batch": str(out.batch_id), "fresh": out.fresh, "lines": out.lines, "unpriced": out.unpriced}


async def ib_sweep_deal_batches(ctx: WorkerCtx) -> int:
    """Process ingested batches whose event the engine has not seen (e.g. emitted without a job)."""
    factory: SessionFactory = ctx["session_factory"]
    async with factory() as session:
        rows = (await session.execute(text(
            "SELECT o.id, o.payload FROM outbox o WHERE o.topic = :t AND NOT EXISTS ("
            "SELECT 1 FROM ib_batches b WHERE b.batch_id = CAST(o.payload->>'batch_id' AS uuid)) "
            "ORDER BY o.id LIMIT :n"), {"t": TOPIC_DEALS_INGESTED, "n": SWEEP_LIMIT})).all()
    done = 0
    for row in rows:
        if await _process(factory, int(row.id), dict(row.payload)) is not None:
            done += 1
    return done


def _payout_run(ib_id: int, now: datetime) -> Callable[[AsyncSession], Awaitable[list[payouts.Payout]]]:
    actor = system_actor("ib.payouts", correlation_id=f"ib-payout:{ib_id}")
    return lambda s: payouts.run_for_ib(s, actor, ib_id, now=now)


async def ib_run_payouts(ctx: WorkerCtx) -> dict[str, int]:
    """One transaction per IB, so one IB's failure never blocks the others' payouts."""
    factory: SessionFactory = ctx["session_factory"]
    now = utcnow()
    async with factory() as session:
        ibs = await payouts.due_ibs(session)
    paid = held = failed = 0
    for ib_id in ibs:
        try:
            made = await in_transaction(factory, _payout_run(ib_id, now))
        except DomainError as exc:
            failed += 1
            log.warning("ib.payout_failed", ib_id=ib_id, code=exc.code)
            continue
        paid += sum(1 for p in made if p.status == "paid")
        held += sum(1 for p in made if p.status == "held")
    return {"ibs": len(ibs), "paid": paid, "held": held, "failed": failed}


async def ib_evaluate_cpa(ctx: WorkerCtx) -> dict[str, int]:
    """Every candidate client is checked in one statement; a qualified client is paid once, ever."""
    actor = system_actor("ib.cpa")
    now = utcnow()
    run = await in_transaction(ctx["session_factory"], lambda s: cpa.evaluate(s, actor, now=now))
    return {"clients": run.clients, "lines": run.lines}


async def ib_clawback_chargebacks(ctx: WorkerCtx) -> int:
    """Claw back the CPA of clients whose deposits were charged back (one transaction per client)."""
    factory: SessionFactory = ctx["session_factory"]
    async with factory() as session:
        found = await cpa.charged_back_clients(session)
    done = 0
    for client_id, ref in found:
        actor = system_actor("ib.cpa_clawback", correlation_id=f"ib-cpa-clawback:{client_id}")
        now = utcnow()
        out = await in_transaction(factory, _chargeback(actor, client_id, ref, now))
        done += out is not None
    return done


def _chargeback(actor: Any, client_id: int, ref: str,
                now: datetime) -> Callable[[AsyncSession], Awaitable[cpa.Clawback | None]]:
    return lambda s: cpa.on_chargeback(s, actor, client_id, reference=ref, now=now)



async def ib_run_revenue_share(ctx: WorkerCtx) -> dict[str, Any]:
    """Revenue share of the last closed month for every IB; idempotent per (IB, currency, month)."""
    period = payouts.last_closed_period("monthly", utcnow())
    actor = system_actor("ib.revshare", correlation_id=f"ib-revshare:{period.key}")
    run = await in_transaction(ctx["session_factory"], lambda s: revshare.run_period(
        s, actor, period.key, period.start, period.end))
    return {"period": period.key, "ibs": run.periods, "lines": run.lines}


FUNCTIONS: list[Any] = [ib_process_deal_batch, ib_sweep_deal_batches, ib_run_payouts, ib_evaluate_cpa,
                         ib_clawback_chargebacks, ib_run_revenue_share]


def cron_jobs(settings: Settings) -> list[Any]:
    return [cron(ib_sweep_deal_batches, second={10, 40}, unique=True, keep_result=0),
            # Shortly after midnight UTC: daily, weekly (Mondays) and monthly (1st) periods have closed.
            cron(ib_run_payouts, hour={0}, minute={15}, unique=True, keep_result=0),
            # Before the payout run: the month's revenue share is payable when payouts are computed.
            cron(ib_run_revenue_share, day={1}, hour={0}, minute={5}, unique=True, keep_result=0),
            cron(ib_evaluate_cpa, second={25}, unique=True, keep_result=0),
            cron(ib_clawback_chargebacks, second={50}, unique=True, keep_result=0)]
