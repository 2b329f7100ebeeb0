"""The outbox relay: publishes committed events to Redis pub/sub and enqueues their jobs.

It polls the pending-events partial index: immediately again while there is a backlog, every
`poll_s` when idle (tens of milliseconds; the query is an index-only probe). LISTEN/NOTIFY is not
used because PostgreSQL serialises the commits of notifying transactions. Several relays may run:
rows are claimed with SKIP LOCKED. Publication is at least once; subscribers and jobs dedupe by
event id.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from arq.connections import ArqRedis
from redis.asyncio import Redis

from domain.events.hub import Event
from domain.events.outbox import claim_batch, mark_published
from domain.shared.db import SessionFactory
from infra.metrics import OUTBOX_RELAYED

log = structlog.get_logger(__name__)


class OutboxRelay:
    def __init__(self, session_factory: SessionFactory, redis: Redis, arq: ArqRedis,
                 database_url: str, channel_prefix: str, *, queue_name: str, batch: int = 500,
                 poll_s: float = 0.05) -> None:
        self.session_factory = session_factory
        self.redis = redis
        self.arq = arq
        # The worker's queue (settings.queue_name), named on every enqueue: arq's pool would
        # otherwise use its own default (`arq:queue`), which no worker of ours reads.
        self.queue_name = queue_name
        self.prefix = channel_prefix
        self.batch = batch
        self.poll_s = poll_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                relayed = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_relay.failed", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            if relayed < self.batch:
                await asyncio.sleep(self.poll_s)

    async def relay_once(self) -> int:
        async with self.session_factory() as session, session.begin():
            events = await claim_batch(session, self.batch)
            if not events:
                return 0
            pipe = self.redis.pipeline(transaction=False)
            for ev in events:
                wire = Event(ev.id, ev.topic, ev.payload, ev.created_at.isoformat())
                pipe.publish(self.prefix + ev.topic, wire.to_json())
            await pipe.execute()
            for ev in events:
                if ev.job:
                    # _job_id dedupes a re-relayed event while arq still knows the job. arq's job keys
                    # are global to the Redis database, so the id names the queue: two deployments
                    # (or test runs) sharing a Redis never swallow each other's event of the same id.
                    await self.arq.enqueue_job(ev.job, ev.id, ev.topic, ev.payload,
                                               _job_id=f"outbox:{self.queue_name}:{ev.id}",
                                               _queue_name=self.queue_name)
            await mark_published(session, [ev.id for ev in events])
        OUTBOX_RELAYED.inc(len(events))
        return len(events)
