"""Subscription events turned into GraphQL values once per event, not once per subscriber.

The hub hands one Event object to every subscriber in the process, so what a subscription derives
from it is kept on the event (`Event.memo`): the first subscriber converts it, the others reuse it.
An event that fails to convert is logged once and skipped by everyone: a bad event ends nobody's
stream. A broadcast, whose value does not depend on who receives it, is also executed once per
document and variables (`Shared`, unwrapped by the schema's executor, schema/root.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import structlog

from domain.events.hub import Event

log = structlog.get_logger(__name__)

T = TypeVar("T")

_FAILED = object()


@dataclass(eq=False, slots=True)
class Shared:
    """A subscription value every subscriber of a broadcast receives alike. Its execution results
    (per operation and variables) are kept here, so they live as long as the event does."""

    value: Any
    results: dict[Any, Any] = field(default_factory=dict)


def converted(event: Event, convert: Callable[[Event], T]) -> T | None:
    """`convert(event)`, computed once per event (`convert` a module-level function: it is the
    memo's key); None (logged) when it fails."""
    memo = event.memo
    value = memo.get(convert)
    if value is None:
        try:
            value = convert(event)
        except Exception as exc:  # a malformed payload: skipped, never the end of a stream
            skipped(event, exc)
            value = _FAILED
        memo[convert] = value
    return None if value is _FAILED else cast(T, value)


def shared(event: Event, convert: Callable[[Event], Any]) -> Shared | None:
    """For a broadcast: the event's value, converted and executed once for all subscribers."""
    key = (Shared, convert)
    found: Shared | None = event.memo.get(key)
    if found is None:
        value = converted(event, convert)
        if value is None:
            return None
        found = event.memo[key] = Shared(value)
    return found


def skipped(event: Event, exc: Exception) -> None:
    """Log an event no subscriber can be sent (it is skipped)."""
    log.warning("subscription.bad_event", topic=event.topic, event_id=event.id,
                error=f"{type(exc).__name__}: {exc}"[:300])
