"""Submission for compliance review and the decision: approve, reject, or request more information
(which reopens the onboarding steps). The submitter cannot decide; a high-risk client needs two
different approvers (four eyes); unresolved screening hits block approval."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients import documents, questionnaire
from domain.clients.emails import email_client
from domain.clients.errors import ScreeningBlocked, SecondApproverRequired, StepIncomplete, SubmitterCannotApprove
from domain.clients.models import Client, Decision, Jurisdiction
from domain.clients.status import Status, require_status, transition
from domain.compliance.screening import has_pending_hits, screen_client
from domain.events.outbox import emit
from domain.identity import four_eyes
from domain.identity.models import User
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page, PageRequest, select_page
from domain.webhooks import catalogue as webhooks

APPROVED_TOPIC = "client.approved"


class Verdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_INFO = "request_info"


async def risk_level(session: AsyncSession, client: Client) -> str:
    """AML risk: high for screening hits under review or a high-risk country; medium when the
    questionnaire found the client inexperienced; low otherwise."""
    jurisdiction = await session.get(Jurisdiction, client.country) if client.country else None
    if await has_pending_hits(session, client.id) or (jurisdiction is not None and jurisdiction.high_risk):
        return "high"
    return "medium" if client.risk_category == "high" else "low"


async def submit(session: AsyncSession, actor: Actor, client: Client) -> Client:
    require_status(client, {Status.DOCUMENTS_SUBMITTED, Status.MORE_INFO_REQUIRED}, "submit for review")
    if client.country is None:
        raise StepIncomplete("complete your profile first", field="profile")
    if not await documents.has_required(session, client):
        raise StepIncomplete("upload the required documents first", field="documents")
    if await questionnaire.latest(session, client.id) is None:
        raise StepIncomplete("answer the appropriateness questionnaire first", field="questionnaire")
    await screen_client(session, actor, client)
    client.risk_level = await risk_level(session, client)
    client.review_round += 1
    client.submitted_by = actor.user_id
    await transition(session, actor, client, Status.UNDER_REVIEW,
                     reason=f"submitted for review (round {client.review_round}, risk {client.risk_level})")
    return client


async def decide(session: AsyncSession, actor: Actor, client: Client, verdict: Verdict, reason: str) -> Client:
    """Returns the client; an approval of a high-risk client waits for a second approver."""
    require_status(client, {Status.UNDER_REVIEW}, "decide")
    if actor.user_id in (client.submitted_by, client.user_id):
        raise SubmitterCannotApprove("whoever submitted a client for review cannot decide on it", field="clientId")
    if verdict is not Verdict.APPROVE and not reason.strip():
        raise ValidationFailed("say why", field="reason")
    if verdict is Verdict.APPROVE and await has_pending_hits(session, client.id):
        raise ScreeningBlocked("resolve the screening hits first", field="clientId")
    assert actor.user_id is not None
    if verdict is Verdict.APPROVE:
        # The second approval of a high-risk client is a second pair of eyes only from someone the
        # first approver did not create or grant roles to (and the reverse).
        earlier = list(await session.scalars(select(Decision.decided_by).where(
            Decision.client_id == client.id, Decision.review_round == client.review_round,
            Decision.decision == "approve")))
        await four_eyes.require_independent(session, actor.user_id, [client.submitted_by, *earlier],
                                            field="clientId")
    inserted = await session.scalar(
        insert(Decision).values(client_id=client.id, review_round=client.review_round, decision=verdict.value,
                                decided_by=actor.user_id, reason=reason.strip()[:2000])
        .on_conflict_do_nothing(constraint="uq_client_decisions_approver").returning(Decision.id))
    if inserted is None:
        raise SecondApproverRequired("you already decided in this review; a different approver must",
                                     field="clientId")
    await record(session, actor, action="client.decision", entity_type="client", entity_id=client.id,
                 after={"decision": verdict.value, "round": client.review_round}, reason=reason or None,
                 category="general")
    user = await session.get(User, client.user_id)
    assert user is not None
    if verdict is Verdict.APPROVE:
        approvals = int(await session.scalar(select(func.count()).select_from(Decision).where(
            Decision.client_id == client.id, Decision.review_round == client.review_round,
            Decision.decision == "approve")) or 0)
        needed = 2 if client.risk_level == "high" else 1
        if approvals < needed:
            return client
        await transition(session, actor, client, Status.APPROVED, reason=reason or "approved")
        await emit(session, APPROVED_TOPIC, {"client_id": client.id}, job="open_initial_account")
        await webhooks.publish(session, "client.approved", {"client_id": client.id, "user_id": client.user_id})
        await email_client(session, client, to=user.email, subject="Your account is approved",
                           body="Your application is approved. Your live trading account is being opened.")
    elif verdict is Verdict.REJECT:
        await transition(session, actor, client, Status.REJECTED, reason=reason)
        await email_client(session, client, to=user.email, subject="Your application",
                           body="We are unable to open an account for you.")
    else:
        await transition(session, actor, client, Status.MORE_INFO_REQUIRED, reason=reason)
        await email_client(session, client, to=user.email, subject="We need more information",
                           body=f"Please update your application: {reason.strip()}")
    return client


async def review_queue(session: AsyncSession, page: PageRequest) -> Page[Client]:
    """Clients waiting for a compliance decision, oldest first (ix_clients_status)."""
    return await select_page(session, page, select(Client).where(Client.status == Status.UNDER_REVIEW.value),
                             (Client.created_at, Client.id), descending=False, convert=lambda row: row)
