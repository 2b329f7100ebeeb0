"""The body read deadline (api/middleware.receive_within): one timer per loop checks every waiting
read, so a read whose chunk is already there costs no timer of its own."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from api import middleware
from api.middleware import _BodyTooSlow, receive_within


async def test_a_chunk_already_there_is_returned() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    assert (await receive_within(receive, 5.0))["body"] == b"{}"
    deadlines = middleware._deadlines[asyncio.get_running_loop()]
    assert deadlines.waiting == {} and deadlines.expired == set()


async def test_a_stalled_read_is_too_slow_after_its_deadline_and_others_go_on() -> None:
    never = asyncio.Event()
    later = asyncio.Event()

    async def stalled() -> dict[str, Any]:
        await never.wait()
        return {}

    async def slow_but_in_time() -> dict[str, Any]:
        await later.wait()
        return {"type": "http.request", "body": b"x", "more_body": False}

    started = time.monotonic()
    in_time = asyncio.ensure_future(receive_within(slow_but_in_time, 5.0))
    with pytest.raises(_BodyTooSlow):
        await receive_within(stalled, 0.3)
    took = time.monotonic() - started
    assert 0.3 <= took < 0.3 + 2 * middleware._Deadlines.TICK + 0.5
    later.set()
    assert (await in_time)["body"] == b"x"  # its own deadline was not this one's
    deadlines = middleware._deadlines[asyncio.get_running_loop()]
    assert deadlines.waiting == {} and deadlines.expired == set()


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    never = asyncio.Event()

    async def stalled() -> dict[str, Any]:
        await never.wait()
        return {}

    reading = asyncio.ensure_future(receive_within(stalled, 30.0))
    await asyncio.sleep(0.05)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert middleware._deadlines[asyncio.get_running_loop()].waiting == {}
