"""Fan-out of relayed events to subscriptions inside one API process.

One Redis pub/sub connection per process (pattern-subscribed to the event channels) feeds
bounded per-subscriber queues. A slow subscriber loses its oldest events, never blocks the
others, and is told how many it missed. The listener reconnects with backoff when Redis drops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Event:
    id: int
    topic: str
    payload: dict[str, Any]
    created_at: str

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"id": self.id, "topic": self.topic, "payload": self.payload, "created_at": self.created_at}
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        data = orjson.loads(raw)
        return cls(int(data["id"]), str(data["topic"]), dict(data["payload"]), str(data["created_at"]))


@dataclass(eq=False)
class Subscriber:
    topics: frozenset[str]
    queue: asyncio.Queue[Event]
    dropped: int = 0


@dataclass
class EventHub:
    redis: Redis
    channel_prefix: str
    queue_size: int = 256
    _subscribers: set[Subscriber] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    def channel(self, topic: str) -> str:
        return self.channel_prefix + topic

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="event-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        backoff = 0.2
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self.channel_prefix + "*")
                self.connected.set()
                backoff = 0.2
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    try:
                        event = Event.from_json(message["data"])
                    except (ValueError, KeyError, TypeError):
                        log.warning("event_hub.bad_message")
                        continue
                    self._dispatch(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis dropped: reconnect with capped backoff
                self.connected.clear()
                log.warning("event_hub.disconnected", error=str(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, event: Event) -> None:
        for sub in self._subscribers:
            if event.topic not in sub.topics:
                continue
            if sub.queue.full():
                sub.queue.get_nowait()
                sub.dropped += 1
            sub.queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[Subscriber]:
        sub = Subscriber(frozenset(topics), asyncio.Queue(maxsize=self.queue_size))
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
