"""Open WebSockets are bound to the live session, over real sockets against the live server.

Every subscription in the schema is run on one socket and must end with a typed error, then the
socket closes with 4401, when the session is logged out, logged out everywhere, revoked by a
password reset, or its access token expires; a staff subscription ends with FORBIDDEN when its
role goes (the socket and the other subscriptions stay). A mutation sent over the socket after the
session ended is refused and moves no money; a credential in connection_init that stands for
nobody closes the socket with 4401.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketDisconnect
from wsproto.utilities import LocalProtocolError

from domain.events.outbox import emit
from domain.identity import roles as roles_service
from domain.identity.sessions import NOTIFICATION_TOPIC, revoke_all_sessions
from domain.ledger import wallets
from domain.ledger.posting import TOPIC_WALLET_UPDATED
from domain.payments.repo import TOPIC_PAYMENT_UPDATED
from domain.risk.exposure import publish_update
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction
from domain.trading.live import TOPIC_ACCOUNT_STATE
from schema.root import build_schema
from schema.system.resolvers import HEARTBEAT_TOPIC
from tests.conftest import GraphQLClient, serve, unique
from tests.fx.helpers import new_quote
from tests.identity.helpers import login, register
from tests.identity.staff import make_staff
from tests.ledger.conftest import snapshot
from tests.wsclient import Subscription, graphql_ws

# Every subscription in the schema, with how a test makes it stream something for user `uid`.
SUBSCRIPTIONS: dict[str, str] = {
    "notifications": "subscription { notifications { kind message } }",
    "walletUpdated": "subscription { walletUpdated { id balance } }",
    "paymentUpdated": "subscription { paymentUpdated { id status } }",
    "announcementPosted": "subscription { announcementPosted { id title } }",
    "heartbeat": "subscription { heartbeat { sequence } }",
    "exposureUpdated": "subscription { exposureUpdated(maxPerSecond: 10) { source } }",
    "tradingAccountStateUpdated": "subscription { tradingAccountStateUpdated { login state { equity } } }",
}


async def _emit_all(session_factory: Any, uid: int, tag: str) -> None:
    """One event for each subscription."""
    now = datetime.now(UTC).isoformat()

    async def work(s: Any) -> None:
        await emit(s, NOTIFICATION_TOPIC, {"user_id": uid, "kind": tag, "message": tag, "notification_id": 1,
                                           "created_at": now})
        await emit(s, TOPIC_WALLET_UPDATED, {"user_id": uid, "wallet_id": 1, "currency": "USD", "balance": "1",
                                             "held": "0", "available": "1"})
        await emit(s, TOPIC_PAYMENT_UPDATED, {"user_id": uid, "payment_id": 1, "reference": tag, "status": "pending",
                                              "direction": "deposit", "amount": "1", "currency": "USD"})
        await emit(s, "announcement.posted", {"id": 1, "title": tag, "body": tag, "severity": "info",
                                              "created_at": now})
        await publish_update(s, source=tag)
        await emit(s, HEARTBEAT_TOPIC, {"at": now})
        await emit(s, TOPIC_ACCOUNT_STATE, {
            "user_id": uid, "trading_account_id": 1, "server_id": 1, "login": 1, "currency": "USD", "balance": "1",
            "credit": "0", "equity": "1", "margin": "0", "margin_free": "1", "margin_level": "0",
            "floating_profit": "0", "as_of": now})

    await in_transaction(session_factory, work)


def test_the_table_names_every_subscription(settings: Any) -> None:
    subscription = build_schema(settings).get_type_by_name("Subscription")
    names = {f.graphql_name or f.python_name for f in subscription.fields}  # type: ignore[union-attr]
    camel = {"".join(w.capitalize() if i else w for i, w in enumerate(n.split("_"))) for n in names}
    assert camel == set(SUBSCRIPTIONS)


def test_subscriptions_read_events_only_through_the_live_session() -> None:
    """A resolver reading the hub directly would stream past the end of its caller's session."""
    schema_dir = Path(__file__).resolve().parents[2] / "schema"
    offenders = [str(p) for p in schema_dir.rglob("*.py")
                 if p.name not in ("context.py", "live_session.py") and ("hub.subscribe(" in p.read_text() or "queue.get()" in p.read_text())]
    assert offenders == []


