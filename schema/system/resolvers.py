"""System-level fields: server time, API version, and the heartbeat subscription.

The heartbeat travels the whole event path (worker cron -> outbox -> relay -> Redis pub/sub ->
this process's hub -> subscriber), so a client watching it knows live updates work end to end.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any, cast

import strawberry
from strawberry.types import Info

from domain.events.hub import Event
from schema.context import Context
from schema.events import shared
from schema.node import NodeQueries

HEARTBEAT_TOPIC = "system.heartbeat"
API_VERSION = "0.1.0"


@strawberry.type
class Heartbeat:
    sequence: int
    at: datetime


@strawberry.type
class SystemQueries:
    @strawberry.field(description="The server's current time (UTC).")
    def server_time(self) -> datetime:
        return datetime.now(UTC)

    @strawberry.field(description="The API version.")
    def api_version(self) -> str:
        return API_VERSION


def _heartbeat(event: Event) -> Heartbeat:
    return Heartbeat(sequence=event.id, at=datetime.fromisoformat(event.payload["at"]))


@strawberry.type
class SystemSubscriptions:
    @strawberry.subscription(description="A tick from the worker every few seconds, through the event pipeline.")
    async def heartbeat(self, info: Info[Context, Any]) -> AsyncGenerator[Heartbeat, None]:
        async with info.context.subscribe(info, HEARTBEAT_TOPIC) as sub:
            while True:
                beat = shared(await info.context.next_event(sub), _heartbeat)
                if beat is not None:
                    yield cast(Heartbeat, beat)  # one value for all: the executor unwraps it


QUERIES = (SystemQueries, NodeQueries)
SUBSCRIPTIONS = (SystemSubscriptions,)
