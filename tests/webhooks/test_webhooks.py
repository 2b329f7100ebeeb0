"""Webhook endpoints: the Standard Webhooks signature against the spec's published test vector, the SSRF guard
(registration and connect time), deny-by-default permissions, and bad input refused with typed errors that change
nothing."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from domain.identity import api_tokens
from domain.shared.actor import Actor, ActorKind
from domain.shared.settings import Mode, Settings
from domain.webhooks import service
from domain.webhooks.errors import WebhookUrlRefused
from domain.webhooks.guard import check_url, guarded_client
from domain.webhooks.signing import headers, sign, verify
from tests.conftest import GraphQLClient
from tests.identity.helpers import count, register
from tests.identity.staff import make_staff
from tests.webhooks.receiver import receiver

REGISTER = """mutation($i: RegisterWebhookEndpointInput!) { registerWebhookEndpoint(input: $i) {
  endpoint { id } secret errors { field code } } }"""
REPLAY = """mutation($e: ID!, $m: String!) { replayWebhookMessage(endpointId: $e, messageId: $m) { queued errors { field code } } }"""
ENABLE = """mutation($e: ID!) { setWebhookEndpointEnabled(endpointId: $e, enabled: false) { endpoint { enabled } errors { code } } }"""
ROTATE = """mutation($e: ID!) { rotateWebhookSecret(endpointId: $e) { secret errors { code } } }"""
LIST = "{ webhookEndpoints(first: 5) { edges { node { id url } } } webhookEventTypes { name } }"
PRIVATE_URLS = ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.1.2.3/hook", "http://192.168.0.10/",
                "http://172.16.5.4/", "http://169.254.169.254/latest/meta-data", "http://[::1]/hook",
                "http://0.0.0.0/", "http://224.0.0.1/", "http://100.64.0.1/", "http://[::ffff:127.0.0.1]/"]


def test_signatures_match_the_standard_webhooks_test_vector() -> None:
    # The specification's published example (standard-webhooks spec and its reference libraries).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id, timestamp, body = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    assert sign(secret, msg_id, timestamp, body) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    sent = headers([secret, "whsec_" + "B" * 44], msg_id, timestamp, body)
    assert sent["webhook-signature"].split(" ")[0] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert verify(secret, msg_id, timestamp, body, sent["webhook-signature"])
    assert not verify(secret, msg_id, timestamp + 1, body, sent["webhook-signature"])


def _production(settings: Settings) -> Settings:
    # Production mode: even with the loopback allowance set (which production refuses to start with) the guard holds.
    return settings.model_copy(update={"mode": Mode.PRODUCTION, "webhook_allow_private_networks": True})


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_a_private_address_is_refused_at_registration_in_production_and_nothing_is_stored(
        url: str, session_factory: Any, settings: Settings) -> None:
    actor = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"webhooks.manage"}))
    before = (await count(session_factory, "webhook_endpoints"),
              await count(session_factory, "audit_events", "action = 'webhook_endpoint.registered'"))
    async with session_factory() as s, s.begin():
        with pytest.raises(WebhookUrlRefused) as refused:
            await service.register(s, _production(settings), actor, url=url, event_types=["client.approved"])
    assert (refused.value.code, refused.value.field) == ("WEBHOOK_URL_REFUSED", "url")
    assert (await count(session_factory, "webhook_endpoints"),
            await count(session_factory, "audit_events", "action = 'webhook_endpoint.registered'")) == before


async def test_the_guard_holds_at_connect_time_too(settings: Settings) -> None:
    """A URL that passed registration and later resolves into the private network is refused when connecting."""
    async with receiver() as found:
        async with guarded_client(_production(settings)) as client:
            with pytest.raises(httpx.ConnectError, match="SSRF guard"):
                await client.post(f"{found.base_url}/x", content=b"{}")
        allowed = settings.model_copy(update={"webhook_allow_private_networks": True})
        async with guarded_client(allowed) as client:
            assert (await client.post(f"{found.base_url}/x", content=b"{}")).status_code == 200
    assert found.at("/x") and len(found.at("/x")) == 1


async def test_a_developers_refusal_names_the_setting_and_productions_does_not(settings: Settings) -> None:
    development = settings.model_copy(update={"mode": Mode.DEVELOPMENT, "webhook_allow_private_networks": False})
    with pytest.raises(WebhookUrlRefused) as dev:
        await check_url(development, "http://127.0.0.1:9/hook")
    assert "FOREXCRM_WEBHOOK_ALLOW_PRIVATE_NETWORKS" in dev.value.message
    production = settings.model_copy(update={"mode": Mode.PRODUCTION, "webhook_allow_private_networks": False})
    with pytest.raises(WebhookUrlRefused) as prod:
        await check_url(production, "http://127.0.0.1:9/hook")
    assert "non-public" in prod.value.message and "FOREXCRM_" not in prod.value.message


async def test_registration_through_the_api_refuses_private_addresses_by_default(
        http: httpx.AsyncClient, session_factory: Any, settings: Settings) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    before = await count(session_factory, "webhook_endpoints")
    for url in ("http://127.0.0.1:9/x", "http://169.254.169.254/", "ftp://example.com/", "http://user:pw@example.com/",
                "not a url"):
        refused = await admin.client(REGISTER, {"i": {"url": url, "eventTypes": ["client.approved"]}})
        assert refused["data"]["registerWebhookEndpoint"] == {
            "endpoint": None, "secret": None, "errors": [{"field": "url", "code": "WEBHOOK_URL_REFUSED"}]}, url
    assert await count(session_factory, "webhook_endpoints") == before


async def test_bad_input_gets_typed_errors_and_changes_nothing(
        http: httpx.AsyncClient, session_factory: Any, settings: Settings) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    before = (await count(session_factory, "webhook_endpoints"), await count(session_factory, "webhook_deliveries"),
              await count(session_factory, "audit_events", "entity_type = 'webhook_endpoint'"),
              await count(session_factory, "outbox", "topic = 'webhook.kick'"))
    cases = [
        ({"url": "https://example.com/h", "eventTypes": ["payment.stolen"]}, "eventTypes", "UNKNOWN_EVENT_TYPE"),
        ({"url": "https://example.com/h", "eventTypes": []}, "eventTypes", "VALIDATION_FAILED"),
        ({"url": "https://example.com/h", "eventTypes": ["client.approved"], "description": "d" * 501},
         "description", "VALIDATION_FAILED"),
        ({"url": "https://" + "a" * 2000 + ".com/", "eventTypes": ["client.approved"]}, "url", "WEBHOOK_URL_REFUSED"),
    ]
    for given, field, code in cases:
        refused = (await admin.client(REGISTER, {"i": given}))["data"]["registerWebhookEndpoint"]
        assert refused == {"endpoint": None, "secret": None, "errors": [{"field": field, "code": code}]}, given
    missing = "V2ViaG9va0VuZHBvaW50Ojk5OTk5OTk5OTk5"  # WebhookEndpoint:99999999999
    assert (await admin.client(ENABLE, {"e": missing}))["data"]["setWebhookEndpointEnabled"]["errors"] == [
        {"code": "NOT_FOUND"}]
    assert (await admin.client(ROTATE, {"e": missing}))["data"]["rotateWebhookSecret"] == {
        "secret": None, "errors": [{"code": "NOT_FOUND"}]}
    assert (await admin.client(ROTATE, {"e": "garbage!"}))["data"]["rotateWebhookSecret"]["errors"] == [
        {"code": "INVALID_ID"}]
    assert (await admin.client(REPLAY, {"e": missing, "m": "msg_1"}))["data"]["replayWebhookMessage"] == {
        "queued": False, "errors": [{"field": "endpointId", "code": "NOT_FOUND"}]}
    assert (await admin.client(REPLAY, {"e": missing, "m": "msg_x"}))["data"]["replayWebhookMessage"] == {
        "queued": False, "errors": [{"field": "messageId", "code": "VALIDATION_FAILED"}]}
    assert (await count(session_factory, "webhook_endpoints"), await count(session_factory, "webhook_deliveries"),
            await count(session_factory, "audit_events", "entity_type = 'webhook_endpoint'"),
            await count(session_factory, "outbox", "topic = 'webhook.kick'")) == before


async def test_webhooks_are_closed_to_clients_staff_without_the_permission_and_tokens_without_the_scope(
        http: httpx.AsyncClient, session_factory: Any, settings: Settings) -> None:
    before = await count(session_factory, "webhook_endpoints")
    made = {"i": {"url": "https://example.com/hook", "eventTypes": ["client.approved"]}}
    client = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    support = await make_staff(http, session_factory, settings, ["support"])
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    actor = Actor(ActorKind.STAFF, user_id=admin.user_id, permissions=frozenset({"clients.read", "webhooks.manage"}),
                  stepped_up_at=time.time())
    async with session_factory() as s, s.begin():
        token = (await api_tokens.create(s, settings, actor, name="no-webhooks", scopes=["clients.read"],
                                         expires_in_days=1)).plaintext
    tokened = GraphQLClient(http, token)
    for who, code in ((GraphQLClient(http), "UNAUTHENTICATED"), (client, "FORBIDDEN"), (support.client, "FORBIDDEN"),
                      (tokened, "INSUFFICIENT_SCOPE")):
        refused = await who(REGISTER, made)
        assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == code
        listed = await who(LIST)
        assert listed["data"] is None and listed["errors"][0]["extensions"]["code"] == code
    assert await count(session_factory, "webhook_endpoints") == before
