"""Subscriptions over SSE (graphql-sse, distinct connections) are bound to the live session exactly
as over graphql-transport-ws: over real HTTP against the live server, every subscription streams,
then ends with a typed error and closes when the session is logged out or revoked or its token
expires; a staff stream ends with FORBIDDEN when its role goes; API-token scopes and anonymous
callers are refused as on any other path."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx
import pytest

from domain.identity import api_tokens
from domain.identity import roles as roles_service
from domain.identity.sessions import revoke_all_sessions
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction
from tests.conftest import GraphQLClient, serve, unique
from tests.identity.helpers import register
from tests.identity.staff import make_staff
from tests.identity.test_ws_live_session import SUBSCRIPTIONS, _emit_all
from tests.sseclient import SSEStream, graphql_sse


async def _open_all(stack: contextlib.AsyncExitStack, http: httpx.AsyncClient, token: str | None,
                    names: list[str]) -> dict[str, SSEStream]:
    return {name: await stack.enter_async_context(graphql_sse(http, SUBSCRIPTIONS[name], token=token))
            for name in names}


async def _all_stream(streams: dict[str, SSEStream], session_factory: Any, uid: int) -> None:
    """Each stream delivers one of its events (a stream registers with the hub as its response starts)."""
    pending = dict(streams)
    for _ in range(20):
        await _emit_all(session_factory, uid, unique("before"))
        for name, stream in list(pending.items()):
            try:
                kind, data = await stream.event(timeout=0.5)
            except TimeoutError:
                continue
            assert kind == "next" and not data.get("errors"), (name, kind, data)
            assert name in data["data"], data
            del pending[name]
        if not pending:
            return
    pytest.fail(f"{sorted(pending)} never streamed")


async def _ended(streams: dict[str, SSEStream], session_factory: Any, uid: int, code: str) -> None:
    """Each stream's last `next` carries `code`, then `complete`, then the response ends."""
    for name, stream in streams.items():
        while True:
            kind, data = await stream.event()
            assert kind == "next", (name, kind, data)
            if data.get("errors"):
                assert data["errors"][0]["extensions"]["code"] == code, (name, data)
                break
        await _emit_all(session_factory, uid, unique("after"))  # would stream, were it still open
        assert await stream.event() == ("complete", None), name
        assert await stream.event() == ("end", None), name


@pytest.mark.parametrize("how", ["logout", "passwordReset"])
async def test_every_subscription_over_sse_ends_with_the_session(
    http: httpx.AsyncClient, session_factory: Any, settings: Any, relay: Any, how: str,
) -> None:
    dealer = await make_staff(http, session_factory, settings, ["dealer"])
    async with contextlib.AsyncExitStack() as stack:
        streams = await _open_all(stack, http, dealer.client.token, list(SUBSCRIPTIONS))
        await _all_stream(streams, session_factory, dealer.user_id)
        if how == "logout":
            body = await dealer.client("mutation { logout { ok } }")
            assert body["data"]["logout"]["ok"] is True, body
        else:
            await in_transaction(session_factory, lambda s: revoke_all_sessions(
                s, system_actor("test"), dealer.user_id, reason="password_reset"))
        await _ended(streams, session_factory, dealer.user_id, "SESSION_ENDED")


async def test_an_sse_stream_ends_when_the_access_token_expires(
    session_factory: Any, settings: Any, relay: Any,
) -> None:
    short = settings.model_copy(update={"access_token_ttl_s": 6})
    async with serve(short) as server, httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        issued = time.time()
        reg = await register(GraphQLClient(client))
        uid = int(reg["viewer"]["id"])
        async with contextlib.AsyncExitStack() as stack:
            streams = await _open_all(stack, client, reg["accessToken"], ["walletUpdated", "notifications"])
            await _all_stream(streams, session_factory, uid)
            assert time.time() < issued + 6
            await _ended(streams, session_factory, uid, "TOKEN_EXPIRED")


async def test_a_staff_sse_stream_ends_when_its_role_goes(
    http: httpx.AsyncClient, session_factory: Any, settings: Any, relay: Any,
) -> None:
    dealer = await make_staff(http, session_factory, settings, ["dealer"])
    async with contextlib.AsyncExitStack() as stack:
        streams = await _open_all(stack, http, dealer.client.token, ["exposureUpdated", "notifications"])
        await _all_stream(streams, session_factory, dealer.user_id)
        await in_transaction(session_factory, lambda s: roles_service.unassign(
            s, system_actor("test"), dealer.user_id, "dealer"))
        await _ended({"exposureUpdated": streams["exposureUpdated"]}, session_factory, dealer.user_id, "FORBIDDEN")
        # The session lives on: its other stream still delivers.
        await _all_stream({"notifications": streams["notifications"]}, session_factory, dealer.user_id)
        # And the lost subscription is refused when asked again.
        async with graphql_sse(http, SUBSCRIPTIONS["exposureUpdated"], token=dealer.client.token) as again:
            kind, data = await again.event()
            assert kind == "next" and data["errors"][0]["extensions"]["code"] == "FORBIDDEN", data


async def _token(session_factory: Any, settings: Any, owner: int, scopes: list[str]) -> str:
    actor = Actor(ActorKind.CLIENT, user_id=owner, stepped_up_at=time.time())
    async with session_factory() as s, s.begin():
        return (await api_tokens.create(s, settings, actor, name="sse", scopes=scopes, expires_in_days=5)).plaintext


async def test_sse_keeps_api_token_scopes_and_refuses_anonymous_callers(
    http: httpx.AsyncClient, session_factory: Any, settings: Any, relay: Any,
) -> None:
    reg = await register(GraphQLClient(http))
    uid = int(reg["viewer"]["id"])
    reader = await _token(session_factory, settings, uid, ["profile.read"])
    async with contextlib.AsyncExitStack() as stack:  # profile.read opens the owner's wallet stream
        streams = await _open_all(stack, http, reader, ["walletUpdated"])
        await _all_stream(streams, session_factory, uid)
    refusals = [(reader, "notifications", "INSUFFICIENT_SCOPE"),  # a field closed to tokens
                (None, "walletUpdated", "UNAUTHENTICATED")]
    for token, name, code in refusals:
        async with graphql_sse(http, SUBSCRIPTIONS[name], token=token) as stream:
            kind, data = await stream.event()
            assert kind == "next" and data["errors"][0]["extensions"]["code"] == code, (name, data)
            assert data.get("data") is None, data
            assert await stream.event() == ("complete", None)


async def test_sse_with_a_revoked_credential_or_a_forgeable_request_streams_nothing(
    http: httpx.AsyncClient,
) -> None:
    reg = await register(GraphQLClient(http))
    await GraphQLClient(http, reg["accessToken"])("mutation { logout { ok } }")
    async with graphql_sse(http, SUBSCRIPTIONS["walletUpdated"], token=reg["accessToken"]) as stream:
        kind, data = await stream.event()  # as any HTTP request: a dead credential is nobody
        assert kind == "next" and data["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", data
        assert await stream.event() == ("complete", None)
    # A cookie-authenticated stream without a preflight-only header could be opened by another site.
    async with graphql_sse(http, SUBSCRIPTIONS["walletUpdated"],
                           headers={"cookie": f"forexcrm_access={reg['accessToken']}"}) as stream:
        assert stream.response.status_code == 403, stream.response.status_code
