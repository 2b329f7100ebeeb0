"""Signed, expiring, single-use links: password reset and email change.

The link carries a random token; only its hash is stored. Requesting a reset answers the same way
whether or not the email has an account.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.events.outbox import emit
from domain.identity import api_tokens, ratelimit
from domain.identity.emails import normalise
from domain.identity.errors import EmailTaken, InvalidCredentials, TokenInvalid
from domain.identity.models import OneTimeToken, User
from domain.identity.passwords import check_policy, hash_password, verify_password
from domain.identity.secrets import new_token, token_hash
from domain.identity.sessions import notify, revoke_all_sessions
from domain.identity.totp import require_step_up
from domain.shared.actor import Actor
from domain.shared.errors import DomainError, NotFound
from domain.shared.settings import Settings

EMAIL_TOPIC = "email.send"
RESET_TTL = timedelta(minutes=30)
EMAIL_CHANGE_TTL = timedelta(hours=24)


async def send_email(session: AsyncSession, *, to: str, subject: str, body: str, user_id: int | None) -> None:
    """Queued through the outbox; the worker delivers it (SMTP, or the log sink in development)."""
    await emit(session, EMAIL_TOPIC, {"to": to, "subject": subject, "body": body, "user_id": user_id},
               job="send_email")


async def _issue(session: AsyncSession, user_id: int, purpose: str, ttl: timedelta,
                 payload: dict[str, Any] | None = None) -> str:
    token = new_token()
    session.add(OneTimeToken(user_id=user_id, purpose=purpose, token_hash=token_hash(token), payload=payload or {},
                             expires_at=datetime.now(UTC) + ttl))
    await session.flush()
    return token


async def _consume(session: AsyncSession, token: str, purpose: str) -> OneTimeToken:
    """Marks the token used; fails for unknown, expired or already used tokens alike."""
    row_id = await session.scalar(text(
        "UPDATE one_time_tokens SET used_at = now() WHERE token_hash = :h AND purpose = :p "
        "AND used_at IS NULL AND expires_at > now() RETURNING id"
    ), {"h": token_hash(token), "p": purpose})
    if row_id is None:
        raise TokenInvalid("this link is invalid, expired or already used", field="token")
    row = await session.get(OneTimeToken, row_id)
    assert row is not None
    return row


async def request_password_reset(session: AsyncSession, settings: Settings, redis: Redis, actor: Actor,
                                 email: str) -> None:
    now = int(time.time())
    try:
        _, key = normalise(email)
    except DomainError:
        return  # same answer as for an unknown address
    await ratelimit.hit(redis, settings.redis_namespace, "reset:account", key, limit=5,
                        window_s=settings.rate_limit_window_s, now_s=now)
    await ratelimit.hit(redis, settings.redis_namespace, "reset:ip", actor.ip or "-",
                        limit=settings.login_attempts_per_ip, window_s=settings.rate_limit_window_s, now_s=now)
    user = await session.scalar(select(User).where(User.email_normalized == key))
    if user is None or user.status != "active":
        return
    token = await _issue(session, user.id, "password_reset", RESET_TTL)
    link = settings.portal_link("reset-password", token)
    await send_email(session, to=user.email, subject="Reset your password", user_id=user.id,
                     body=f"Use this link within 30 minutes to choose a new password:\n{link}\n\n"
                          "If you did not ask for this, ignore this email.")
    await record(session, actor, action="auth.password_reset_requested", entity_type="user", entity_id=user.id,
                 category="auth")


async def reset_password(session: AsyncSession, settings: Settings, actor: Actor, token: str, new_password: str) -> int:
    row = await _consume(session, token, "password_reset")
    user = await session.get(User, row.user_id)
    assert user is not None
    check_policy(new_password, settings, email=user.email)
    user.password_hash = await hash_password(new_password, settings)
    user.password_changed_at = datetime.now(UTC)
    await revoke_all_sessions(session, actor, user.id, reason="password_reset")
    await api_tokens.revoke_all(session, actor, user.id, reason="password_reset")
    await record(session, actor, action="auth.password_reset", entity_type="user", entity_id=user.id,
                 after={"password": "changed"}, category="auth")
    await notify(session, user.id, "security.password_changed", "Your password was reset.")
    return user.id


async def change_password(session: AsyncSession, settings: Settings, actor: Actor, current: str, new: str) -> None:
    await require_step_up(session, actor, settings)
    user = await session.scalar(select(User).where(User.id == actor.user_id).with_for_update())
    if user is None:
        raise NotFound("no such user")
    ok, _ = await verify_password(user.password_hash, current, settings)
    if not ok:
        raise InvalidCredentials("the current password is wrong", field="currentPassword")
    check_policy(new, settings, email=user.email)
    user.password_hash = await hash_password(new, settings)
    user.password_changed_at = datetime.now(UTC)
    await record(session, actor, action="auth.password_changed", entity_type="user", entity_id=user.id,
                 after={"password": "changed"}, category="auth")
    await notify(session, user.id, "security.password_changed", "Your password was changed.")


async def request_email_change(session: AsyncSession, settings: Settings, actor: Actor, new_email: str) -> None:
    await require_step_up(session, actor, settings)
    cleaned, key = normalise(new_email, field="newEmail")
    if await session.scalar(select(User.id).where(User.email_normalized == key)) is not None:
        raise EmailTaken("an account with this email already exists", field="newEmail")
    assert actor.user_id is not None
    token = await _issue(session, actor.user_id, "email_change", EMAIL_CHANGE_TTL, {"email": cleaned})
    link = settings.portal_link("confirm-email", token)
    await send_email(session, to=cleaned, subject="Confirm your new email address", user_id=actor.user_id,
                     body=f"Confirm this address for your account within 24 hours:\n{link}")
    await record(session, actor, action="auth.email_change_requested", entity_type="user", entity_id=actor.user_id,
                 after={"new_email": cleaned}, category="auth")


async def confirm_email_change(session: AsyncSession, actor: Actor, token: str) -> User:
    row = await _consume(session, token, "email_change")
    user = await session.scalar(select(User).where(User.id == row.user_id).with_for_update())
    assert user is not None
    cleaned, key = normalise(str(row.payload["email"]))
    if await session.scalar(select(User.id).where(User.email_normalized == key, User.id != user.id)) is not None:
        raise EmailTaken("an account with this email already exists", field="token")
    before = user.email
    user.email, user.email_normalized, user.email_verified_at = cleaned, key, datetime.now(UTC)
    await record(session, actor, action="auth.email_changed", entity_type="user", entity_id=user.id,
                 before={"email": before}, after={"email": cleaned}, category="auth")
    await notify(session, user.id, "security.email_changed", f"Your sign-in email changed from {before}.")
    return user
