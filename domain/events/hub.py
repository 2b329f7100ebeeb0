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


class Subscriber:
    """One subscription's bounded inbox. Thousands are held per process, so it is lean: slots, no
    asyncio.Queue (three deques, about 2.3 kB, made up front), a list made on the first event and
    a future only while someone waits. It speaks the part of asyncio.Queue's interface its users
    need (`sub.queue` is the subscriber itself)."""

    __slots__ = ("_items", "_waiter", "dropped", "limit", "topics", "user_id")

    def __init__(self, topics: frozenset[str], limit: int, user_id: int | None = None) -> None:
        self.topics = topics
        self.limit = limit
        self.user_id = user_id  # set: only events whose payload's `user_id` is this user's
        self.dropped = 0
        self._items: list[Event] | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def queue(self) -> Subscriber:
        return self

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return self.qsize() >= self.limit

    def put_nowait(self, event: Event) -> None:
        """Queue `event`; when full, the oldest is dropped (and counted) instead of blocking."""
        items = self._items
        if items is None:
            items = self._items = []
        elif len(items) >= self.limit:
            del items[0]
            self.dropped += 1
        items.append(event)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def get_nowait(self) -> Event:
        items = self._items
        if not items:
            raise asyncio.QueueEmpty
        event = items.pop(0)
        if not items:
            self._items = None
        return event

    async def get(self) -> Event:
        while not self._items:
            waiter = self._waiter
            if waiter is None or waiter.done():
                waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter
        return self.get_nowait()


class _Subscription:
    """`EventHub.subscribe`'s context manager (a plain object: a generator-based one keeps a frame
    for as long as the subscription lasts)."""

    __slots__ = ("_hub", "_keys", "_sub")

    def __init__(self, hub: EventHub, sub: Subscriber, keys: tuple[str | tuple[str, int], ...]) -> None:
        self._hub, self._sub, self._keys = hub, sub, keys

    async def __aenter__(self) -> Subscriber:
        routes = self._hub._routes
        for key in self._keys:
            members = routes.get(key)
            if members is None:
                routes[key] = {self._sub}
            else:
                members.add(self._sub)
        self._hub._count += 1
        return self._sub

    async def __aexit__(self, *exc: object) -> None:
        self._hub._count -= 1
        routes = self._hub._routes
        for key in self._keys:
            members = routes.get(key)
            if members is not None:
                members.discard(self._sub)
                if not members:
                    del routes[key]


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
            sub.put_nowait(event)
        user_id = event.payload.get("user_id")
        if type(user_id) is int:
            for sub in self._routes.get((event.topic, user_id), ()):
                sub.put_nowait(event)

    def subscribe(self, *topics: str, user_id: int | None = None) -> contextlib.AbstractAsyncContextManager[Subscriber]:
        """The topics' events (`async with hub.subscribe(...) as sub`); with `user_id`, only those
        whose payload names that user."""
        sub = Subscriber(frozenset(topics), self.queue_size, user_id)
        keys = topics if user_id is None else tuple((t, user_id) for t in topics)
        return _Subscription(self, sub, keys)

    @property
    def subscriber_count(self) -> int:
        return self._count