async def _subscribe_all(ws: Subscription, session_factory: Any, uid: int) -> None:
    """Every subscription streams for this caller before the session changes (the path works)."""
    for i, query in enumerate(SUBSCRIPTIONS.values()):
        await ws.subscribe(query, op_id=str(i))
    await asyncio.sleep(0.5)
    tag = unique("before")
    await _emit_all(session_factory, uid, tag)
    seen: set[str] = set()
    while seen != set(SUBSCRIPTIONS):
        try:
            message = await ws.receive(timeout=10)
        except TimeoutError:
            pytest.fail(f"only {seen} streamed")
        assert message["type"] == "next" and not message["payload"].get("errors"), message
        seen |= set(message["payload"]["data"])


async def _ended(ws: Subscription, session_factory: Any, uid: int, code: str) -> None:
    """Each subscription ends with `code`, nothing more streams, and the socket closes with 4401."""
    ended: dict[str, str] = {}
    closed: WebSocketDisconnect | None = None
    while closed is None:
        try:
            message = await ws.receive(timeout=10)
        except WebSocketDisconnect as exc:
            closed = exc
            break
        if message["type"] == "complete":
            continue
        assert message["type"] == "next", message
        errors = message["payload"].get("errors")
        if errors:  # the stream's end; a `next` with data before it was already on its way
            ended[message["id"]] = errors[0]["extensions"]["code"]
            await _emit_all(session_factory, uid, unique("after"))  # would stream, were it still open
        elif message["id"] in ended:
            pytest.fail(f"{message['id']} streamed after it ended: {message}")
    assert closed.code == 4401, (closed.code, closed.reason)
    assert ended == {str(i): code for i in range(len(SUBSCRIPTIONS))}


async def _dealer(http: httpx.AsyncClient, session_factory: Any, settings: Any) -> Any:
    return await make_staff(http, session_factory, settings, ["dealer"])


@pytest.mark.parametrize("how", ["logout", "logoutEverywhere", "passwordReset"])
async def test_every_subscription_ends_with_the_session(
    http: httpx.AsyncClient, session_factory: Any, settings: Any, live_server: Any, relay: Any, how: str,
) -> None:
    dealer = await _dealer(http, session_factory, settings)
    async with graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {dealer.client.token}"}) as ws:
        await _subscribe_all(ws, session_factory, dealer.user_id)
        if how == "logout":
            body = await dealer.client("mutation { logout { ok } }")
            assert body["data"]["logout"]["ok"] is True, body
        elif how == "logoutEverywhere":
            body = await dealer.client("mutation { logoutEverywhere { ok } }")
            assert body["data"]["logoutEverywhere"]["ok"] is True, body
        else:  # what a password reset does to the user's sessions (domain/identity/links.py)
            await in_transaction(session_factory, lambda s: revoke_all_sessions(
                s, system_actor("test"), dealer.user_id, reason="password_reset"))
        await _ended(ws, session_factory, dealer.user_id, "SESSION_ENDED")


async def test_every_subscription_ends_when_the_access_token_expires(
    http: httpx.AsyncClient, session_factory: Any, settings: Any, relay: Any,
) -> None:
    short = settings.model_copy(update={"access_token_ttl_s": 8})
    async with serve(short) as server, httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        dealer = await _dealer(client, session_factory, short)
        async with graphql_ws(server.ws_url, payload={"authorization": f"Bearer {dealer.client.token}"}) as ws:
            await _subscribe_all(ws, session_factory, dealer.user_id)
            await _ended(ws, session_factory, dealer.user_id, "TOKEN_EXPIRED")


