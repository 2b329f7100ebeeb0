"""TOTP second factor (pyotp): enrolment, verification with replay protection, recovery codes,
and step-up for sensitive operations.

A code is accepted at most once: the matched time step is stored with a conditional UPDATE
(`totp_last_step < step`), so two concurrent uses of one code cannot both succeed.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import UTC, datetime

import pyotp
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.identity import ratelimit
from domain.identity.errors import InvalidTotp, StepUpRequired, TotpReplay
from domain.identity.models import AuthSession, TotpRecoveryCode, User
from domain.identity.secrets import decrypt, encrypt, token_hash
from domain.shared.actor import Actor
from domain.shared.errors import DomainError, NotFound
from domain.shared.settings import Settings

PURPOSE = b"totp-secret"
ISSUER = "ForexCRM"
RECOVERY_CODES = 10
WINDOW = 1  # accept the previous and next 30 s step for clock drift


def _totp(settings: Settings, user: User) -> pyotp.TOTP:
    assert user.totp_secret_enc is not None
    return pyotp.TOTP(decrypt(settings, user.totp_secret_enc, PURPOSE))


def matching_step(totp: pyotp.TOTP, code: str, now: float | None = None) -> int | None:
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != totp.digits:
        return None
    current = totp.timecode(datetime.fromtimestamp(now if now is not None else time.time(), UTC))
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def consume_code(session: AsyncSession, settings: Settings, user: User, code: str, *,
                       field: str) -> DomainError | None:
    """None when the code (or an unused recovery code) is accepted; the error otherwise, naming `field`:
    the argument or input field the caller took the code from, so a form shows it beside that input."""
    if user.totp_secret_enc is None:
        return InvalidTotp("two-factor authentication is not set up", field=field)
    if "-" in code:
        return await _consume_recovery(session, user, code, field)
    step = matching_step(_totp(settings, user), code)
    if step is None:
        return InvalidTotp("the code is wrong or outside its time window", field=field)
    accepted = await session.scalar(text(
        "UPDATE users SET totp_last_step = :step WHERE id = :uid "
        "AND (totp_last_step IS NULL OR totp_last_step < :step) RETURNING id"
    ), {"step": step, "uid": user.id})
    if accepted is None:
        return TotpReplay("this code was already used; wait for the next one", field=field)
    return None


async def _consume_recovery(session: AsyncSession, user: User, code: str, field: str) -> DomainError | None:
    used = await session.scalar(text(
        "UPDATE totp_recovery_codes SET used_at = now() WHERE user_id = :uid AND code_hash = :h "
        "AND used_at IS NULL RETURNING id"
    ), {"uid": user.id, "h": token_hash(code.strip().lower())})
    if used is None:
        return InvalidTotp("the recovery code is wrong or already used", field=field)
    return None


async def _user(session: AsyncSession, actor: Actor) -> User:
    user = await session.scalar(select(User).where(User.id == actor.user_id).with_for_update())
    if user is None:
        raise NotFound("no such user")
    return user


async def start_enrollment(session: AsyncSession, settings: Settings, actor: Actor) -> tuple[str, str]:
    """A new secret (not yet active) and its otpauth:// URI for a QR code."""
    user = await _user(session, actor)
    if user.totp_enabled_at is not None:
        raise DomainError("two-factor authentication is already on", code="TOTP_ALREADY_ENABLED")
    secret = pyotp.random_base32()
    user.totp_secret_enc = encrypt(settings, secret, PURPOSE)
    user.totp_last_step = None
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    await record(session, actor, action="auth.totp_enrollment_started", entity_type="user", entity_id=user.id,
                 category="auth")
    return secret, uri


async def confirm_enrollment(session: AsyncSession, settings: Settings, actor: Actor, code: str) -> list[str]:
    """Turns 2FA on after a first valid code; returns one-time recovery codes (shown once)."""
    user = await _user(session, actor)
    if user.totp_enabled_at is not None:
        raise DomainError("two-factor authentication is already on", code="TOTP_ALREADY_ENABLED")
    if user.totp_secret_enc is None:
        raise DomainError("start the enrolment first", code="TOTP_NOT_ENABLED")
    problem = await consume_code(session, settings, user, code, field="code")
    if problem is not None:
        raise problem
    user.totp_enabled_at = datetime.now(UTC)
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    await session.execute(text("DELETE FROM totp_recovery_codes WHERE user_id = :uid"), {"uid": user.id})
    session.add_all([TotpRecoveryCode(user_id=user.id, code_hash=token_hash(c)) for c in codes])
    if actor.session_id is not None:
        await _mark_stepped_up(session, actor.session_id)
    await record(session, actor, action="auth.totp_enabled", entity_type="user", entity_id=user.id, category="auth")
    return codes


