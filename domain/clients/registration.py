"""Client registration and email verification by a signed, expiring, single-use link.

The link carries a random token; only its SHA-256 is stored (identity's one_time_tokens), and
consuming it is one UPDATE ... WHERE unused AND unexpired, so a replay or an expired link fails.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients.emails import check_email, email_client
from domain.clients.errors import DuplicateRegistration
from domain.clients.leads import Attribution
from domain.clients.models import Client, Lead, LeadTouch
from domain.clients.status import Status, start, transition
from domain.identity.errors import EmailTaken, TokenInvalid
from domain.identity.models import OneTimeToken, User
from domain.identity.passwords import check_policy
from domain.identity.secrets import new_token, token_hash
from domain.identity.sessions import create_user
from domain.shared.actor import Actor, ActorKind
from domain.shared.errors import FieldErrors
from domain.shared.settings import Settings

VERIFY_PURPOSE = "client_email_verify"
VERIFY_TTL = timedelta(hours=48)


async def register_client(session: AsyncSession, settings: Settings, actor: Actor, *, email: str, password: str,
                          display_name: str, kind: str = "individual",
                          attribution: Attribution | None = None) -> Client:
    """A client user and record (status registered), converting a lead with the same email."""
    form = FieldErrors()  # a bad email and a weak password are reported together
    cleaned = form.take(lambda: check_email(email))
    form.take(lambda: check_policy(password, settings, email=cleaned[0] if cleaned else None))
    form.raise_if_any()
    if kind not in ("individual", "corporate"):
        kind = "individual"
    try:
        user = await create_user(session, settings, actor, email=email, password=password,
                                 display_name=display_name, is_client=True)
    except EmailTaken as exc:
        raise DuplicateRegistration("an account with this email already exists", field="email") from exc
    touch = (attribution or Attribution()).as_json()
    lead = await session.scalar(select(Lead).where(Lead.email_normalized == user.email_normalized).with_for_update())
    client = Client(user_id=user.id, status=Status.REGISTERED.value, kind=kind, attribution=touch,
                    profile={}, blocked_products=[])
    if lead is not None:
        client.lead_id, client.desk, client.attribution = lead.id, lead.desk, lead.first_touch
        client.first_name, client.last_name = lead.first_name, lead.last_name
        if touch:
            session.add(LeadTouch(lead_id=lead.id, attribution=touch))
    session.add(client)
    await session.flush()
    if lead is not None:
        lead.client_id = client.id
    as_client = Actor(ActorKind.CLIENT, user_id=user.id, ip=actor.ip, user_agent=actor.user_agent,
                      correlation_id=actor.correlation_id)
    await start(session, as_client, client, "registered" + (" from lead" if lead else ""))
    await _attribute_to_ib(session, as_client, user.id, str((client.attribution or {}).get("ib_code", "")))
    await send_verification(session, settings, client, user)
    return client


async def _attribute_to_ib(session: AsyncSession, actor: Actor, user_id: int, code: str) -> None:
    """First touch wins: the IB whose referral code brought the client is attributed and locked.

    An unknown or disabled code does not block registration; the code stays in the attribution."""
    from domain.ib.attribution import attribute_at_registration
    from domain.shared.errors import DomainError

    if not code.strip():
        return
    try:
        async with session.begin_nested():
            await attribute_at_registration(session, actor, user_id, code)
    except DomainError:
        return


async def send_verification(session: AsyncSession, settings: Settings, client: Client, user: User) -> None:
    token = new_token()
    session.add(OneTimeToken(user_id=user.id, purpose=VERIFY_PURPOSE, token_hash=token_hash(token), payload={},
                             expires_at=datetime.now(UTC) + VERIFY_TTL))
    link = settings.portal_link("verify-email", token)
    body = f"Welcome! Confirm your email address within 48 hours:\n\n{link}\n"
    await email_client(session, client, to=user.email, subject="Confirm your email address", body=body,
                       record_body="Email verification link sent.")


async def verify_email(session: AsyncSession, actor: Actor, token: str) -> Client:
    user_id = await session.scalar(text(
        "UPDATE one_time_tokens SET used_at = now() WHERE token_hash = :h AND purpose = :p "
        "AND used_at IS NULL AND expires_at > now() RETURNING user_id"), {"h": token_hash(token), "p": VERIFY_PURPOSE})
    if user_id is None:
        raise TokenInvalid("this link is invalid, expired or already used", field="token")
    user = await session.get(User, user_id, with_for_update=True)
    client = await session.scalar(select(Client).where(Client.user_id == user_id).with_for_update())
    assert user is not None and client is not None
    user.email_verified_at = datetime.now(UTC)
    as_client = Actor(ActorKind.CLIENT, user_id=user.id, ip=actor.ip, user_agent=actor.user_agent,
                      correlation_id=actor.correlation_id)
    await transition(session, as_client, client, Status.EMAIL_VERIFIED, reason="email verified by link")
    return client
