"""Sign-in, sessions and rotating refresh tokens with reuse detection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.events.outbox import emit
from domain.identity import notifications, ratelimit
from domain.identity.emails import normalise
from domain.identity.errors import (
    AccountDisabled,
    InvalidCredentials,
    RefreshTokenReused,
    SecondFactorRequired,
    TokenExpired,
    TokenInvalid,
)
from domain.identity.jwt_tokens import issue_access_token
from domain.identity.models import AuthSession, RefreshToken, User
from domain.identity.passwords import hash_password, verify_password
from domain.identity.principal_cache import PrincipalCache
from domain.identity.results import Outcome
from domain.identity.secrets import new_token, token_hash
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import SessionFactory, autocommit_fetchrow, driver
from domain.shared.errors import DomainError, NotFound
from domain.shared.pagination import Page, PageRequest, select_page
from domain.shared.settings import Settings

NOTIFICATION_TOPIC = "user.notification"


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    user_id: int
    session_id: int


def actor_for_attempt(actor: Actor, user: User | None) -> Actor:
    """The attempt is recorded against the account it targeted (if any)."""
    return Actor(ActorKind.ANONYMOUS, user_id=user.id if user else None, ip=actor.ip,
                 user_agent=actor.user_agent, correlation_id=actor.correlation_id)


async def _new_session_tokens(session: AsyncSession, settings: Settings, user: User, *, device: str,
                              ip: str | None, stepped_up: bool, country: str | None = None) -> Tokens:
    auth = AuthSession(user_id=user.id, device=device[:200], ip=ip, country=country,
                       stepped_up_at=datetime.now(UTC) if stepped_up else None)
    session.add(auth)
    await session.flush()
    refresh = await _issue_refresh(session, settings, auth.id)
    access = issue_access_token(settings, user.id, auth.id)
    return Tokens(access, refresh, settings.access_token_ttl_s, user.id, auth.id)


async def _issue_refresh(session: AsyncSession, settings: Settings, session_id: int) -> str:
    token = new_token("rt_")
    session.add(RefreshToken(session_id=session_id, token_hash=token_hash(token),
                             expires_at=datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_s)))
    await session.flush()
    return token


async def login(
    session: AsyncSession, settings: Settings, redis: Redis, actor: Actor, *, email: str, password: str,
    totp_code: str | None, device: str, country: str | None = None,
) -> Outcome[Tokens]:
    """Password (+ TOTP when enrolled) sign-in. Unknown and known emails fail the same way."""
    from domain.identity.totp import consume_code, forgive_totp, reserve_totp

    try:
        _, key = normalise(email)
    except DomainError:
        key = email.strip().lower()[:320]
    limits = await _reserve_login(redis, settings, key, actor.ip or "-")
    user = await session.scalar(select(User).where(User.email_normalized == key))
    matches, needs_rehash = await verify_password(user.password_hash if user else None, password, settings)
    attempt = actor_for_attempt(actor, user)
    if user is None or not matches:
        await record(session, attempt, action="auth.login_failed", entity_type="user",
                     entity_id=user.id if user else None, after={"reason": "invalid_credentials"}, category="auth")
        return Outcome.fail(InvalidCredentials("email or password is wrong"))
    if user.status != "active":
        await record(session, attempt, action="auth.login_refused", entity_type="user", entity_id=user.id,
                     after={"reason": f"account_{user.status}"}, category="auth")
        return Outcome.fail(AccountDisabled("this account is not active"))
    if user.is_staff and not settings.staff_password_login:
        return Outcome.fail(DomainError("staff sign in through single sign-on", code="PASSWORD_LOGIN_DISABLED"))
    stepped_up = False
    if user.totp_enabled_at is not None:
        if not totp_code:
            return Outcome.fail(SecondFactorRequired("enter the code from your authenticator app", field="totpCode"))
        await reserve_totp(redis, settings, user)
        problem = await consume_code(session, settings, user, totp_code, field="totpCode")
        if problem is not None:
            await record(session, attempt, action="auth.totp_failed", entity_type="user", entity_id=user.id,
                         after={"reason": problem.code}, category="auth")
            if problem.code == "TOTP_REPLAYED":
                await notify(session, user.id, "security.totp_replay",
                             "A sign-in reused a two-factor code that was already used. If this was not you, "
                             "change your password.")
            return Outcome.fail(problem)
        await forgive_totp(redis, settings, user)
        stepped_up = True
    await limits.succeeded()
    if needs_rehash:
        user.password_hash = await hash_password(password, settings)
    tokens = await _new_session_tokens(session, settings, user, device=device, ip=actor.ip, stepped_up=stepped_up,
                                       country=country)
    signed_in = Actor(actor_kind(user), user_id=user.id, ip=actor.ip, user_agent=actor.user_agent,
                      correlation_id=actor.correlation_id, session_id=tokens.session_id)
    await record(session, signed_in, action="auth.login", entity_type="session", entity_id=tokens.session_id,
                 after={"device": device[:200], "second_factor": stepped_up, "country": country}, category="auth")
    if country and user.is_client:
        from domain.compliance.aml import events as aml

        await aml.on_sign_in(session, signed_in, user_id=user.id, session_id=tokens.session_id, country=country,
                             ip=actor.ip, device=device[:200])
    return Outcome.ok(tokens)


@dataclass(frozen=True)
class _LoginLimits:
    redis: Redis
    namespace: str
    key: str
    ip: str

    async def succeeded(self) -> None:
        """Only failures count: a sign-in that succeeded takes its reservations back."""
        await ratelimit.forgive(self.redis, self.namespace, "login:account_ip", f"{self.key}|{self.ip}")
        await ratelimit.refund(self.redis, self.namespace, "login:ip", self.ip)
        await ratelimit.refund(self.redis, self.namespace, "login:account", self.key)


async def _reserve_login(redis: Redis, settings: Settings, key: str, ip: str) -> _LoginLimits:
    """Reserve one password guess against this account from this IP, this IP (any account) and this
    account (any IP). The first is tight and is what a single attacker meets; it slows down that
    attacker's address only, so the owner signing in from elsewhere is not locked out. The others
    bound spraying many accounts from one IP and guessing one account from many IPs."""
    await ratelimit.reserve_all(redis, settings.redis_namespace, [
        ("login:ip", ip, settings.login_attempts_per_ip),
        ("login:account", key, settings.login_failures_per_account_all_ips),
        ("login:account_ip", f"{key}|{ip}", settings.login_attempts_per_account),
    ], window_s=settings.rate_limit_window_s)
    return _LoginLimits(redis, settings.redis_namespace, key, ip)


def actor_kind(user: User) -> ActorKind:
    if user.is_staff:
        return ActorKind.STAFF
    if user.is_ib:
        return ActorKind.IB
    return ActorKind.CLIENT


async def notify(session: AsyncSession, user_id: int, kind: str, message: str, **details: str) -> None:
    """A notification to the user: kept (with its read state), delivered live (subscription) and, a security
    one, by email through the outbox. `details`
    (strings: a payment's reference, amount and currency) let a portal word it in the user's language."""
    notification_id, created_at = await notifications.store(session, user_id, kind, message, details)
    payload: dict[str, Any] = {"user_id": user_id, "kind": kind, "message": message,
                               "notification_id": notification_id, "created_at": created_at.isoformat()}
    if details:
        payload["details"] = details
    await emit(session, NOTIFICATION_TOPIC, payload, job="deliver_notification")


async def refresh(session: AsyncSession, settings: Settings, actor: Actor, *, refresh_token: str) -> Outcome[Tokens]:
    """Rotate: a refresh token works once. Presenting a used one revokes the whole family."""
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash(refresh_token)).with_for_update()
    )
    if row is None:
        return Outcome.fail(TokenInvalid("the refresh token is not valid"))
    auth = await session.scalar(select(AuthSession).where(AuthSession.id == row.session_id).with_for_update())
    assert auth is not None
    if auth.revoked_at is not None:
        return Outcome.fail(TokenInvalid("this session has ended; sign in again"))
    user = await session.get(User, auth.user_id)
    assert user is not None
    if row.used_at is not None:
        auth.revoked_at = datetime.now(UTC)
        auth.revoked_reason = "refresh_token_reuse"
        await record(session, actor_for_attempt(actor, user), action="auth.refresh_reuse_detected",
                     entity_type="session", entity_id=auth.id, after={"revoked": True}, category="auth")
        await notify(session, user.id, "security.refresh_reuse",
                     "A stale sign-in token was reused, so that session was ended. Sign in again.")
        return Outcome.fail(RefreshTokenReused("this refresh token was already used; the session is revoked"))
    if row.expires_at <= datetime.now(UTC):
        return Outcome.fail(TokenExpired("the refresh token has expired; sign in again"))
    if user.status != "active":
        return Outcome.fail(AccountDisabled("this account is not active"))
    row.used_at = datetime.now(UTC)
    auth.last_seen_at = datetime.now(UTC)
    if actor.ip:
        auth.ip = actor.ip
    new_refresh = await _issue_refresh(session, settings, auth.id)
    access = issue_access_token(settings, user.id, auth.id)
    return Outcome.ok(Tokens(access, new_refresh, settings.access_token_ttl_s, user.id, auth.id))


async def revoke_session(session: AsyncSession, actor: Actor, session_id: int, *, reason: str) -> None:
    auth = await session.scalar(
        select(AuthSession).where(AuthSession.id == session_id, AuthSession.user_id == actor.user_id)
    )
    if auth is None or auth.revoked_at is not None:
        raise NotFound("no such active session", field="sessionId", code="SESSION_NOT_FOUND")
    auth.revoked_at = datetime.now(UTC)
    auth.revoked_reason = reason
    await record(session, actor, action="auth.session_revoked", entity_type="session", entity_id=session_id,
                 after={"reason": reason}, category="auth")


async def revoke_all_sessions(session: AsyncSession, actor: Actor, user_id: int, *, reason: str) -> int:
    result = await session.execute(
        update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC), revoked_reason=reason)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    await record(session, actor, action="auth.sessions_revoked_all", entity_type="user", entity_id=user_id,
                 after={"count": count, "reason": reason}, category="auth")
    return count


async def active_sessions(session: AsyncSession, user_id: int, page: PageRequest) -> Page[AuthSession]:
    """The user's sessions not revoked, newest sign-in first."""
    stmt = select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    return await select_page(session, page, stmt, (AuthSession.created_at, AuthSession.id), descending=True,
                             convert=lambda row: row)


async def active_by_ids(session: AsyncSession, user_id: int, ids: Sequence[int]) -> list[AuthSession]:
    """The user's live sessions among `ids` (another user's, or a revoked one, are simply absent)."""
    return list(await session.scalars(select(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None), AuthSession.id.in_(ids))))


