"""Subscriptions authenticate in connection_init and see only their own user's notifications."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import GraphQLClient
from tests.identity.helpers import login, register
from tests.wsclient import graphql_ws

SUB = "subscription { notifications { kind message } }"
REFRESH = "mutation($t: String) { refreshToken(refreshToken: $t) { errors { code } } }"


async def test_notifications_reach_only_their_user(http: httpx.AsyncClient, live_server, relay) -> None:
    anon = GraphQLClient(http)
    alice, bob = await register(anon), await register(anon)
    # Alice listens from a second session: refresh-token reuse revokes the session it belongs to.
    watching = await login(anon, alice["email"])
    async with graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {watching['accessToken']}"}) as a_ws, \
            graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {bob['accessToken']}"}) as b_ws:
        await a_ws.subscribe(SUB)
        await b_ws.subscribe(SUB)
        await asyncio.sleep(0.3)
        # Reusing Alice's first refresh token raises a security notification for Alice only.
        await anon(REFRESH, {"t": alice["refreshToken"]})
        await anon(REFRESH, {"t": alice["refreshToken"]})
        message = await a_ws.receive(timeout=5)
        assert message["type"] == "next"
        assert message["payload"]["data"]["notifications"]["kind"] == "security.refresh_reuse"
        try:
            other = await b_ws.receive(timeout=1)
        except TimeoutError:
            other = None
        assert other is None, other


async def test_subscription_without_credentials_is_refused(live_server) -> None:
    async with graphql_ws(live_server.ws_url) as ws:
        await ws.subscribe(SUB)
        message = await ws.receive(timeout=5)
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_credential_that_cannot_be_checked_now_closes_with_try_again_later(
    http: httpx.AsyncClient, live_server, monkeypatch
) -> None:
    """The database overloaded (thousands of sockets reconnecting at once) or away while a socket
    authenticates: it is closed with 1013 "Try Again Later", not dropped unclosed, and a later attempt
    goes through."""
    import api.graphql_view

    client = await register(GraphQLClient(http))

    async def unavailable(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise TimeoutError("QueuePool limit reached")

    monkeypatch.setattr(api.graphql_view, "resolve_credential", unavailable)
    async with graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {client['accessToken']}"},
                          ack=False) as ws:
        closed = await ws.closed(timeout=5)
        assert (closed.code, closed.reason) == (1013, "Try again later")
    monkeypatch.undo()
    async with graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {client['accessToken']}"}) as ws:
        await ws.subscribe(SUB)
        await ws.send({"type": "ping"})
        assert (await ws.ws.receive_text(timeout=5)) == '{"type":"pong"}'
