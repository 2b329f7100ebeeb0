"""uvicorn's httptools protocol, writing each response's head and body in one system call, and
closing connections whose request head does not arrive in time.

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

from domain.shared.settings import Settings, get_settings


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


# How long a client may take to send a request's line and headers (from connecting, or from the
# first byte of a further request on a kept-alive connection). uvicorn times out only an idle
# kept-alive connection, so a client dribbling a header byte now and then (slowloris) or connecting
# and sending nothing would hold the connection for ever. The body has its own deadline
# (BodySizeLimitMiddleware). FOREXCRM_HEADER_TIMEOUT_S, through `uvicorn_options`.


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    # None: the environment's setting (processes of `forexcrm api --workers N` build everything from it).
    header_timeout_s: float | None = None
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            return
        timeout = self.header_timeout_s
        if timeout is None:
            timeout = get_settings().header_timeout_s
        self._head_timer = self.loop.call_later(timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes over the connection: it gets the real transport.
        self._disarm_head_timer()
        wrapper = self.transport
        if isinstance(wrapper, _CoalescingTransport):
            wrapper.flush()
            self.transport = wrapper._transport
        super().handle_websocket_upgrade()


def uvicorn_options(settings: Settings, *, workers: int = 1) -> dict[str, Any]:
    """How `forexcrm api` (and the tests' live server) run uvicorn: this protocol with the configured
    header deadline, forwarded headers left to the app (FOREXCRM_TRUSTED_PROXIES, api/app.py), idle
    kept-alive connections closed after `keep_alive_timeout_s`. Several workers are separate
    processes handed the protocol by name: theirs reads the deadline from the environment."""
    protocol: type[CoalescingHttpToolsProtocol] = CoalescingHttpToolsProtocol
    if workers == 1:
        protocol = type("HttpProtocol", (protocol,), {"header_timeout_s": settings.header_timeout_s})
    return {"http": protocol, "proxy_headers": False, "timeout_keep_alive": settings.keep_alive_timeout_s,
            "h11_max_incomplete_event_size": 64 * 1024, "log_config": None, "access_log": settings.access_log,
            "lifespan": "on", **WEBSOCKET_OPTIONS}


# Subscriptions hold thousands of sockets per process, so what each costs matters. uvicorn's
# sans-I/O websockets protocol keeps a socket in plain state (its keep-alive ping is a timer, the
# legacy implementation runs tasks per connection); no per-message deflate (a compression context per
# socket, tens of kB, for small JSON frames); a ping every 30 s finds dead peers.
# The protocol is uvicorn's sans-I/O one with less kept per socket and broadcast frames built once
# (api/ws_protocol.py), named as a string so processes of `--workers N` import it themselves.
WEBSOCKET_OPTIONS: dict[str, Any] = {"ws": "api.ws_protocol:LeanWebSocketProtocol", "ws_max_size": 1_000_000,
                                     "ws_per_message_deflate": False, "ws_ping_interval": 30.0,
                                     "ws_ping_timeout": 30.0}
