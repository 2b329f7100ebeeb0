"""Fan-out of relayed events to subscriptions inside one API process.

One Redis pub/sub connection per process (pattern-subscribed to the event channels) feeds
bounded per-subscriber queues. A slow subscriber loses its oldest events, never blocks the
others, and is told how many it missed. The listener reconnects with backoff when Redis drops.

Events are routed, not filtered: a subscriber of a topic's every event is found by topic, one of
its own events (wallets, payments, notifications: `user_id` in the payload) by (topic, user), so
an event costs only what its own subscribers cost, however many others listen to the topic.
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
    # What subscribers derive from this event, derived once and shared by all of them (a GraphQL
    # value, its execution result): one event object reaches every subscriber in the process.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

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
    user_id: int | None = None  # set: only events whose payload's `user_id` is this user's
    dropped: int = 0


@dataclass
class EventHub:
    redis: Redis
    channel_prefix: str
    queue_size: int = 256
    # topic -> subscribers of its every event; (topic, user id) -> subscribers of that user's only
    _routes: dict[str | tuple[str, int], set[Subscriber]] = field(default_factory=dict)
    _count: int = 0
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
        for sub in self._routes.get(event.topic, ()):
            _offer(sub, event)
        user_id = event.payload.get("user_id")
        if type(user_id) is int:
            for sub in self._routes.get((event.topic, user_id), ()):
                _offer(sub, event)

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str, user_id: int | None = None) -> AsyncIterator[Subscriber]:
        """The topics' events; with `user_id`, only those whose payload names that user."""
        sub = Subscriber(frozenset(topics), asyncio.Queue(maxsize=self.queue_size), user_id)
        keys: list[str | tuple[str, int]] = list(topics) if user_id is None else [(t, user_id) for t in topics]
        for key in keys:
            self._routes.setdefault(key, set()).add(sub)
        self._count += 1
        try:
            yield sub
        finally:
            self._count -= 1
            for key in keys:
                members = self._routes.get(key)
                if members is not None:
                    members.discard(sub)
                    if not members:
                        del self._routes[key]

    @property
    def subscriber_count(self) -> int:
        return self._count


def _offer(sub: Subscriber, event: Event) -> None:
    if sub.queue.full():
        sub.queue.get_nowait()
        sub.dropped += 1
    sub.queue.put_nowait(event)