@dataclass(frozen=True)
class SessionPrincipal:
    user_id: int
    session_id: int
    kind: ActorKind
    permissions: frozenset[str]
    stepped_up_at: float | None
    mfa_enrolled: bool
    desk: str | None


# The user, the session (must be live) and the union of role permissions; $1 session, $2 user.
_PRINCIPAL = """
    SELECT u.id, u.is_staff, u.is_ib, u.status, u.totp_enabled_at IS NOT NULL AS mfa, u.desk, s.stepped_up_at,
           COALESCE((SELECT array_agg(DISTINCT p) FROM user_roles ur JOIN roles r ON r.id = ur.role_id,
                     unnest(r.permissions) p WHERE ur.user_id = u.id), '{}') AS perms
    FROM auth_sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL
    """
# The same, touching last seen at most once a minute per session, so reads rarely write.
_PRINCIPAL_TOUCHED = """
    WITH touch AS (
        UPDATE auth_sessions SET last_seen_at = now()
        WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND last_seen_at < now() - interval '60 seconds'
    )""" + _PRINCIPAL  # noqa: S608 - two constants


def _principal(row: Mapping[str, Any] | None, session_id: int) -> SessionPrincipal | None:
    if row is None or row["status"] != "active":
        return None
    kind = ActorKind.STAFF if row["is_staff"] else ActorKind.IB if row["is_ib"] else ActorKind.CLIENT
    # Staff must enrol 2FA before any permission applies (DESIGN.md section 9); a session whose second
    # factor was verified (a TOTP code, or the IdP's MFA through single sign-on) also satisfies it.
    verified = row["mfa"] or row["stepped_up_at"] is not None
    perms = frozenset(row["perms"]) if (not row["is_staff"] or verified) else frozenset()
    stepped = row["stepped_up_at"].timestamp() if row["stepped_up_at"] else None
    return SessionPrincipal(row["id"], session_id, kind, perms, stepped, bool(row["mfa"]), row["desk"])


