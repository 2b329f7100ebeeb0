"""graphql-transport-ws over a real socket, served without the HTTP middleware stack (api/app.py `_Api`)
and with the view's own message loop (api/graphql_view.py `SessionBoundWSHandler.handle`): the
protocol's ping/pong, complete, id reuse and refusals of what is not a protocol message."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, WebSocketUpgradeError, aconnect_ws

from schema.system.resolvers import HEARTBEAT_TOPIC
from tests.wsclient import graphql_ws

HEARTBEAT = "subscription { heartbeat { sequence } }"


async def _publish_until(ws: Any, runtime: Any, settings: Any, op_id: str) -> dict[str, Any]:
    """Publish heartbeats until one reaches operation `op_id` (it registers with the hub asynchronously)."""
    from domain.events.hub import Event

    for number in range(1, 50):
        event = Event(number, HEARTBEAT_TOPIC, {"at": "2026-01-01T00:00:00+00:00"}, "2026-01-01T00:00:00+00:00")
        await runtime.services.redis.publish(settings.channel_prefix + HEARTBEAT_TOPIC, event.to_json())
        try:
            message = await ws.receive(timeout=0.3)
        except TimeoutError:
            continue
        assert message["id"] == op_id and message["type"] == "next", message
        return dict(message)
    raise AssertionError("no heartbeat reached the subscription")


async def test_ping_is_answered_with_pong_before_and_after_the_ack(live_server: Any) -> None:
    async with graphql_ws(live_server.ws_url, ack=False) as ws:
        assert json.loads(await ws.ws.receive_text(timeout=5))["type"] == "connection_ack"
        await ws.send({"type": "ping"})
        assert json.loads(await ws.ws.receive_text(timeout=5)) == {"type": "pong"}
        await ws.send({"type": "pong"})  # an unsolicited pong is fine and answered by nothing
        await ws.send({"type": "ping", "payload": {"at": 1}})
        assert json.loads(await ws.ws.receive_text(timeout=5)) == {"type": "pong"}


async def test_a_completed_subscription_stops_and_its_id_can_be_used_again(live_server: Any, runtime: Any,
                                                                          settings: Any) -> None:
    async with graphql_ws(live_server.ws_url) as ws:
        await ws.subscribe(HEARTBEAT, op_id="a")
        await _publish_until(ws, runtime, settings, "a")
        await ws.subscribe(HEARTBEAT, op_id="a")  # a running id again: 4409
        closed = await ws.closed(timeout=5)
        assert (closed.code, closed.reason) == (4409, "Subscriber for a already exists")
    async with graphql_ws(live_server.ws_url) as ws:
        await ws.subscribe(HEARTBEAT, op_id="a")
        await _publish_until(ws, runtime, settings, "a")
        await ws.send({"id": "a", "type": "complete"})
        await asyncio.sleep(0.3)
        await ws.subscribe(HEARTBEAT, op_id="a")  # the id is free again once completed
        await _publish_until(ws, runtime, settings, "a")
        await ws.send({"type": "ping"})
        assert json.loads(await ws.ws.receive_text(timeout=5)) in ({"type": "pong"}, *[
            # a heartbeat published before the ping may still be on its way
            {"id": "a", "type": "next", "payload": {"data": {"heartbeat": {"sequence": n}}}} for n in range(50)])


async def test_a_query_over_the_socket_answers_next_then_complete(live_server: Any) -> None:
    async with graphql_ws(live_server.ws_url) as ws:
        await ws.subscribe("{ apiVersion }", op_id="q")
        message = await ws.receive(timeout=5)
        assert message["id"] == "q" and message["type"] == "next" and message["payload"]["data"]["apiVersion"]
        assert await ws.receive(timeout=5) == {"id": "q", "type": "complete"}


@pytest.mark.parametrize(("frame", "reason"), [
    (b"\x00\x01", "WebSocket message type must be text"),
    ("not json", "WebSocket message must be valid JSON"),
    ('{"type": "no-such-type"}', "Unknown message type: no-such-type"),
])
async def test_what_is_not_a_protocol_message_closes_the_socket_with_4400(live_server: Any, frame: bytes | str,
                                                                         reason: str) -> None:
    async with graphql_ws(live_server.ws_url) as ws:
        if isinstance(frame, bytes):
            await ws.ws.send_bytes(frame)
        else:
            await ws.ws.send_text(frame)
        closed = await ws.closed(timeout=5)
        assert (closed.code, closed.reason) == (4400, reason)


async def test_a_socket_on_another_path_still_takes_the_middleware_stack(live_server: Any) -> None:
    """Only /graphql sockets are served straight; any other socket path is the router's (no route: refused)."""
    with pytest.raises((WebSocketDisconnect, WebSocketUpgradeError)):
        async with httpx.AsyncClient() as client:
            url = live_server.ws_url.replace("/graphql", "/elsewhere")
            connect: Any = aconnect_ws(url, client, subprotocols=["graphql-transport-ws"])
            async with connect as ws:
                await ws.receive_text(timeout=5)


async def test_a_waiting_subscription_keeps_no_generator_of_the_socket_loop_or_its_context(
        live_server: Any, runtime: Any, settings: Any) -> None:
    """What a subscriber holds while it waits (thousands at a time): the socket's message loop and
    `Context.subscribe` are plain coroutines and objects, not async generators kept for its life."""
    loop = asyncio.get_running_loop()
    async with graphql_ws(live_server.ws_url) as ws:
        await ws.subscribe(HEARTBEAT, op_id="h")
        await _publish_until(ws, runtime, settings, "h")
        held = [g.ag_code for g in list(loop._asyncgens)]  # type: ignore[attr-defined]
        names = {c.co_name for c in held}
        assert "iter_json" not in names, names
        assert not any(c.co_name == "subscribe" and c.co_filename.endswith("schema/context.py") for c in held), names
        assert "heartbeat" in names  # the resolver's own generator is there: the check sees the socket's
