"""The lean WebSocket protocol's own parts (api/ws_protocol.py): hand-built text frames read back by
the websockets library's parser, the shared frame of a broadcast, the inbox and back-pressure gate
standing in for uvicorn's asyncio.Queue and asyncio.Event. Over real sockets it is exercised by
every WebSocket test (the live server runs with uvicorn_options)."""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from api.http_protocol import uvicorn_options
from api.ws_protocol import _Gate, _Inbox, text_frame
from domain.shared.settings import Settings


def _parsed(raw: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(raw)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)  # a server's frames are not masked
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("the frame is incomplete")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_a_hand_built_text_frame_is_what_websockets_reads(size: int) -> None:
    text = ("é" * size)[:size] if size % 2 else "x" * size  # multi-byte UTF-8 as well
    frame = _parsed(text_frame(text))
    assert frame.opcode is Opcode.TEXT and frame.fin and not frame.rsv1
    assert bytes(frame.data).decode() == text


def test_the_same_text_object_is_framed_once_and_equal_text_anew() -> None:
    text = '{"id":"1","type":"next","payload":{"data":{"n":1}}}'
    first = text_frame(text)
    assert text_frame(text) is first  # a broadcast: the same bytes for every socket
    other = "".join(['{"id":"2"', text[8:]])
    assert text_frame(other) is not first and bytes(_parsed(text_frame(other)).data).decode() == other


def test_the_api_and_the_bench_anchor_serve_websockets_with_the_lean_protocol() -> None:
    assert uvicorn_options(Settings())["ws"] == "api.ws_protocol:LeanWebSocketProtocol"


async def test_the_inbox_hands_messages_over_in_order_and_wakes_a_waiting_reader() -> None:
    inbox = _Inbox()
    assert inbox.empty()
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait({"n": 1})
    inbox.put_nowait({"n": 2})
    assert await reader == {"n": 1}
    assert not inbox.empty() and await inbox.get() == {"n": 2} and inbox.empty()
    cancelled = asyncio.ensure_future(inbox.get())  # a reader cancelled while waiting costs nothing later
    await asyncio.sleep(0)
    cancelled.cancel()
    inbox.put_nowait({"n": 3})
    assert await inbox.get() == {"n": 3}


async def test_the_gate_holds_writers_while_the_transport_is_full() -> None:
    gate = _Gate()
    assert gate.is_set()
    await gate.wait()  # open: no wait
    gate.clear()
    writers = [asyncio.ensure_future(gate.wait()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert not any(w.done() for w in writers)
    gate.set()
    await asyncio.wait_for(asyncio.gather(*writers), 1)
