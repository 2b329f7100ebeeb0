"""Cross-tenant cases for outbound webhooks (imported by cases.py): endpoints, their log and replays are for
staff holding webhooks.manage only."""

from __future__ import annotations

from sqlalchemy import text

from tests.tenancy.cases import Env, Probe, case


async def _endpoint(env: Env) -> int:
    async with env.session_factory() as s, s.begin():
        return int(await s.scalar(text(  # disabled: nothing is sent to it
            "INSERT INTO webhook_endpoints (url, description, event_types, secret_sealed, enabled) VALUES "
            "('https://example.com/secret-hook-path', 'secret-hook-description', '{client.approved}', 'sealed', false) "
            "RETURNING id")))


@case("Query.webhookDeliveryAttempts")
async def delivery_attempts(env: Env) -> Probe:
    endpoint = await _endpoint(env)
    return Probe("query($e: ID!) { webhookDeliveryAttempts(endpointId: $e, first: 5) { edges { node { messageId } } } }",
                 {"e": str(endpoint)})


@case("Mutation.setWebhookEndpointEnabled")
async def set_enabled(env: Env) -> Probe:
    endpoint = await _endpoint(env)
    return Probe("mutation($e: ID!) { setWebhookEndpointEnabled(endpointId: $e, enabled: false) { endpoint { url "
                 "description } errors { code } } }", {"e": str(endpoint)},
                 secrets=["secret-hook-path", "secret-hook-description"])


@case("Mutation.rotateWebhookSecret")
async def rotate(env: Env) -> Probe:
    endpoint = await _endpoint(env)
    return Probe("mutation($e: ID!) { rotateWebhookSecret(endpointId: $e) { secret endpoint { url } errors { code } } }",
                 {"e": str(endpoint)}, secrets=["whsec_", "secret-hook-path"])


@case("Mutation.replayWebhookMessage")
async def replay(env: Env) -> Probe:
    endpoint = await _endpoint(env)
    return Probe("mutation($e: ID!) { replayWebhookMessage(endpointId: $e, messageId: \"msg_1\") { queued "
                 "errors { code } } }", {"e": str(endpoint)})
