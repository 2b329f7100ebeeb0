"""The outbox relay: publishes committed events to Redis pub/sub and enqueues their jobs.

Woken by LISTEN/NOTIFY on commit, with a polling fallback, so latency is milliseconds and a
lost notification costs at most one poll interval. Several relays may run: rows are claimed
with SKIP LOCKED. Publication is at least once; subscribers and jobs dedupe by event id.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog
from arq.connections import ArqRedis
from redis.asyncio import Redis

from api.metrics import OUTBOX_RELAYED
from domain.events.hub import Event
from domain.events.outbox import claim_batch, mark_published
from domain.shared.db import SessionFactory, asyncpg_dsn

log = structlog.get_logger(__name__)

CHANNEL = "forexcrm_outbox"


class OutboxRelay:
    def __init__(self, session_factory: SessionFactory, redis: Redis, arq: ArqRedis | None,
                 database_url: str, channel_prefix: str, *, batch: int = 500, poll_s: float = 0.5) -> None:
        self.session_factory = session_factory
        self.redis = redis
        self.arq = arq
        self.dsn = asyncpg_dsn(database_url)
        self.prefix = channel_prefix
        self.batch = batch
        self.poll_s = poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()

    async def _listen(self) -> None:
        try:
            self._listener = await asyncpg.connect(self.dsn)
            await self._listener.add_listener(CHANNEL, lambda *_: self._wake.set())
        except Exception as exc:  # polling still works without notifications
            log.warning("outbox_relay.listen_failed", error=str(exc))
            self._listener = None

    async def _run(self) -> None:
        await self._listen()
        while True:
            try:
                relayed = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_relay.failed", error=str(exc))
                relayed = 0
                await asyncio.sleep(1.0)
            if relayed < self.batch:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            if self._listener is not None and self._listener.is_closed():
                await self._listen()

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
            if self.arq is not None:
                for ev in events:
                    if ev.job:
                        # _job_id dedupes a re-relayed event while arq still knows the job.
                        await self.arq.enqueue_job(ev.job, ev.id, ev.topic, ev.payload, _job_id=f"outbox:{ev.id}")
            await mark_published(session, [ev.id for ev in events])
        OUTBOX_RELAYED.inc(len(events))
        return len(events)
