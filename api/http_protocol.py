"""uvicorn's httptools protocol, writing each response's head and body in one system call.

uvicorn writes the status line and headers as soon as the app sends `http.response.start`, and the
body on `http.response.body`: two writes, two TCP segments, for every response. On loopback and in
small VMs a socket write is among the dearest things a request does, so the head is held back and
goes out with the body. A head with no body following in the same event-loop turn (a streamed
response still computing) is flushed at the end of that turn, so nothing waits on later output.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _CoalescingTransport:
    """The connection's transport, delaying a write to the end of the loop turn unless another
    write comes first, which then carries both."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            held, self._held = self._held, None
            self._transport.writelines((held, data))  # one system call, no copy of the body

    def flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # everything else is the real transport's
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _CoalescingTransport(transport, self.loop)  # type: ignore[assignment]

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes over the connection: it gets the real transport.
        wrapper = self.transport
        if isinstance(wrapper, _CoalescingTransport):
            wrapper.flush()
            self.transport = wrapper._transport
        super().handle_websocket_upgrade()
