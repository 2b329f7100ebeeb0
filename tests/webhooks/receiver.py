"""A partner's webhook receiver on loopback: a real HTTP server that records what arrives, answers with the
statuses it is told to (per path, in order, then 200), and verifies signatures as a receiver does."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from sandbox.serving import serving


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float


@dataclass
class Receiver:
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    plans: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    delay_s: dict[str, float] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def ok(self, path: str) -> list[Received]:
        return [r for r in self.at(path) if r.status == 200]

    async def wait(self, path: str, count: int, *, ok: bool = True, within_s: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + within_s
        while len(self.ok(path) if ok else self.at(path)) < count:
            assert time.monotonic() < deadline, f"{path}: {len(self.at(path))} requests within {within_s}s"
            await asyncio.sleep(0.02)
        return self.ok(path) if ok else self.at(path)

    async def handle(self, request: Request) -> PlainTextResponse:
        path = request.url.path
        body = await request.body()
        self.in_flight[path] += 1
        self.max_in_flight[path] = max(self.max_in_flight[path], self.in_flight[path])
        try:
            if self.delay_s.get(path):
                await asyncio.sleep(self.delay_s[path])
            plan = self.plans[path]
            status = plan.pop(0) if plan else 200
            self.received.append(Received(path, dict(request.headers), body, status, time.monotonic()))
            return PlainTextResponse("x" * 5000 if status >= 500 else "ok", status_code=status)
        finally:
            self.in_flight[path] -= 1


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = Starlette(routes=[Route("/{name:path}", found.handle, methods=["POST"])])
    async with serving(app) as base_url:
        found.base_url = base_url
        yield found
