"""Risk jobs: a sweeper applying every ingested deal batch once (the outbox event names only the IB
job), the order-request pull (slippage, request floods), periodic exposure snapshots, and the
segmentation sync to the trading servers.

`risk_batches` makes the batch step idempotent, so overlapping sweeps, retries and a future
fan-out of the event to `risk_process_deal_batch` all write once.
"""

from __future__ import annotations

from typing import Any

import structlog
from arq import cron
from sqlalchemy import text

from domain.platforms.errors import PlatformAuthFailed, PlatformProtocolError
from domain.risk import exposure, retail_loss, segmentation
from domain.risk.batch import RiskBatch, process_batch
from domain.risk.requests import pull_requests
from domain.shared.actor import system_actor
from domain.shared.db import SessionFactory, in_transaction, utcnow
from domain.shared.errors import ExternalServiceUnavailable
from domain.shared.settings import Settings
from domain.trading import servers
from domain.trading.ingestion import TOPIC_DEALS_INGESTED
from jobs.trading import _platform as server_platform  # one adapter per server per worker, shared with deal pulls

log = structlog.get_logger(__name__)
WorkerCtx = dict[str, Any]
SWEEP_LIMIT = 200


async def _process(factory: SessionFactory, payload: dict[str, Any]) -> bool:
    batch = RiskBatch.from_event(payload)
    if batch is None:
        return False
    actor = system_actor("risk.batch", correlation_id=f"risk-batch:{batch.batch_id}")
    out = await in_transaction(factory, lambda s: process_batch(s, actor, batch))
    if out.fresh:
        log.info("risk.batch", batch=str(out.batch_id), accounts=out.accounts, flags=out.flags, alerts=out.alerts)
    return out.fresh


async def risk_process_deal_batch(ctx: WorkerCtx, event_id: int, topic: str, payload: dict[str, Any]) -> bool:
    """For a fan-out of `trading.deals_ingested` (same signature as the IB job)."""
    if topic != TOPIC_DEALS_INGESTED:
        return False
    return await _process(ctx["session_factory"], payload)


async def risk_sweep_deal_batches(ctx: WorkerCtx) -> int:
    factory: SessionFactory = ctx["session_factory"]
    async with factory() as session:
        rows = (await session.execute(text(
            "SELECT o.payload FROM outbox o WHERE o.topic = :t AND NOT EXISTS ("
            "SELECT 1 FROM risk_batches b WHERE b.batch_id = CAST(o.payload->>'batch_id' AS uuid)) "
            "ORDER BY o.id LIMIT :n"), {"t": TOPIC_DEALS_INGESTED, "n": SWEEP_LIMIT})).all()  # fmt: skip
    done = 0
    for row in rows:
        done += await _process(factory, dict(row.payload))
    return done


async def risk_pull_order_requests(ctx: WorkerCtx) -> dict[int, int]:
    """Order requests of every server whose deal pull is not backing off; a server down is left to
    the deal pull's backoff and error queue."""
    factory: SessionFactory = ctx["session_factory"]
    async with factory() as session:
        due = await servers.due_server_ids(session)
    fetched: dict[int, int] = {}
    for server_id in due:
        try:
            result = await pull_requests(factory, server_id, await server_platform(ctx, server_id),
                                         system_actor("risk.requests"))  # fmt: skip
        except (ExternalServiceUnavailable, PlatformAuthFailed, PlatformProtocolError) as exc:
            log.warning("risk.requests_pull_failed", server_id=server_id, error=exc.code)
            continue
        fetched[server_id] = result.fetched
        if result.fetched:
            log.info("risk.requests", server_id=server_id, fetched=result.fetched, flags=result.flags)
    return fetched


async def risk_exposure_snapshot(ctx: WorkerCtx) -> int:
    return await in_transaction(ctx["session_factory"], exposure.take_snapshot)


async def risk_sync_segments(ctx: WorkerCtx) -> int:
    return await segmentation.sync_pending(ctx["session_factory"], system_actor("risk.segment_sync"))


async def risk_retail_loss_quarter(ctx: WorkerCtx) -> dict[str, Any]:
    """The retail-client loss percentage of the quarter that began, once per quarter: the job runs
    daily and computes only a quarter not stored yet (a missed first day is caught up the next)."""
    actor = system_actor("risk.retail_loss")
    figure = await in_transaction(ctx["session_factory"],
                                  lambda s: retail_loss.compute_due(s, actor, utcnow().date()))
    if figure is None:
        return {"computed": None}
    return {"computed": figure.quarter_start.isoformat(), "retail_accounts": figure.retail_accounts,
            "losing_accounts": figure.losing_accounts,
            "loss_percentage": None if figure.loss_percentage is None else str(figure.loss_percentage)}


FUNCTIONS: list[Any] = [risk_process_deal_batch, risk_sweep_deal_batches, risk_pull_order_requests,
                        risk_exposure_snapshot, risk_sync_segments, risk_retail_loss_quarter]  # fmt: skip


def cron_jobs(settings: Settings) -> list[Any]:
    every_5s = set(range(0, 60, 5))
    return [
        cron(risk_sweep_deal_batches, second=every_5s, unique=True, keep_result=0),
        cron(risk_pull_order_requests, second={2, 12, 22, 32, 42, 52}, unique=True, keep_result=0),
        cron(risk_exposure_snapshot, minute=set(range(0, 60, 5)), second={30}, unique=True, keep_result=0),
        cron(risk_sync_segments, second={20, 50}, unique=True, keep_result=0),
        cron(risk_retail_loss_quarter, hour={0}, minute={40}, second={0}, unique=True),
    ]