async def test_a_staff_subscription_ends_when_its_role_goes(
    http: httpx.AsyncClient, session_factory: Any, settings: Any, live_server: Any, relay: Any,
) -> None:
    dealer = await _dealer(http, session_factory, settings)
    async with graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {dealer.client.token}"}) as ws:
        await ws.subscribe(SUBSCRIPTIONS["exposureUpdated"], op_id="exposure")
        await ws.subscribe(SUBSCRIPTIONS["notifications"], op_id="notes")
        await asyncio.sleep(0.5)
        await _emit_all(session_factory, dealer.user_id, unique("before"))
        got = {(await ws.receive(timeout=10))["id"] for _ in range(2)}
        assert got == {"exposure", "notes"}

        await in_transaction(session_factory, lambda s: roles_service.unassign(
            s, system_actor("test"), dealer.user_id, "dealer"))
        message = await ws.receive(timeout=10)
        assert message["id"] == "exposure" and message["type"] == "next", message
        assert message["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN", message
        assert (await ws.receive(timeout=5)) == {"id": "exposure", "type": "complete"}

        # The session lives on: the other subscription still streams, the lost one does not.
        tag = unique("after")
        await _emit_all(session_factory, dealer.user_id, tag)
        message = await ws.receive(timeout=10)
        assert message["id"] == "notes" and message["payload"]["data"]["notifications"]["kind"] == tag, message
        with pytest.raises(TimeoutError):
            extra = await ws.receive(timeout=1)
            pytest.fail(f"streamed after the role went: {extra}")
        # And subscribing again is refused.
        await ws.subscribe(SUBSCRIPTIONS["exposureUpdated"], op_id="again")
        message = await ws.receive(timeout=5)
        assert message["type"] == "error" and message["payload"][0]["extensions"]["code"] == "FORBIDDEN", message


EXCHANGE = """mutation($i: ExchangeInput!) { exchange(input: $i) { exchange { bought } errors { code } } }"""


async def _funded_client(http: httpx.AsyncClient, session_factory: Any) -> tuple[dict[str, Any], int]:
    client = await register(GraphQLClient(http))
    uid = int(client["viewer"]["id"])
    actor = Actor(ActorKind.CLIENT, user_id=uid)
    await in_transaction(session_factory, lambda s: wallets.deposit_to_wallet(
        s, actor, user_id=uid, currency="USD", amount=Decimal("100"), idempotency_key=unique("dep")))
    return client, uid


async def _exchange_refused(ws: Subscription, op_id: str, code: str) -> None:
    """The mutation is refused with `code` and the socket closes with 4401 (or is already closed)."""
    try:
        await ws.send({"id": op_id, "type": "subscribe", "payload": {"query": EXCHANGE, "variables": {"i": {
            "quoteId": str(uuid.uuid4()), "idempotencyKey": unique("x")}}}})
    except LocalProtocolError:  # the server closed it already
        assert (await ws.closed()).code == 4401
        return
    try:
        message = await ws.receive(timeout=10)
    except WebSocketDisconnect as closed:
        assert closed.code == 4401, (closed.code, closed.reason)
        return
    assert message == {"id": op_id, "type": "error", "payload": [
        {"message": message["payload"][0]["message"], "extensions": {"code": code}}]}, message
    assert (await ws.closed()).code == 4401


async def test_no_money_moves_over_a_socket_after_logout_everywhere(
    http: httpx.AsyncClient, session_factory: Any, live_server: Any,
) -> None:
    client, uid = await _funded_client(http, session_factory)
    quote = await new_quote(session_factory, uid)
    async with graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {client['accessToken']}"}) as ws:
        await ws.send({"id": "ok", "type": "subscribe", "payload": {"query": EXCHANGE, "variables": {"i": {
            "quoteId": quote, "idempotencyKey": unique("x")}}}})
        done = await ws.receive(timeout=10)
        assert done["payload"]["data"]["exchange"]["errors"] == [], done  # the path works while signed in
        assert (await ws.receive(timeout=5))["type"] == "complete"

        other = await login(GraphQLClient(http), client["email"])
        body = await GraphQLClient(http, other["accessToken"])("mutation { logoutEverywhere { ok } }")
        assert body["data"]["logoutEverywhere"]["ok"] is True
        before = await snapshot(session_factory)  # ledger, idempotency keys, outbox, audit
        await _exchange_refused(ws, "after", "SESSION_ENDED")
    assert await snapshot(session_factory) == before


async def test_each_operation_is_checked_even_when_no_change_is_heard(
    session_factory: Any, settings: Any,
) -> None:
    """With the principal cache off nothing tells the socket that its session ended; the next
    operation still finds out, is refused with SESSION_ENDED, and the socket closes."""
    uncached = settings.model_copy(update={"principal_cache_ttl_s": 0})
    async with serve(uncached) as server, httpx.AsyncClient(base_url=server.base_url, timeout=10) as plain:
        client, _uid = await _funded_client(plain, session_factory)
        async with graphql_ws(server.ws_url, payload={"authorization": f"Bearer {client['accessToken']}"}) as ws:
            body = await GraphQLClient(plain, client["accessToken"])("mutation { logoutEverywhere { ok } }")
            assert body["data"]["logoutEverywhere"]["ok"] is True
            before = await snapshot(session_factory)
            await ws.send({"id": "late", "type": "subscribe", "payload": {"query": EXCHANGE, "variables": {"i": {
                "quoteId": str(uuid.uuid4()), "idempotencyKey": unique("x")}}}})
            message = await ws.receive(timeout=10)
            assert message["type"] == "error" and message["id"] == "late", message
            assert message["payload"][0]["extensions"] == {"code": "SESSION_ENDED"}, message
            assert (await ws.closed()).code == 4401
    assert await snapshot(session_factory) == before


async def test_no_money_moves_over_a_socket_after_its_token_expired(
    http: httpx.AsyncClient, session_factory: Any, settings: Any,
) -> None:
    short = settings.model_copy(update={"access_token_ttl_s": 8})
    async with serve(short) as server, httpx.AsyncClient(base_url=server.base_url, timeout=10) as plain:
        client, _uid = await _funded_client(plain, session_factory)
        # A fresh token for the socket: registering and funding can outlast a short lifetime on a loaded machine.
        issued = time.time()
        token = (await login(GraphQLClient(plain), client["email"]))["accessToken"]
        before = await snapshot(session_factory)
        async with graphql_ws(server.ws_url, payload={"authorization": f"Bearer {token}"}) as ws:
            await asyncio.sleep(max(0.0, issued + 8.5 - time.time()))
            await _exchange_refused(ws, "late", "TOKEN_EXPIRED")
    assert await snapshot(session_factory) == before


@pytest.mark.parametrize("credential", ["Bearer garbage", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "Bearer fxc_nope",
                                        "Bearer revoked"])
async def test_a_credential_that_stands_for_nobody_closes_the_socket(
    http: httpx.AsyncClient, live_server: Any, credential: str,
) -> None:
    if credential == "Bearer revoked":
        client = await register(GraphQLClient(http))
        await GraphQLClient(http, client["accessToken"])("mutation { logout { ok } }")
        credential = f"Bearer {client['accessToken']}"
    async with graphql_ws(live_server.ws_url, payload={"authorization": credential}, ack=False) as ws:
        closed = await ws.closed()
    assert closed.code == 4401, (closed.code, closed.reason)


async def test_no_credential_is_anonymous_for_public_subscriptions_only(
    live_server: Any, relay: Any, session_factory: Any,
) -> None:
    async with graphql_ws(live_server.ws_url) as ws:
        await ws.subscribe(SUBSCRIPTIONS["heartbeat"], op_id="beat")
        await asyncio.sleep(0.5)
        await in_transaction(session_factory, lambda s: emit(s, HEARTBEAT_TOPIC, {"at": datetime.now(UTC).isoformat()}))
        assert (await ws.receive(timeout=10))["type"] == "next"
        await ws.subscribe(SUBSCRIPTIONS["walletUpdated"], op_id="wallet")
        while (message := await ws.receive(timeout=10))["id"] != "wallet":
            pass
        assert message["type"] == "error" and message["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_legacy_protocol_is_not_offered(live_server: Any) -> None:
    """subscriptions-transport-ws would run operations without the session checks."""
    async with graphql_ws(live_server.ws_url, subprotocol="graphql-ws", ack=False) as ws:
        closed = await ws.closed()
    assert closed.code == 4406, (closed.code, closed.reason)
