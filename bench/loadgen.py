"""A small, fast HTTP/1.1 keep-alive load generator (asyncio streams), for loopback benchmarks.

httpx costs more CPU per request than the servers under test; raw streams keep the client cheap
so the ratio between two endpoints reflects the servers, not the client.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# A fixed request, or one built per call for a worker (e.g. a fresh idempotency key per mutation).
Request = bytes | Callable[[int], bytes]


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    latencies: tuple[float, ...] = field(default=(), repr=False)  # seconds, sorted: to pool several runs

    @property
    def rps(self) -> float:
        """Successful responses per second (an error is not throughput)."""
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"requests": self.requests, "errors": self.errors, "rps": round(self.rps, 1),
                "p50_ms": round(self.p50_ms, 2), "p99_ms": round(self.p99_ms, 2)}


def build_request(host: str, port: int, path: str, body: bytes | None, headers: dict[str, str] | None = None) -> bytes:
    method = "POST" if body is not None else "GET"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n"):
        lower = line.lower()
        if lower.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
        elif lower.startswith(b"transfer-encoding:") and b"chunked" in lower:
            chunked = True
    body = b""
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            body += (await reader.readexactly(size + 2))[:-2]
            if size == 0:
                break
    elif length:
        body = await reader.readexactly(length)
    return status, body


async def run_load(host: str, port: int, request: Request, *, concurrency: int, seconds: float,
                   warmup: float = 0.5, ok: Callable[[bytes], bool] | None = None,
                   seen: Callable[[int, bytes], None] | None = None) -> LoadResult:
    """Keep `concurrency` connections busy for `seconds`; a response counts as an error when its
    status is not 200 or `ok(body)` says so. `seen(index, body)` hears every response, warm-up
    included (a worker whose next request depends on the last answer, e.g. quote then accept)."""
    latencies: list[float] = []
    errors = 0
    stop_at = 0.0
    measuring = False

    async def worker(index: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                writer.write(request if isinstance(request, bytes) else request(index))
                status, body = await _read_response(reader)
                if seen is not None:
                    seen(index, body)
                if measuring:
                    latencies.append(time.perf_counter() - t0)
                    if status != 200 or (ok is not None and not ok(body)):
                        errors += 1
        finally:
            writer.close()

    stop_at = time.perf_counter() + warmup
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    measuring = True
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    if not latencies:
        return LoadResult(0, errors, elapsed, 0.0, 0.0)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return LoadResult(len(latencies), errors, elapsed, statistics.median(latencies) * 1000, p99 * 1000,
                      tuple(latencies))
