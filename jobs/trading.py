"""Trading jobs: deal pulls (one at a time per server), position snapshots, gap checks, partitions.

A cron tick enqueues one `pull_deals` per due server under `pull_job_id` ("pull:<queue>:<id>"): arq
refuses a second job with the same id while one is queued or running, so a server never has two
pulls. arq's job keys are not namespaced by queue, so the id carries the queue name: deployments (or
test runs) sharing a Redis, whose server ids repeat, never block each other's pulls. The pull job
keeps no result (keep_result=0), otherwise its stored result would block the next enqueue.

A server whose platform pushes its deals (port.DealStream: MT4 through its sidecar) is also followed:
the same tick enqueues one `follow_deals` per such server ("follow:<queue>:<id>"), which ingests the
stream for FOLLOW_SECONDS (fill to stored well under a second) and ends; the pulls go on beside it as
the safety net, cheap while the stream keeps the cursor current.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from arq import cron, func
from sqlalchemy import text

from domain.platforms.port import DealStream, TradingPlatform
from domain.shared.db import SessionFactory, utcnow
from domain.shared.settings import Settings
from domain.trading import puller, servers
from domain.trading.positions import reconcile_positions
from domain.trading.push import follow_stream

log = structlog.get_logger(__name__)
WorkerCtx = dict[str, Any]
GAP_LOOKBACK = timedelta(hours=24)
GAP_PERIOD = timedelta(hours=1)
FOLLOW_SECONDS = 55.0


def _every(seconds: int) -> set[int]:
    return set(range(0, 60, max(1, seconds)))


async def _platform(ctx: WorkerCtx, server_id: int) -> TradingPlatform:
    """One adapter per server per worker, rebuilt when the server's configuration changes."""
    cache: dict[int, tuple[datetime, TradingPlatform]] = ctx.setdefault("trading_platforms", {})
    factory: SessionFactory = ctx["session_factory"]
    async with factory() as session:
        server = await servers.get_server(session, server_id)
    cached = cache.get(server_id)
    if cached is not None and cached[0] == server.updated_at:
        return cached[1]
    if cached is not None:
        await cached[1].aclose()
    settings: Settings = ctx["settings"]
    platform = servers.platform_for(server, settings.secret_key.get_secret_value(), timeout=10.0, retries=2)
    cache[server_id] = (server.updated_at, platform)
    return platform


async def pull_deals(ctx: WorkerCtx, server_id: int) -> dict[str, Any]:
    platform = await _platform(ctx, server_id)
    result = await puller.pull_server(ctx["session_factory"], server_id, platform)
    log.info("trading.pull", server_id=server_id, pages=result.pages, inserted=result.inserted,
             error=result.error, skipped=result.skipped)  # fmt: skip
    return {"inserted": result.inserted, "error": result.error, "skipped": result.skipped}


def pull_job_id(settings: Settings, server_id: int) -> str:
    return f"pull:{settings.queue_name}:{server_id}"


async def follow_deals(ctx: WorkerCtx, server_id: int, seconds: float = FOLLOW_SECONDS) -> dict[str, Any]:
    """Ingest a pushing server's deals as they arrive, for `seconds`."""
    platform = await _platform(ctx, server_id)
    result = await follow_stream(ctx["session_factory"], server_id, platform, seconds=seconds)
    log.info("trading.follow", server_id=server_id, pushed=result.pushed, pulled=result.pulled,
             reconnects=result.reconnects, errors=result.errors[-3:])  # fmt: skip
    return {"pushed": result.pushed, "pulled": result.pulled, "reconnects": result.reconnects}


async def _pushes(ctx: WorkerCtx, server_id: int) -> bool:
    try:
        return isinstance(await _platform(ctx, server_id), DealStream)
    except Exception:  # an unknown platform, an unreadable password: its pull job reports it
        return False


async def schedule_pulls(ctx: WorkerCtx) -> int:
    async with ctx["session_factory"]() as session:
        due = await servers.due_server_ids(session)
    settings: Settings = ctx["settings"]
    for server_id in due:
        await ctx["redis"].enqueue_job(
            "pull_deals", server_id, _job_id=pull_job_id(settings, server_id), _queue_name=settings.queue_name
        )
        if await _pushes(ctx, server_id):
            await ctx["redis"].enqueue_job("follow_deals", server_id, _queue_name=settings.queue_name,
                                           _job_id=f"follow:{settings.queue_name}:{server_id}")
    return len(due)


async def snapshot_positions(ctx: WorkerCtx) -> dict[int, Any]:
    """Pull, note the cursor, snapshot open positions, pull again, then reconcile (positions.py)."""
    factory: SessionFactory = ctx["session_factory"]
    async with factory() as session:
        due = await servers.due_server_ids(session)
    report: dict[int, Any] = {}
    for server_id in due:
        platform = await _platform(ctx, server_id)
        first = await puller.pull_server(factory, server_id, platform)
        if first.error:
            continue
        async with factory() as session:
            before = await puller.read_cursor(session, server_id)
        snapshot = await platform.open_positions()
        if (await puller.pull_server(factory, server_id, platform)).error:
            continue
        async with factory() as session, session.begin():
            report[server_id] = await reconcile_positions(session, server_id, snapshot, before)
        log.info("trading.positions_reconciled", server_id=server_id, result=str(report[server_id]))
    return report


async def verify_deal_gaps(ctx: WorkerCtx) -> dict[int, int]:
    factory: SessionFactory = ctx["session_factory"]
    async with factory() as session:
        due = await servers.due_server_ids(session)
    end = utcnow().replace(minute=0, second=0, microsecond=0)
    refetched: dict[int, int] = {}
    for server_id in due:
        platform = await _platform(ctx, server_id)
        periods = await puller.verify_periods(factory, server_id, platform, end - GAP_LOOKBACK, end, GAP_PERIOD)
        refetched[server_id] = len(periods)
    return refetched


async def maintain_deal_partitions(ctx: WorkerCtx) -> int:
    async with ctx["session_factory"]() as session, session.begin():
        created = await session.scalar(text("SELECT trading_ensure_deal_partitions(3)"))
    return int(created or 0)


FUNCTIONS: list[Any] = [
    func(pull_deals, keep_result=0, timeout=600),
    func(follow_deals, keep_result=0, timeout=FOLLOW_SECONDS + 60),
    schedule_pulls,
    snapshot_positions,
    verify_deal_gaps,
    maintain_deal_partitions,
]


async def refresh_trading_platforms(ctx: dict[str, Any]) -> int:
    from domain.trading.directory import refresh_platforms

    return await refresh_platforms(ctx["session_factory"], ctx["settings"].secret_key.get_secret_value())


def cron_jobs(settings: Settings) -> list[Any]:
    return [
        cron(refresh_trading_platforms, second={50}, unique=True, keep_result=0),
        cron(schedule_pulls, second=_every(3), unique=True, keep_result=0),
        cron(snapshot_positions, minute=_every(5), second={30}, unique=True),
        cron(verify_deal_gaps, minute={7, 37}, second={15}, unique=True),
        cron(maintain_deal_partitions, hour={2}, minute={5}, second={0}, run_at_startup=True, unique=True),
    ]
