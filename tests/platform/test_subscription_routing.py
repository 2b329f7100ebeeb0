"""Events reach only their own subscribers; a broadcast is converted and executed once per event;
a bad event is skipped and ends nobody's stream. Over real sockets against the live server."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.events.hub import Event, EventHub
from domain.identity.sessions import NOTIFICATION_TOPIC
from domain.ledger.posting import TOPIC_WALLET_UPDATED
from domain.payments.repo import TOPIC_PAYMENT_UPDATED
from schema import root
from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.wsclient import Subscription, graphql_ws

_ids = itertools.count(9_000_000_000)  # event ids of their own: no outbox row, published straight to Redis


async def _publish(runtime: Any, settings: Any, topic: str, payload: dict[str, Any]) -> int:
    event_id = next(_ids)
    wire = Event(event_id, topic, payload, datetime.now(UTC).isoformat()).to_json()
    await runtime.services.redis.publish(settings.channel_prefix + topic, wire)
    return event_id


def _wallet(uid: int, balance: str) -> dict[str, Any]:
    return {"user_id": uid, "wallet_id": 1, "currency": "USD", "balance": balance, "held": "0", "available": balance}


def _announcement(title: str) -> dict[str, Any]:
    return {"id": 1, "title": title, "body": "b", "severity": "info", "created_at": datetime.now(UTC).isoformat()}


async def test_the_hub_routes_own_events_by_user(runtime: Any) -> None:
    hub = EventHub(runtime.services.redis, "unused:", queue_size=8)
    async with (hub.subscribe("w", user_id=1) as mine, hub.subscribe("w", user_id=2) as theirs,
                hub.subscribe("w") as everyone, hub.subscribe("other", user_id=1) as elsewhere):
        assert hub.subscriber_count == 4
        hub._dispatch(Event(1, "w", {"user_id": 1}, "now"))
        hub._dispatch(Event(2, "w", {"user_id": "1"}, "now"))  # not a user id: nobody's own
        hub._dispatch(Event(3, "w", {}, "now"))
        assert [mine.queue.get_nowait().id for _ in range(mine.queue.qsize())] == [1]
        assert theirs.queue.empty() and elsewhere.queue.empty()
        assert [everyone.queue.get_nowait().id for _ in range(3)] == [1, 2, 3]
    assert hub.subscriber_count == 0 and hub._routes == {}


async def _signed_in(http: Any) -> tuple[str, int]:
    client = await register(GraphQLClient(http))
    return client["accessToken"], int(client["viewer"]["id"])


async def _next(ws: Subscription, op_id: str) -> dict[str, Any]:
    message = await ws.receive(timeout=10)
    assert message["type"] == "next" and message["id"] == op_id, message
    assert not message["payload"].get("errors"), message
    data: dict[str, Any] = message["payload"]["data"]
    return data


async def _until_subscribed(ws: Subscription, runtime: Any, settings: Any, topic: str, payload: dict[str, Any],
                            op_id: str) -> dict[str, Any]:
    """Publish until the subscription (registered asynchronously) streams one."""
    for _ in range(40):
        await _publish(runtime, settings, topic, payload)
        try:
            return await _next(ws, op_id)
        except TimeoutError:
            continue
    pytest.fail("the subscription never streamed")


async def test_own_events_reach_only_their_owner_and_a_bad_one_ends_nothing(
    http: Any, live_server: Any, runtime: Any, settings: Any,
) -> None:
    (token_a, uid_a), (token_b, uid_b) = await _signed_in(http), await _signed_in(http)
    async with (graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {token_a}"}) as a,
                graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {token_b}"}) as b):
        for ws in (a, b):
            await ws.subscribe("subscription { walletUpdated { balance } }", op_id="w")
            await ws.subscribe("subscription { paymentUpdated { status } }", op_id="p")
            await ws.subscribe("subscription { notifications { kind } }", op_id="n")
        await _until_subscribed(a, runtime, settings, TOPIC_WALLET_UPDATED, _wallet(uid_a, "1.00"), "w")
        await _until_subscribed(b, runtime, settings, TOPIC_WALLET_UPDATED, _wallet(uid_b, "1.00"), "w")

        # Malformed events of each kind for A, then good ones: A's streams skip the bad ones and go on.
        await _publish(runtime, settings, TOPIC_WALLET_UPDATED, {"user_id": uid_a, "currency": "USD"})
        await _publish(runtime, settings, TOPIC_PAYMENT_UPDATED, {"user_id": uid_a, "status": "nonsense"})
        await _publish(runtime, settings, NOTIFICATION_TOPIC, {"user_id": uid_a})
        await _publish(runtime, settings, TOPIC_WALLET_UPDATED, _wallet(uid_a, "2.00"))
        await _publish(runtime, settings, NOTIFICATION_TOPIC, {"user_id": uid_a, "kind": "k", "message": "m",
                                                        "notification_id": 1, "created_at": datetime.now(UTC).isoformat()})
        await _publish(runtime, settings, TOPIC_PAYMENT_UPDATED, {
            "user_id": uid_a, "payment_id": 7, "reference": "r", "status": "pending", "direction": "deposit",
            "amount": "1", "currency": "USD"})
        assert (await _next(a, "w"))["walletUpdated"]["balance"] == "2.00"
        assert (await _next(a, "n"))["notifications"]["kind"] == "k"
        assert (await _next(a, "p"))["paymentUpdated"]["status"] == "PENDING"
        # None of A's events reached B.
        with pytest.raises(TimeoutError):
            extra = await b.receive(timeout=0.7)
            pytest.fail(f"B received A's event: {extra}")
        await _publish(runtime, settings, TOPIC_WALLET_UPDATED, _wallet(uid_b, "3.00"))
        assert (await _next(b, "w"))["walletUpdated"]["balance"] == "3.00"


async def _drain(ws: Subscription) -> set[str]:
    """The operation ids of what arrives until the socket is quiet for a moment."""
    ids: set[str] = set()
    while True:
        try:
            message = await ws.receive(timeout=0.3)
        except TimeoutError:
            return ids
        assert message["type"] == "next" and not message["payload"].get("errors"), message
        ids.add(message["id"])


async def test_a_broadcast_is_executed_once_for_all_its_subscribers_and_a_bad_one_is_skipped(
    http: Any, live_server: Any, runtime: Any, settings: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    executed: list[Any] = []
    original = root._StrawberryContext.execute_operation  # the executor under the schema's (schema/root.py)

    def counting(self: Any, serially: bool | None = None) -> Any:
        if self.operation.operation.value == "subscription":
            executed.append(self.root_value)
        return original(self, serially)

    monkeypatch.setattr(root._StrawberryContext, "execute_operation", counting)
    query = "subscription { announcementPosted { title severity } }"
    (token_a, _), (token_b, _) = await _signed_in(http), await _signed_in(http)
    sockets = [graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {t}"}) for t in (token_a, token_b)]
    async with sockets[0] as a, sockets[1] as b:
        await a.subscribe(query, op_id="x")
        await b.subscribe(query, op_id="y")
        await b.subscribe("subscription { announcementPosted { title } }", op_id="z")  # another document
        streaming: set[str] = set()
        for _ in range(40):  # subscriptions register asynchronously: warm up until all three stream
            await _publish(runtime, settings, "announcement.posted", _announcement("warm"))
            for ws in (a, b):
                streaming |= await _drain(ws)
            if streaming == {"x", "y", "z"}:
                break
        else:
            pytest.fail(f"only {streaming} streamed")

        executed.clear()
        await _publish(runtime, settings, "announcement.posted", {"id": 2, "title": "no severity"})  # bad
        await _publish(runtime, settings, "announcement.posted", _announcement("hello"))
        got_a = await _next(a, "x")
        got_b = {m["id"]: m["payload"]["data"] for m in [await b.receive(timeout=10), await b.receive(timeout=10)]}
        assert got_a == got_b["y"] == {"announcementPosted": {"title": "hello", "severity": "INFO"}}
        assert got_b["z"] == {"announcementPosted": {"title": "hello"}}
        # One execution per document for the one good event, whoever and however many received it.
        assert len(executed) == 2, executed


async def test_live_sessions_opened_together_re_read_at_spread_times() -> None:
    """Thousands of sockets open in the same second; their periodic session checks must not all fall
    in one instant (they drained the database pool), yet each comes within REVALIDATE_S."""
    import asyncio

    from domain.shared.actor import Actor, ActorKind
    from schema.live_session import REVALIDATE_S, LiveSession

    async def same() -> Actor | None:
        return None

    loop = asyncio.get_running_loop()
    sessions = [LiveSession(Actor(ActorKind.CLIENT, user_id=i), same, None) for i in range(200)]
    started = loop.time()
    for live in sessions:
        live.start()
    try:
        due = sorted(live._poll_timer.when() - started for live in sessions if live._poll_timer is not None)
        assert len(due) == 200 and all(0 < d <= REVALIDATE_S + 0.1 for d in due)
        assert due[-1] - due[0] > REVALIDATE_S / 4, "the checks are not spread"
    finally:
        for live in sessions:
            live.close()