async def _mark_stepped_up(session: AsyncSession, session_id: int) -> None:
    await session.execute(text("UPDATE auth_sessions SET stepped_up_at = now() WHERE id = :sid"), {"sid": session_id})


async def step_up(session: AsyncSession, settings: Settings, redis: Redis, actor: Actor,
                  code: str) -> DomainError | None:
    """A fresh code marks this session as stepped up for a few minutes. Guesses are limited per user
    and per session like sign-in's (RATE_LIMITED with a retry-after while slowed down)."""
    user = await _user(session, actor)
    if user.totp_enabled_at is None:
        return DomainError("turn on two-factor authentication first", code="TOTP_NOT_ENABLED")
    await reserve_totp(redis, settings, user, actor.session_id)
    problem = await consume_code(session, settings, user, code, field="code")
    if problem is not None:
        await record(session, actor, action="auth.step_up_failed", entity_type="user", entity_id=user.id,
                     after={"reason": problem.code}, category="auth")
        return problem
    assert actor.session_id is not None
    await forgive_totp(redis, settings, user, actor.session_id)
    await _mark_stepped_up(session, actor.session_id)
    await record(session, actor, action="auth.stepped_up", entity_type="session", entity_id=actor.session_id,
                 category="auth")
    return None


def _totp_subjects(user: User, session_id: int | None) -> list[tuple[str, str]]:
    # Keyed by the sign-in address (and the session within it): ids restart when a database is
    # recreated and Redis outlives it (development, tests), an address stays with its account.
    subjects = [("totp:user", user.email_normalized)]
    if session_id is not None:
        subjects.append(("totp:session", f"{user.email_normalized}#{session_id}"))
    return subjects


async def reserve_totp(redis: Redis, settings: Settings, user: User, session_id: int | None = None) -> None:
    """Reserve one TOTP guess for the user (login, SSO and step-up share it) and, for a step-up, the
    session; a right code forgives them (`forgive_totp`)."""
    await ratelimit.reserve_all(redis, settings.redis_namespace, [(scope, subject, settings.totp_attempts_free)
                                        for scope, subject in _totp_subjects(user, session_id)],
                                window_s=settings.rate_limit_window_s)


async def forgive_totp(redis: Redis, settings: Settings, user: User, session_id: int | None = None) -> None:
    for scope, subject in _totp_subjects(user, session_id):
        await ratelimit.forgive(redis, settings.redis_namespace, scope, subject)


async def require_step_up(session: AsyncSession, actor: Actor, settings: Settings) -> None:
    """Sensitive operations need a code given within the last few minutes in this session.

    The actor's step-up time comes from its principal, which an API process may have cached a
    moment before a step-up made in another process: a stale answer is confirmed from the
    database before it refuses."""
    if _fresh(actor.stepped_up_at, settings):
        return
    if actor.session_id is not None:
        stepped = await session.scalar(select(AuthSession.stepped_up_at).where(
            AuthSession.id == actor.session_id, AuthSession.user_id == actor.user_id,
            AuthSession.revoked_at.is_(None)))
        if stepped is not None and _fresh(stepped.timestamp(), settings):
            return
    raise StepUpRequired("confirm with a fresh two-factor code first (stepUp)")


def _fresh(stepped_up_at: float | None, settings: Settings) -> bool:
    return stepped_up_at is not None and time.time() - stepped_up_at <= settings.step_up_ttl_s


async def disable(session: AsyncSession, settings: Settings, actor: Actor) -> None:
    await require_step_up(session, actor, settings)
    user = await _user(session, actor)
    if user.is_staff:
        raise DomainError("two-factor authentication is mandatory for staff", code="TOTP_ALREADY_ENABLED")
    if user.totp_enabled_at is None:
        raise DomainError("two-factor authentication is not on", code="TOTP_NOT_ENABLED")
    user.totp_enabled_at = None
    user.totp_secret_enc = None
    user.totp_last_step = None
    await session.execute(text("DELETE FROM totp_recovery_codes WHERE user_id = :uid"), {"uid": user.id})
    await record(session, actor, action="auth.totp_disabled", entity_type="user", entity_id=user.id, category="auth")
