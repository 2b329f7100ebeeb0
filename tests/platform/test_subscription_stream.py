"""A subscription run by the schema's lean stream (schema/root.py `ApiSchema.stream`) yields exactly
what strawberry's generic stream yields for the same operation: values, broadcasts, field errors
(masked or not), a refusal at the start, variables that do not coerce, an error ending the stream."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator
from typing import Any

import pytest
import strawberry
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from domain.shared.actor import ANONYMOUS, Actor, ActorKind
from domain.shared.errors import DomainError
from domain.shared.settings import Settings
from schema.errors import PublicError
from schema.events import Shared
from schema.permissions import IsAuthenticated
from schema.root import api_schema


@strawberry.type
class Tick:
    n: int

    @strawberry.field
    def label(self) -> str:
        return f"tick {self.n}"

    @strawberry.field
    def broken(self) -> str:
        raise RuntimeError("db password is hunter2")

    @strawberry.field
    def refused(self) -> str:
        raise DomainError("not for you")


SHARED: dict[int, Shared] = {}


@strawberry.type(name="Query")
class _Query:
    ok: bool = True


@strawberry.type(name="Subscription")
class _Subscription:
    @strawberry.subscription
    async def ticks(self, count: int) -> AsyncGenerator[Tick, None]:
        for n in range(count):
            yield Tick(n=n)

    @strawberry.subscription
    async def broadcast(self, count: int) -> AsyncGenerator[Tick, None]:
        for n in range(count):  # one Shared per event, reached by every subscriber
            yield SHARED.setdefault(n, Shared(Tick(n=n)))  # type: ignore[misc]

    @strawberry.subscription
    async def ends_badly(self) -> AsyncGenerator[Tick, None]:
        yield Tick(n=1)
        raise PublicError("Your session has ended; sign in again.", "SESSION_ENDED")

    @strawberry.subscription
    async def crashes(self) -> AsyncGenerator[Tick, None]:
        yield Tick(n=1)
        raise RuntimeError("internal detail")

    @strawberry.subscription(permission_classes=[IsAuthenticated])
    async def members_only(self) -> AsyncGenerator[Tick, None]:
        yield Tick(n=1)


@dataclasses.dataclass
class _Context:
    actor: Actor
    request_id: str = "req-1"


SCHEMA = api_schema(Settings(), query=_Query, subscription=_Subscription)
MEMBER = Actor(ActorKind.CLIENT, user_id=1)


async def _results(lean: bool, query: str, variables: dict[str, Any] | None, actor: Actor) -> list[Any]:
    stream = SCHEMA.stream if lean else super(type(SCHEMA), SCHEMA).stream
    source: Any = await stream(query, variable_values=variables, context_value=_Context(actor))
    assert type(source).__name__ == ("_SubscriptionStream" if lean else "async_generator")  # each path as meant
    return [(type(r) is PreExecutionError, isinstance(r, ExecutionResult), r.data,
             [e.formatted for e in r.errors or ()], r.extensions or None) async for r in source]


CASES = [
    ("subscription { ticks(count: 3) { n label } }", None, ANONYMOUS),
    ("subscription($c: Int!) { t: ticks(count: $c) { n broken } }", {"c": 2}, ANONYMOUS),
    ("subscription { ticks(count: 2) { n refused } }", None, ANONYMOUS),
    ("subscription($c: Int!) { ticks(count: $c) { n } }", {"c": "two"}, ANONYMOUS),
    ("subscription { broadcast(count: 2) { n label } }", None, ANONYMOUS),
    ("subscription { endsBadly { n } }", None, ANONYMOUS),
    ("subscription { crashes { n } }", None, ANONYMOUS),
    ("subscription { membersOnly { n } }", None, ANONYMOUS),
    ("subscription { membersOnly { n } }", None, MEMBER),
]


@pytest.mark.parametrize(("query", "variables", "actor"), CASES)
async def test_the_lean_stream_yields_what_the_generic_one_does(query: str, variables: dict[str, Any] | None,
                                                                actor: Actor) -> None:
    generic = await _results(False, query, variables, actor)
    lean = await _results(True, query, variables, actor)

    assert lean == generic
    assert lean  # every case yields something: a value, a refusal or an error


async def test_a_broadcast_is_executed_once_for_all_its_subscribers() -> None:
    SHARED.clear()
    query = "subscription { broadcast(count: 2) { n label } }"
    first = [r async for r in await SCHEMA.stream(query, context_value=_Context(ANONYMOUS))]
    second = [r async for r in await SCHEMA.stream(query, context_value=_Context(MEMBER))]

    assert [r.data for r in first] == [{"broadcast": {"n": 0, "label": "tick 0"}},
                                       {"broadcast": {"n": 1, "label": "tick 1"}}]
    assert all(a.data is b.data for a, b in zip(first, second, strict=True))  # the same result object


async def test_a_refusal_before_the_stream_starts_is_a_pre_execution_error() -> None:
    results = await _results(True, "subscription { membersOnly { n } }", None, ANONYMOUS)

    assert results == [(True, True, None, [{"message": "You must be signed in.", "locations": [
        {"line": 1, "column": 16}], "path": ["membersOnly"], "extensions": {"code": "UNAUTHENTICATED"}}], None)]
