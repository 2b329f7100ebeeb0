"""`POST /webhooks/kyc` (and `/webhooks/<adapter>`, e.g. /webhooks/sumsub): the KYC provider's webhooks.

The configured adapter verifies the delivery before anything is written (Sumsub: X-Payload-Digest
over the raw body, every configured secret accepted during rotation) and reads it; the delivery is
deduplicated in the same transaction that applies it, so a redelivery is acknowledged and changes
nothing. A completed review (applicantReviewed) applies its verdict through kyc.apply_verdict, in
provider time order; other types (applicantCreated, applicantPending, ...) are acknowledged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients import kyc
from domain.clients.kyc_port import KycEvent, adapter, kyc_settings
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.settings import ConfigurationError
from domain.shared.webhooks import WebhookHandler, WebhookRequest, first_delivery

ACTOR = system_actor("kyc-webhook")


async def _process(session: AsyncSession, provider: str, event: KycEvent) -> tuple[int, dict[str, Any]]:
    if not await first_delivery(session, provider, event.event_id, event.payload):
        return 200, {"status": "duplicate"}
    if event.verdict is None:
        return 200, {"status": "ignored"}
    applicant = await kyc.applicant_for(session, provider, event.applicant_id)
    if applicant is None:
        return 200, {"status": "unknown_applicant"}
    outcome = await kyc.apply_verdict(session, ACTOR, applicant, event.verdict, event_id=event.event_id)
    return 200, {"status": outcome}


async def handle_kyc(services: Any, request: WebhookRequest) -> tuple[int, dict[str, Any]]:
    settings = kyc_settings(services.settings)
    if request.provider not in ("kyc", settings.provider):
        raise ConfigurationError(f"{request.provider} is not the configured KYC provider")
    if not settings.secrets:  # answered as an unconfigured provider (404), not as a bad signature
        raise ConfigurationError("FOREXCRM_KYC_WEBHOOK_SECRETS is not set")
    provider = adapter(settings)
    try:
        event = provider.verify_webhook(request.headers, request.body)
    finally:
        await provider.aclose()

    async def txn(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        return await _process(session, provider.name, event)

    return await in_transaction(services.session_factory, txn)


def _handlers() -> dict[str, WebhookHandler]:
    from domain.clients.kyc_port import adapters

    return {"kyc": handle_kyc, **{name: handle_kyc for name in adapters()}}


WEBHOOK_HANDLERS: dict[str, WebhookHandler] = _handlers()
