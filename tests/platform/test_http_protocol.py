"""The API's HTTP protocol sends a response's head and body in one write, and never holds output."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.http_protocol import _CoalescingTransport
from tests.conftest import LiveServer

pytestmark = pytest.mark.asyncio


class _Recorder:
    """Stands in for the socket transport: records each write (the system call it would make)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, chunks: Any) -> None:  # one system call (writev) for all of them
        self.writes.append(b"".join(chunks))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else None


async def test_head_and_body_leave_in_one_write() -> None:
    raw = _Recorder()
    transport = _CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    await asyncio.sleep(0)
    assert len(raw.writes) == 1  # nothing left over for the end of the turn
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1)  # the rest is the real transport's


async def test_a_lone_write_goes_out_at_the_end_of_the_turn() -> None:
    raw = _Recorder()
    transport = _CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    assert raw.writes == []
    await asyncio.sleep(0)
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]


async def test_close_sends_what_is_held_first() -> None:
    raw = _Recorder()
    transport = _CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    transport.close()
    assert raw.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"] and raw.closed
    await asyncio.sleep(0)
    assert len(raw.writes) == 1


async def test_the_served_api_answers_keep_alive_requests_whole(live_server: LiveServer) -> None:
    """Over a real socket, through uvicorn and the app: each response is complete and in order."""
    host, port = live_server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        body = b'{"query":"{ __typename }"}'
        request = (b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        for _ in range(3):
            writer.write(request)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            assert head.startswith(b"HTTP/1.1 200")
            assert await asyncio.wait_for(reader.readexactly(length), 10) == b'{"data":{"__typename":"Query"}}'
    finally:
        writer.close()


async def test_the_api_process_serves_with_tuned_gc_uvloop_and_httptools(live_server: LiveServer) -> None:
    """Started as `forexcrm api` starts it (create_app's lifespan, uvicorn_options): the start-up heap
    is frozen out of the collector's reach and the young generation collected every GC_THRESHOLDS[0]
    allocations, not CPython's 700; HTTP on httptools and uvicorn's loop choice resolving to uvloop."""
    import gc
    import importlib.util

    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from api.http_protocol import uvicorn_options
    from infra.runtime import GC_THRESHOLDS

    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 10_000  # the schema, mappings and pools at least
    options = uvicorn_options(live_server.settings)
    assert issubclass(options["http"], HttpToolsProtocol)
    config = uvicorn.Config(lambda *_: None, **options)
    assert config.loop == "auto" and importlib.util.find_spec("uvloop") is not None  # "auto" is uvloop when installed
