"""uvicorn's sans-I/O WebSocket protocol, leaner per socket and per broadcast frame.

Subscriptions hold thousands of sockets per process, each for hours, so what a socket keeps while
nothing happens is what a subscriber costs. uvicorn's protocol keeps, for a socket's whole life,

- an asyncio.Queue for the messages the app has yet to receive (three deques, about 2.3 kB, made up
  front) and an asyncio.Event for back-pressure (another deque): here a list made when a message
  comes and a future only while someone waits;
- the handshake's request and response (their headers, about 3 kB) once the socket is accepted:
  dropped (and the request's headers emptied) here: the app has its own copy in the ASGI scope.

And it frames each text message on its own: here a text frame is built by hand (a server frame is
its header and the UTF-8 text, unmasked, uncompressed as per-message deflate is off) and the last
one is kept, so a broadcast that hands every socket the same text object frames and encodes it
once and writes the same bytes to each. Anything else (binary, close, a connection not open)
takes uvicorn's path unchanged.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State


class _Inbox:
    """What the app has yet to receive (uvicorn uses put_nowait, get and empty)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, message: Any) -> None:
        if self._items is None:
            self._items = [message]
        else:
            self._items.append(message)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            waiter = self._waiter
            if waiter is None or waiter.done():
                waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter
        message = self._items.pop(0)
        if not self._items:
            self._items = None
        return message


class _Gate:
    """Back-pressure: open unless the transport's buffer is full (uvicorn uses set, clear, wait)."""

    __slots__ = ("_open", "_waiters")

    def __init__(self) -> None:
        self._open = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        self._open = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._open = False

    async def wait(self) -> None:
        while not self._open:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            await waiter


_last_text: str | None = None
_last_frame = b""


def text_frame(text: str) -> bytes:
    """A server's unfragmented text frame carrying `text` (the same object as last time: the same
    bytes, built once)."""
    global _last_text, _last_frame
    if text is _last_text:
        return _last_frame
    data = text.encode()
    length = len(data)
    if length < 126:
        head = struct.pack("!BB", 0x81, length)
    elif length < 65536:
        head = struct.pack("!BBH", 0x81, 126, length)
    else:
        head = struct.pack("!BBQ", 0x81, 127, length)
    _last_text, _last_frame = text, head + data
    return _last_frame


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Gate()  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        if (message["type"] == "websocket.send" and self.handshake_complete and not self.close_sent
                and self.initial_response is None and not self.disconnected and self.writable.is_set()):
            text = message.get("text")
            conn = self.conn
            if (text is not None and message.get("bytes") is None and conn.state is State.OPEN
                    and not conn.expect_continuation_frame and not self.transport.is_closing()):
                self.transport.write(text_frame(text))
                return
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake is over: its request and response are not needed again (the app has the
            # request's headers in its scope). The websockets parser's generator frame keeps the
            # request object for the socket's life, so its headers are emptied, not just let go.
            if self.request is not None:
                self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]
