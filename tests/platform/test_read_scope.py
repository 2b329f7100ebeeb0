"""Only a plain HTTP operation, which the view ends with `release_reads`, shares one read connection
and caches its loaders. A streamed (SSE) or socket operation's context outlives any one result: its
reads must not pin a pooled connection for the stream's life, nor serve one event's data to the next."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from domain.shared.actor import ANONYMOUS
from schema.context import Context


def context(runtime: Any, **kwargs: Any) -> Context:
    return Context(services=runtime.services, request=None, response=None, request_id="t",  # type: ignore[arg-type]
                   actor=ANONYMOUS, **kwargs)


async def backend_pid(ctx: Context) -> int:
    async with ctx.read() as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")))


async def test_an_http_operation_shares_one_connection_until_released(runtime: Any) -> None:
    ctx = context(runtime, operation_scoped=True)
    first = await backend_pid(ctx)
    assert await backend_pid(ctx) == first and ctx._read_conn is not None
    assert ctx.loaders._cache is True
    await ctx.release_reads()
    assert ctx._read_conn is None


async def test_a_streamed_or_socket_operation_pins_nothing_and_caches_nothing(runtime: Any) -> None:
    for ctx in (context(runtime), context(runtime, is_websocket=True)):
        await backend_pid(ctx)
        await backend_pid(ctx)
        assert ctx._read_conn is None  # each read returned its connection to the pool
        assert ctx.loaders._cache is False
