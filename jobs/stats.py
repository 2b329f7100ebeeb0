"""Job counts shared through Redis, so the API's /metrics reports every worker's queue.

Each worker adds what it completed, failed and retried since its last flush to one hash per queue
(`<queue>:stats`, monotonic across workers and restarts: Prometheus counters), and writes how many
jobs it is running now under its own field of `<queue>:running` with an expiry time, so a worker
that died stops counting after `3 × interval`. Queued and deferred jobs are read from the queue's
sorted set itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from dataclasses import dataclass

import structlog
from arq.worker import Worker
from redis.asyncio import Redis

log = structlog.get_logger(__name__)

OUTCOMES = ("complete", "failed", "retried")


WORKER_HEALTH_INTERVAL_S = 10


def worker_health_key(queue_name: str) -> str:
    """The Redis key a worker refreshes every WORKER_HEALTH_INTERVAL_S (expiring a second later; arq's
    health check): one per host, so a container's health check sees its own worker, not any worker
    on the queue."""
    return f"{queue_name}:health-check:{socket.gethostname()}"


def stats_key(queue_name: str) -> str:
    return f"{queue_name}:stats"


def running_key(queue_name: str) -> str:
    return f"{queue_name}:running"


@dataclass(frozen=True)
class QueueStats:
    queued: int  # due and waiting for a worker (the backlog)
    deferred: int  # scheduled for later (retries with a delay, `_defer_by`, cron runs just ahead)
    running: int
    complete: int
    failed: int
    retried: int


async def read_queue_stats(redis: Redis, queue_name: str) -> QueueStats:
    """One round trip; a dead worker's stale `running` field is dropped here."""
    now = time.time()
    # Rounded as arq rounds a job's score (timestamp_ms): a floor put a job enqueued in the same millisecond,
    # past its half, among the deferred ones.
    now_ms = round(now * 1000)
    pipe = redis.pipeline(transaction=False)
    # arq scores a job by when it may run and removes it only when it finishes: the due ones include
    # those running now.
    pipe.zcount(queue_name, "-inf", now_ms)
    pipe.zcount(queue_name, f"({now_ms}", "+inf")
    pipe.hgetall(stats_key(queue_name))
    pipe.hgetall(running_key(queue_name))
    due, deferred, totals, running = await pipe.execute()
    live, stale = 0, []
    for field, value in running.items():
        count, _, expires = _text(value).partition(" ")
        if float(expires or 0) < now:
            stale.append(field)
        else:
            live += int(count)
    if stale:
        await redis.hdel(running_key(queue_name), *stale)  # type: ignore[misc]
    counts = {_text(k): int(v) for k, v in totals.items()}
    return QueueStats(queued=max(0, int(due) - live), deferred=int(deferred), running=live,
                      **{o: counts.get(o, 0) for o in OUTCOMES})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class WorkerStats:
    """Flushes one arq worker's counts every `interval_s` (and once more when it stops)."""

    def __init__(self, worker: Worker, redis: Redis, queue_name: str, interval_s: float) -> None:
        self.worker = worker
        self.redis = redis
        self.queue_name = queue_name
        self.interval_s = interval_s
        self.worker_id = uuid.uuid4().hex[:12]
        self._flushed = dict.fromkeys(OUTCOMES, 0)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="worker-stats")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush(final=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away for a moment: the counts keep until the next flush
                log.warning("worker_stats.flush_failed", error=str(exc) or type(exc).__name__)
            await asyncio.sleep(self.interval_s)

    async def flush(self, *, final: bool = False) -> None:
        now = {"complete": self.worker.jobs_complete, "failed": self.worker.jobs_failed,
               "retried": self.worker.jobs_retried}
        pipe = self.redis.pipeline(transaction=False)
        for outcome, value in now.items():
            if value > self._flushed[outcome]:
                pipe.hincrby(stats_key(self.queue_name), outcome, value - self._flushed[outcome])
        if final:
            pipe.hdel(running_key(self.queue_name), self.worker_id)
        else:
            expires = time.time() + 3 * self.interval_s + 1
            pipe.hset(running_key(self.queue_name), self.worker_id, f"{len(self.worker.job_tasks)} {expires:.3f}")
        await pipe.execute()
        self._flushed = now
