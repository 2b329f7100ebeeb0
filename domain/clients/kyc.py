"""KYC through an external provider: the client starts a verification (we create the provider's
applicant once per client and hand its SDK a short-lived token); the provider's verdict arrives by
webhook (webhooks.py) and is applied here.

Verdicts are applied in provider time order: one older than the verdict on file changes nothing,
so out-of-order deliveries settle on the newest. Manual review (documents.review, review.decide)
stays available whatever the provider says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients import documents, questionnaire, review
from domain.clients.access import own_client
from domain.clients.emails import email_client
from domain.clients.kyc_port import FINAL, GREEN, Applicant, ApplicantData, KycProvider, ProviderVerdict, provider_for
from domain.clients.models import Client, Document, KycApplicant
from domain.clients.status import Status, can, require_status, transition
from domain.identity.models import User
from domain.shared.actor import Actor
from domain.shared.db import SessionFactory, in_transaction, utcnow

# The provider needs the client's name and country, so the profile comes first.
KYC_STATES = frozenset({Status.PROFILE_COMPLETE, Status.DOCUMENTS_SUBMITTED, Status.MORE_INFO_REQUIRED})
ProviderFactory = Callable[[], KycProvider]


def default_provider() -> KycProvider:
    """The adapter FOREXCRM_KYC_PROVIDER names (KycNotConfigured when it cannot be called)."""
    return provider_for()


def external_id(client_id: int) -> str:
    return f"client-{client_id}"


@dataclass(frozen=True)
class Verification:
    provider: str
    applicant_id: str
    access_token: str


async def start_verification(factory: SessionFactory, actor: Actor, *,
                             providers: ProviderFactory = default_provider) -> Verification:
    """The client's applicant (created at the provider the first time) and an SDK access token.

    No transaction is open during provider calls; creating the applicant is idempotent at the
    provider by our external id, so a retry after a lost answer finds the same applicant."""

    async def load(session: AsyncSession) -> tuple[ApplicantData, KycApplicant | None]:
        client = await own_client(session, actor)
        require_status(client, KYC_STATES, "start identity verification")
        user = await session.get(User, client.user_id)
        assert user is not None
        existing = await session.get(KycApplicant, client.id)
        return ApplicantData(external_id(client.id), user.email, client.first_name, client.last_name,
                             client.country), existing

    data, existing = await in_transaction(factory, load)
    provider = providers()
    try:
        if existing is not None:
            applicant = Applicant(existing.applicant_id, data.external_id)
        else:
            applicant = await provider.create_applicant(data)
            await in_transaction(factory, lambda s: _store_applicant(s, actor, provider.name, data, applicant))
        token = await provider.access_token(applicant)
        return Verification(provider.name, applicant.applicant_id, token)
    finally:
        await provider.aclose()


async def _store_applicant(session: AsyncSession, actor: Actor, provider: str, data: ApplicantData,
                           applicant: Applicant) -> None:
    client_id = int(data.external_id.removeprefix("client-"))
    inserted = await session.scalar(insert(KycApplicant).values(
        client_id=client_id, provider=provider, applicant_id=applicant.applicant_id)
        .on_conflict_do_nothing(index_elements=[KycApplicant.client_id]).returning(KycApplicant.client_id))
    if inserted is not None:
        await record(session, actor, action="kyc.applicant_created", entity_type="client", entity_id=client_id,
                     after={"provider": provider, "applicant_id": applicant.applicant_id}, category="general")


async def applicant_for(session: AsyncSession, provider: str, applicant_id: str) -> KycApplicant | None:
    return await session.scalar(select(KycApplicant).where(
        KycApplicant.provider == provider, KycApplicant.applicant_id == applicant_id).with_for_update())


async def apply_verdict(session: AsyncSession, actor: Actor, applicant: KycApplicant, verdict: ProviderVerdict,
                        *, event_id: str) -> str:
    """Applies a completed verdict unless a newer one is on file; returns what happened."""
    if verdict.verdict is None or verdict.at is None:
        return "pending"
    if applicant.verdict_at is not None and verdict.at <= applicant.verdict_at:
        return "stale"
    before = {"verdict": applicant.verdict, "reject_type": applicant.reject_type}
    applicant.verdict, applicant.reject_type = verdict.verdict, verdict.reject_type
    applicant.reason = verdict.reason or None
    applicant.verdict_at, applicant.event_id, applicant.updated_at = verdict.at, event_id[:200], utcnow()
    await record(session, actor, action="kyc.verdict_received", entity_type="client", entity_id=applicant.client_id,
                 before=before, after={"verdict": verdict.verdict, "reject_type": verdict.reject_type,
                                       "event_id": event_id}, reason=verdict.reason or None, category="general")
    client = await session.get(Client, applicant.client_id, with_for_update=True)
    assert client is not None
    if verdict.verdict == GREEN:
        await _accepted(session, actor, client, applicant.provider)
    else:
        await _refused(session, actor, client, verdict)
    return "applied"


async def _accepted(session: AsyncSession, actor: Actor, client: Client, provider: str) -> None:
    pending = await session.scalars(select(Document).where(Document.client_id == client.id,
                                                           Document.status == "pending").with_for_update())
    for doc in pending:
        await documents.review(session, actor, doc, accept=True, reason=f"verified by {provider}")
    if client.status == Status.PROFILE_COMPLETE.value:
        await transition(session, actor, client, Status.DOCUMENTS_SUBMITTED, reason=f"identity verified by {provider}")
    # Towards review: submitted for compliance once the questionnaire is answered too.
    if client.status in (Status.DOCUMENTS_SUBMITTED.value, Status.MORE_INFO_REQUIRED.value) \
            and await questionnaire.latest(session, client.id) is not None:
        await review.submit(session, actor, client)


async def _refused(session: AsyncSession, actor: Actor, client: Client, verdict: ProviderVerdict) -> None:
    reason = f"identity verification failed: {verdict.reason or 'rejected by the provider'}"
    target = Status.REJECTED if verdict.reject_type == FINAL else Status.MORE_INFO_REQUIRED
    if not can(client.status, target):
        return  # e.g. already approved or closed: the verdict is on file for staff to act on
    await transition(session, actor, client, target, reason=reason)
    user = await session.get(User, client.user_id)
    assert user is not None
    if target is Status.REJECTED:
        await email_client(session, client, to=user.email, subject="Your application",
                           body="We are unable to verify your identity and cannot open an account for you.")
    else:
        await email_client(session, client, to=user.email, subject="We need more information",
                           body=f"Please verify your identity again: {verdict.reason or 'see the verification'}.")


async def refresh_verdict(factory: SessionFactory, actor: Actor, client_id: int, *,
                          providers: ProviderFactory = default_provider) -> str:
    """Ask the provider for the verdict (a missed webhook); applied like a delivered one."""

    async def load(session: AsyncSession) -> KycApplicant | None:
        return await session.get(KycApplicant, client_id)

    found = await in_transaction(factory, load)
    if found is None:
        return "unknown"
    provider = providers()
    try:
        verdict = await provider.fetch_verdict(found.applicant_id)
    finally:
        await provider.aclose()

    async def txn(session: AsyncSession) -> str:
        applicant = await applicant_for(session, found.provider, found.applicant_id)
        if applicant is None:
            return "unknown"
        stamp = verdict.at.isoformat() if verdict.at else "pending"
        return await apply_verdict(session, actor, applicant, verdict, event_id=f"poll:{stamp}")

    return await in_transaction(factory, txn)


async def awaiting_verdict(session: AsyncSession, older_than_s: int = 900, limit: int = 200) -> list[int]:
    """Clients whose applicant has had no verdict for a while (the poll job's work)."""
    from datetime import timedelta

    return list(await session.scalars(select(KycApplicant.client_id).where(
        KycApplicant.verdict.is_(None), KycApplicant.created_at < utcnow() - timedelta(seconds=older_than_s))
        .order_by(KycApplicant.created_at).limit(limit)))
