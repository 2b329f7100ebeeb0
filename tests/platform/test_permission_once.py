"""A field whose permission depends only on the caller (`Declared.object_independent`) is decided once
per field and operation execution (schema/root.py `_resolve_once`, also the compiled rows'
`_permitted`), never remembered beyond it: not across requests, principals, nor a subscription's
events, each of which is decided for the caller as they are then (a live session's actor changes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.types import Info

from domain.shared.actor import ANONYMOUS, Actor, ActorKind
from domain.shared.settings import Settings
from schema.permissions import Requires
from schema.root import api_schema

PERMISSION = "payments.approve_withdrawal"
checks: list[int] = []


class Counted(Requires(PERMISSION)):  # type: ignore[misc, valid-type]
    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        checks.append(1)
        return bool(super().has_permission(source, info, **kwargs))


@strawberry.type
class Item:
    n: int

    @strawberry.field(permission_classes=[Counted])
    async def secret(self) -> str:
        return f"s{self.n}"


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [Item(n=i) for i in range(5)]


@dataclass
class Ctx:
    actor: Actor


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def items(self, info: Info[Ctx, Any]) -> AsyncGenerator[list[Item], None]:
        for step in range(3):
            yield [Item(n=step * 10 + i) for i in range(3)]


def allowed() -> Actor:
    return Actor(ActorKind.STAFF, user_id=1, permissions=frozenset({PERMISSION}))


def refused() -> Actor:
    return Actor(ActorKind.STAFF, user_id=2, permissions=frozenset({"payments.read"}))


def schema() -> Any:
    return api_schema(Settings(executor_check=True), query=Query, subscription=Subscription)


async def test_once_per_operation_and_never_across_requests_or_principals() -> None:
    s = schema()
    assert ("Item", "secret") in s.execution_context_class.once
    query = "{ items { n secret } }"
    checks.clear()
    yes = await s.execute(query, context_value=Ctx(allowed()))
    assert yes.errors is None and [i["secret"] for i in yes.data["items"]] == ["s0", "s1", "s2", "s3", "s4"]
    assert len(checks) == 1  # once for the five objects
    no = await s.execute(query, context_value=Ctx(refused()))
    assert no.data is None and {e.extensions["code"] for e in no.errors} == {"FORBIDDEN"}
    nobody = await s.execute(query, context_value=Ctx(ANONYMOUS))
    assert nobody.data is None and {e.extensions["code"] for e in nobody.errors} == {"UNAUTHENTICATED"}
    # concurrent, interleaved: each operation its own answer
    results = await asyncio.gather(*(s.execute(query, context_value=Ctx(allowed() if i % 2 else refused()))
                                     for i in range(6)))
    for i, result in enumerate(results):
        if i % 2:
            assert result.errors is None and len(result.data["items"]) == 5
        else:
            assert result.data is None and {e.extensions["code"] for e in result.errors} == {"FORBIDDEN"}


async def test_a_subscription_decides_each_event_for_the_caller_as_they_are_then() -> None:
    s = schema()
    ctx = Ctx(allowed())
    stream = await s.subscribe("subscription { items { n secret } }", context_value=ctx)
    first = await stream.__anext__()
    assert first.errors is None and [i["secret"] for i in first.data["items"]] == ["s0", "s1", "s2"]
    ctx.actor = refused()  # the live session adopts the actor without the permission (LiveSession)
    second = await stream.__anext__()
    assert second.data is None and {e.extensions["code"] for e in second.errors} == {"FORBIDDEN"}
    ctx.actor = allowed()
    third = await stream.__anext__()
    assert third.errors is None and [i["secret"] for i in third.data["items"]] == ["s20", "s21", "s22"]
    await stream.aclose()
