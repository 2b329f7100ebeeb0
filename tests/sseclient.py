"""A minimal graphql-sse client (distinct connections mode) for tests, over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx


class SSEStream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def event(self, timeout: float = 10.0) -> tuple[str, Any]:
        """The next event (name, decoded data), skipping keep-alive comments; ("end", None) when
        the server closed the stream."""
        return await asyncio.wait_for(self._event(), timeout)

    async def _event(self) -> tuple[str, Any]:
        name, data = "", ""
        async for line in self._lines:
            if not line:
                if name:
                    return name, json.loads(data) if data else None
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data += value
        return "end", None


@contextlib.asynccontextmanager
async def graphql_sse(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, *,
                      token: str | None = None, headers: dict[str, str] | None = None) -> AsyncIterator[SSEStream]:
    hdrs = {"accept": "text/event-stream", **(headers or {})}
    if token:
        hdrs["authorization"] = f"Bearer {token}"
    request = client.build_request("POST", "/graphql", json={"query": query, "variables": variables or {}},
                                   headers=hdrs, timeout=httpx.Timeout(10, read=None))
    response = await client.send(request, stream=True)
    try:
        yield SSEStream(response)
    finally:
        await response.aclose()
