"""`POST /webhooks/kyc`: the KYC provider's verdicts.

Verified before anything is written (HMAC over timestamp and raw body, every configured secret
during rotation, 300 s tolerance); deduplicated by provider event id in the same transaction that
applies the verdict. A byte-identical copy of a delivery already processed (same event, same signed
timestamp) is a replay and refused; a redelivery the provider signed anew is acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients import kyc
from domain.clients.kyc_http import verdict_from_review
from domain.clients.kyc_port import kyc_settings
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from domain.shared.settings import ConfigurationError
from domain.shared.webhooks import SIGNATURE_HEADER, WebhookHandler, WebhookRequest, first_delivery, verify_signature

REVIEWED = "applicantReviewed"
ACTOR = system_actor("kyc-webhook")


@dataclass(frozen=True)
class KycEvent:
    event_id: str
    type: str
    applicant_id: str
    payload: dict[str, Any]


def parse(body: bytes) -> KycEvent:
    try:
        payload = orjson.loads(body)
        event = KycEvent(str(payload["eventId"]), str(payload["type"]), str(payload.get("applicantId", "")), payload)
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise DomainError("not a KYC provider event", code="WEBHOOK_MALFORMED") from exc
    if not event.event_id or len(event.event_id) > 200:
        raise DomainError("the event id is missing or too long", code="WEBHOOK_MALFORMED")
    return event


def _replayed() -> tuple[int, dict[str, Any]]:
    return 401, {"errors": [{"message": "this delivery was already received",
                             "extensions": {"code": "WEBHOOK_REPLAYED"}}]}


async def _process(session: AsyncSession, provider: str, event: KycEvent, signed_at: int) -> tuple[int, dict[str, Any]]:
    if not await first_delivery(session, provider, event.event_id, {**event.payload, "_signed_at": signed_at}):
        seen = await session.scalar(text(
            "SELECT payload->>'_signed_at' FROM webhook_events WHERE provider = :p AND event_id = :e"),
            {"p": provider, "e": event.event_id})
        return _replayed() if seen == str(signed_at) else (200, {"status": "duplicate"})
    if event.type != REVIEWED:
        return 200, {"status": "ignored"}
    applicant = await kyc.applicant_for(session, provider, event.applicant_id)
    if applicant is None:
        return 200, {"status": "unknown_applicant"}
    created_ms = event.payload.get("createdAtMs")
    if not isinstance(created_ms, int):
        raise DomainError("a review event needs createdAtMs", code="WEBHOOK_MALFORMED")
    verdict = verdict_from_review(event.applicant_id, {
        "reviewStatus": event.payload.get("reviewStatus"), "reviewResult": event.payload.get("reviewResult"),
        "reviewDate": created_ms})
    outcome = await kyc.apply_verdict(session, ACTOR, applicant, verdict, event_id=event.event_id)
    return 200, {"status": outcome}


async def handle_kyc(services: Any, request: WebhookRequest) -> tuple[int, dict[str, Any]]:
    settings = kyc_settings()
    if not settings.secrets:  # answered as an unconfigured provider (404), not as a bad signature
        raise ConfigurationError("FOREXCRM_KYC_WEBHOOK_SECRETS is not set")
    signed_at = verify_signature(request.headers.get(SIGNATURE_HEADER), request.body, settings.secrets)
    event = parse(request.body)

    async def txn(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        return await _process(session, settings.provider, event, signed_at)

    return await in_transaction(services.session_factory, txn)


WEBHOOK_HANDLERS: dict[str, WebhookHandler] = {"kyc": handle_kyc}