async def load_principal(session: AsyncSession, user_id: int, session_id: int) -> SessionPrincipal | None:
    """One query: the user, the session (must be live) and the union of role permissions."""
    return _principal(await (await driver(session)).fetchrow(_PRINCIPAL, session_id, user_id), session_id)


async def request_principal(factory: SessionFactory, user_id: int, session_id: int,
                            cache: PrincipalCache | None = None) -> SessionPrincipal | None:
    """load_principal plus the last-seen touch, for each authenticated request: one autocommit
    statement, so one round trip rather than BEGIN, query, update and COMMIT; none when the
    process's cache still holds the principal."""
    if cache is not None:
        cached = cache.get(user_id, session_id)
        if cached is not None:
            return cast(SessionPrincipal, cached)
        generation = cache.generation
    principal = _principal(await autocommit_fetchrow(factory, _PRINCIPAL_TOUCHED, session_id, user_id), session_id)
    if cache is not None and principal is not None:
        cache.put(user_id, session_id, principal, generation)
    return principal


async def create_user(
    session: AsyncSession, settings: Settings, actor: Actor, *, email: str, password: str | None,
    display_name: str = "", is_client: bool = False, is_staff: bool = False, is_ib: bool = False,
) -> User:
    from sqlalchemy.dialects.postgresql import insert

    from domain.identity.errors import EmailTaken
    from domain.identity.passwords import check_policy

    cleaned, key = normalise(email)
    if password is not None:
        check_policy(password, settings, email=cleaned)
    hashed = await hash_password(password, settings) if password is not None else None
    stmt = (insert(User).values(email=cleaned, email_normalized=key, password_hash=hashed,
                                display_name=display_name.strip()[:200], is_client=is_client, is_staff=is_staff,
                                is_ib=is_ib, password_changed_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=[User.email_normalized]).returning(User.id))
    user_id = await session.scalar(stmt)
    if user_id is None:
        raise EmailTaken("an account with this email already exists", field="email")
    user = await session.get(User, user_id)
    assert user is not None
    await record(session, actor, action="user.created", entity_type="user", entity_id=user_id,
                 after={"email": cleaned, "is_client": is_client, "is_staff": is_staff, "is_ib": is_ib},
                 category="auth")
    return user
