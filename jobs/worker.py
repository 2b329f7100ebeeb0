"""The arq worker: job functions, cron schedule, and the outbox relay running beside them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import structlog
from arq import cron
from arq.connections import RedisSettings, create_pool
from arq.worker import Worker

from domain.events.outbox import emit, purge_published
from domain.shared.settings import Settings
from infra.metrics import JOBS
from infra.runtime import freeze_heap, open_runtime
from jobs.relay import OutboxRelay
from jobs.stats import WORKER_HEALTH_INTERVAL_S, WorkerStats, worker_health_key
from schema.system.resolvers import HEARTBEAT_TOPIC

log = structlog.get_logger(__name__)

WorkerCtx = dict[str, Any]


async def heartbeat(ctx: WorkerCtx) -> None:
    """Emits a heartbeat through the outbox, proving the event path end to end."""
    async with ctx["session_factory"]() as session, session.begin():
        await emit(session, HEARTBEAT_TOPIC, {"at": datetime.now(UTC).isoformat()})
    JOBS.labels("heartbeat", "ok").inc()


async def purge_outbox(ctx: WorkerCtx) -> int:
    async with ctx["session_factory"]() as session, session.begin():
        purged = await purge_published(session, older_than_days=7)
    JOBS.labels("purge_outbox", "ok").inc()
    return purged


FUNCTIONS: list[Any] = [heartbeat, purge_outbox]


def every(seconds: float) -> set[int]:
    """Cron seconds for an interval under a minute."""
    step = max(1, int(seconds))
    return set(range(0, 60, step))


def discover() -> tuple[list[Any], list[Any]]:
    """Job modules `jobs/<context>.py` export FUNCTIONS and optionally `cron_jobs(settings)`."""
    import importlib
    import pkgutil

    import jobs

    functions: list[Any] = []
    crons: list[Any] = []
    for info in sorted(pkgutil.iter_modules(jobs.__path__), key=lambda m: m.name):
        if info.name in ("worker", "relay", "stats") or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"jobs.{info.name}")
        functions += list(getattr(module, "FUNCTIONS", ()))
        cron_factory = getattr(module, "cron_jobs", None)
        if cron_factory is not None:
            crons.append(cron_factory)
    return functions, crons


def job_functions() -> list[Any]:
    """Everything the worker registers (job names for `outbox.emit(..., job=...)` and enqueues)."""
    return [*FUNCTIONS, *discover()[0]]


def job_name(function: Any) -> str:
    """The name arq registers: a `func(...)` wrapper's own, else the function's qualified name."""
    return str(getattr(function, "name", None) or function.__qualname__)


async def run_worker(settings: Settings, database_url: str, redis_url: str, *, burst: bool = False) -> None:
    runtime = await open_runtime(settings, database_url, redis_url, start_hub=False)
    redis_settings = RedisSettings.from_dsn(redis_url)
    # default_queue_name: any enqueue through this pool lands on the queue this worker reads.
    arq_pool = await create_pool(redis_settings, default_queue_name=settings.queue_name)
    relay = OutboxRelay(runtime.services.session_factory, runtime.services.redis, arq_pool, database_url,
                        settings.channel_prefix, queue_name=settings.queue_name)

    async def on_startup(ctx: WorkerCtx) -> None:
        ctx["session_factory"] = runtime.services.session_factory
        ctx["services"] = runtime.services
        ctx["settings"] = settings
        await relay.start()
        stats.start()
        freeze_heap()
        log.info("worker.started", queue=settings.queue_name)

    async def on_shutdown(ctx: WorkerCtx) -> None:
        await relay.stop()
        await stats.stop()

    _, cron_factories = discover()
    cron_jobs = [
        cron(heartbeat, second=every(settings.heartbeat_interval_s), run_at_startup=True, unique=True),
        cron(purge_outbox, hour={3}, minute={17}, second={0}, unique=True),
    ]
    for factory in cron_factories:
        cron_jobs += list(factory(settings))
    # A unique cron run's job id is its name and time, and arq's job keys are global to the Redis
    # database: named after the queue, two deployments sharing a Redis never swallow each other's runs.
    cron_jobs = [replace(c, name=f"{settings.queue_name}:{c.name}") for c in cron_jobs]
    worker = Worker(
        functions=job_functions(),
        cron_jobs=cron_jobs,
        redis_pool=arq_pool,
        queue_name=settings.queue_name,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        burst=burst,
        handle_signals=False,
        max_jobs=20,
        job_timeout=300,
        keep_result=3600,
        # `forexcrm healthcheck --worker` (the container's HEALTHCHECK) looks for this key.
        health_check_interval=WORKER_HEALTH_INTERVAL_S,
        health_check_key=worker_health_key(settings.queue_name),
    )
    stats = WorkerStats(worker, arq_pool, settings.queue_name, settings.job_stats_interval_s)
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        pass
    finally:
        await worker.close()
        await runtime.close()
