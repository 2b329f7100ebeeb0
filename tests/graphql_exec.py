"""Running a document in-process as one actor, the way the HTTP view runs it (minus HTTP)."""

from __future__ import annotations

from typing import Any

from domain.shared.actor import Actor
from schema.context import Context


async def run_as(schema: Any, runtime: Any, actor: Actor, query: str, **variables: Any) -> Any:
    """Execute `query` as `actor`; the operation's read connection goes back to the pool afterwards,
    as the view's `execute_single` returns it (left to the garbage collector, it would be terminated)."""
    ctx = Context(services=runtime.services, request=None, response=None, request_id="t", actor=actor,  # type: ignore[arg-type]
                  operation_scoped=True)
    try:
        return await schema.execute(query, variable_values=variables, context_value=ctx)
    finally:
        await ctx.release_reads()
