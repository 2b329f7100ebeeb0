"""A minimal graphql-transport-ws client for tests, over a real WebSocket."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws


class Subscription:
    def __init__(self, ws: AsyncWebSocketSession) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_text(json.dumps(message))

    async def receive(self, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(await self.ws.receive_text(timeout=timeout))
            if message.get("type") in ("ping", "pong"):
                continue
            return message

    async def closed(self, timeout: float = 10.0) -> WebSocketDisconnect:
        """Wait for the server to close the socket (skipping anything sent before); its code and reason."""
        while True:
            try:
                await self.ws.receive_text(timeout=timeout)
            except WebSocketDisconnect as closed:
                return closed

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None, op_id: str = "1") -> None:
        await self.send({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}})


@contextlib.asynccontextmanager
async def graphql_ws(
    url: str, *, payload: dict[str, Any] | None = None, origin: str | None = "http://localhost:8000",
    headers: dict[str, str] | None = None, ack: bool = True, subprotocol: str = "graphql-transport-ws",
) -> AsyncIterator[Subscription]:
    """`ack=False`: yield right after connection_init, for tests of a refused one."""
    hdrs = dict(headers or {})
    if origin:
        hdrs["origin"] = origin
    async with httpx.AsyncClient() as client:
        connect: Any = aconnect_ws(url, client, subprotocols=[subprotocol], headers=hdrs)
        async with connect as ws:
            sub = Subscription(ws)
            await sub.send({"type": "connection_init", "payload": payload or {}})
            if ack:
                acked = await sub.receive()
                assert acked["type"] == "connection_ack", acked
            yield sub
