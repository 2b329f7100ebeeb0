"""Staff single sign-on through an OpenID Connect provider: configuration, claim mapping, sign-in.

The HTTP side (redirects, state, nonce, PKCE, ID-token signature and claims) is api/oidc_routes.py,
done by authlib. This module receives claims that were already validated and turns them into a
staff session exactly like password login does.

Choices:
- SSO-managed roles are the roles named as targets in `role_map`: a sign-in makes the user hold
  exactly the mapped subset of them; roles outside the map (assigned by hand) are left alone.
- Second factor: a session counts as 2FA-satisfied (`stepped_up_at` set, as after a TOTP code) only
  when the IdP asserts MFA through `amr`. Otherwise a staff user with TOTP enrolled must still give
  a code before a session exists (POST /auth/oidc/totp), and a staff user without TOTP gets a
  session whose permissions stay empty until they enrol, as with password login.
- A user unknown here is provisioned as staff only when provisioning is on AND at least one role is
  mapped: an IdP user in no mapped group gets no empty account (SSO_NO_ROLES).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.identity.emails import normalise
from domain.identity.models import Role, User, UserRole
from domain.identity.roles import CATEGORY as PERMISSION_CHANGE
from domain.identity.sessions import Tokens, _new_session_tokens, actor_for_attempt, actor_kind, create_user
from domain.shared.actor import Actor, ActorKind
from domain.shared.errors import DomainError
from domain.shared.settings import Settings

log = logging.getLogger(__name__)

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"

# Stable codes of the SSO endpoints (REST answers, not GraphQL payloads, so not in ErrorCode).
STATE_MISMATCH = "SSO_STATE_MISMATCH"
PROVIDER_ERROR = "SSO_PROVIDER_ERROR"
EMAIL_NOT_ALLOWED = "SSO_EMAIL_NOT_ALLOWED"
NO_ROLES = "SSO_NO_ROLES"
TOTP_NOT_PENDING = "SSO_TOTP_NOT_PENDING"


class OidcSettings(BaseSettings):
    """`FOREXCRM_OIDC_*`. Lists and the role map are JSON, e.g. ROLE_MAP='{"fx-admins": ["administrator"]}'."""

    model_config = SettingsConfigDict(
        env_prefix="FOREXCRM_OIDC_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # The issuer URL, or its discovery document URL (the suffix is added when missing).
    discovery_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scopes: str = "openid email profile"
    groups_claim: str = "groups"
    role_map: dict[str, list[str]] = Field(default_factory=dict)
    auto_provision: bool = True
    # Lower-case email domains allowed to sign in; empty allows any domain the IdP verified.
    allowed_domains: list[str] = Field(default_factory=list)
    post_login_url: str = "/"
    # Where a staff user who still owes a TOTP code is sent (the page posts it to /auth/oidc/totp).
    totp_prompt_url: str = "/?sso=totp_required"
    # The callback URL registered at the IdP; default: public_base_url + /auth/oidc/callback.
    redirect_url: str | None = None
    mfa_amr_values: list[str] = Field(default_factory=lambda: ["mfa", "otp", "hwk"])
    pending_totp_ttl_s: int = 300
    http_timeout_s: float = 10.0

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: str) -> str:
        # Without "openid" there is no ID token, hence no nonce or signature check.
        if "openid" not in value.split():
            raise ValueError("scopes must include openid")
        return value

    @field_validator("allowed_domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in value if d.strip()]

    @property
    def enabled(self) -> bool:
        return bool(self.discovery_url and self.client_id)

    @property
    def metadata_url(self) -> str:
        assert self.discovery_url
        url = self.discovery_url.rstrip("/")
        return url if url.endswith(DISCOVERY_SUFFIX) else url + DISCOVERY_SUFFIX

    def callback_url(self, settings: Settings) -> str:
        return self.redirect_url or settings.public_base_url.rstrip("/") + "/auth/oidc/callback"


@dataclass(frozen=True)
class SsoIdentity:
    """What the IdP asserted about the person, from the validated ID token (and userinfo)."""

    subject: str
    email: str
    email_verified: bool
    groups: tuple[str, ...]
    amr: tuple[str, ...]
    name: str


@dataclass(frozen=True)
class SsoRefused:
    code: str
    message: str


@dataclass(frozen=True)
class SsoSignIn:
    """Exactly one is set: a session, a user who still owes a TOTP code, or a refusal."""

    tokens: Tokens | None = None
    totp_user_id: int | None = None
    error: SsoRefused | None = None


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


def identity_from_claims(oidc: OidcSettings, claims: Mapping[str, Any]) -> SsoIdentity:
    verified = claims.get("email_verified")
    return SsoIdentity(
        subject=str(claims.get("sub") or ""),
        email=str(claims.get("email") or ""),
        # Some IdPs send the string "true"; anything else is unverified.
        email_verified=verified is True or verified == "true",
        groups=_strings(claims.get(oidc.groups_claim)),
        amr=_strings(claims.get("amr")),
        name=str(claims.get("name") or claims.get("preferred_username") or ""),
    )


def mapped_roles(oidc: OidcSettings, groups: Iterable[str]) -> set[str]:
    return {role for group in groups for role in oidc.role_map.get(group, [])}


def managed_roles(oidc: OidcSettings) -> set[str]:
    return {role for roles in oidc.role_map.values() for role in roles}


def mfa_asserted(oidc: OidcSettings, amr: Iterable[str]) -> bool:
    return bool(set(amr) & set(oidc.mfa_amr_values))


def email_problem(oidc: OidcSettings, identity: SsoIdentity) -> SsoRefused | None:
    if not identity.email or not identity.email_verified:
        return SsoRefused(EMAIL_NOT_ALLOWED, "the identity provider did not verify this email address")
    domain = identity.email.rsplit("@", 1)[-1].lower()
    if oidc.allowed_domains and domain not in oidc.allowed_domains:
        return SsoRefused(EMAIL_NOT_ALLOWED, "this email domain may not sign in here")
    return None


def _sso_actor(actor: Actor) -> Actor:
    """Role changes made by the group mapping are the system's, on the IdP's word."""
    return Actor(ActorKind.SYSTEM, ip=actor.ip, user_agent=actor.user_agent, correlation_id=actor.correlation_id)


async def record_failure(session: AsyncSession, actor: Actor, user: User | None, code: str, *,
                         detail: str | None = None, email: str | None = None) -> None:
    """The only write a refused sign-in makes."""
    after: dict[str, Any] = {"reason": code, "method": "oidc"}
    if email:
        after["email_domain"] = email.rsplit("@", 1)[-1].lower()
    await record(session, actor_for_attempt(actor, user), action="auth.sso_failed", entity_type="user",
                 entity_id=user.id if user else None, after=after, reason=detail, category="auth")


async def _refuse(session: AsyncSession, actor: Actor, user: User | None, identity: SsoIdentity,
                  problem: SsoRefused) -> SsoSignIn:
    await record_failure(session, actor, user, problem.code, detail=problem.message, email=identity.email)
    return SsoSignIn(error=problem)


async def sync_roles(session: AsyncSession, actor: Actor, user_id: int, wanted: set[str], managed: set[str],
                     groups: Iterable[str]) -> tuple[list[str], list[str]]:
    """Make the user's SSO-managed roles exactly `wanted`; every change audited. Returns (added, removed)."""
    held = dict((await session.execute(
        select(Role.name, Role.id).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == user_id)
    )).tuples().all())
    known = dict((await session.execute(select(Role.name, Role.id).where(Role.name.in_(wanted)))).tuples().all())
    missing = wanted - known.keys()
    if missing:
        log.warning("oidc role_map names roles that do not exist: %s", sorted(missing))
    added = sorted(known.keys() - held.keys())
    removed = sorted((held.keys() & managed) - wanted)
    for name in added:
        await session.execute(insert(UserRole).values(user_id=user_id, role_id=known[name]).on_conflict_do_nothing())
    for name in removed:
        await session.execute(delete(UserRole).where(UserRole.user_id == user_id, UserRole.role_id == held[name]))
    why = f"single sign-on group mapping (groups: {', '.join(sorted(groups)) or 'none'})"
    for name in added:
        await record(session, actor, action="role.assigned", entity_type="user", entity_id=user_id,
                     after={"role": name, "source": "oidc"}, reason=why, category=PERMISSION_CHANGE)
    for name in removed:
        await record(session, actor, action="role.unassigned", entity_type="user", entity_id=user_id,
                     before={"role": name, "source": "oidc"}, reason=why, category=PERMISSION_CHANGE)
    return added, removed


async def _provision(session: AsyncSession, settings: Settings, actor: Actor, identity: SsoIdentity) -> User:
    user = await create_user(session, settings, actor, email=identity.email, password=None,
                             display_name=identity.name, is_staff=True)
    user.email_verified_at = datetime.now(UTC)  # the IdP verified it
    return user


async def open_session(session: AsyncSession, settings: Settings, actor: Actor, user: User, *, device: str,
                       second_factor: bool, subject: str | None) -> Tokens:
    """The same session, tokens and audit event as password login, marked as single sign-on."""
    tokens = await _new_session_tokens(session, settings, user, device=device, ip=actor.ip, stepped_up=second_factor)
    await record(session, Actor(actor_kind(user), user_id=user.id, ip=actor.ip, user_agent=actor.user_agent,
                                correlation_id=actor.correlation_id, session_id=tokens.session_id),
                 action="auth.login", entity_type="session", entity_id=tokens.session_id,
                 after={"device": device[:200], "second_factor": second_factor, "method": "oidc",
                        "subject": subject}, category="auth")
    return tokens


async def sign_in(session: AsyncSession, settings: Settings, oidc: OidcSettings, actor: Actor,
                  identity: SsoIdentity, *, device: str) -> SsoSignIn:
    """Find or provision the staff user, apply the group mapping, open a session (or ask for TOTP)."""
    try:
        _, key = normalise(identity.email)
    except DomainError:
        key = ""
    user = await session.scalar(select(User).where(User.email_normalized == key).with_for_update()) if key else None
    problem = email_problem(oidc, identity) or (None if key else SsoRefused(EMAIL_NOT_ALLOWED, "invalid email"))
    if problem is not None:
        return await _refuse(session, actor, user, identity, problem)
    wanted = mapped_roles(oidc, identity.groups)
    if user is None:
        if not oidc.auto_provision or not wanted:
            return await _refuse(session, actor, None, identity,
                                 SsoRefused(NO_ROLES, "no staff account and no role for this identity"))
        user = await _provision(session, settings, _sso_actor(actor), identity)
    elif not user.is_staff:
        return await _refuse(session, actor, user, identity,
                             SsoRefused(EMAIL_NOT_ALLOWED, "single sign-on is for staff accounts"))
    elif user.status != "active":
        return await _refuse(session, actor, user, identity,
                             SsoRefused("ACCOUNT_DISABLED", "this account is not active"))
    await sync_roles(session, _sso_actor(actor), user.id, wanted, managed_roles(oidc), identity.groups)
    second_factor = mfa_asserted(oidc, identity.amr)
    if not second_factor and user.totp_enabled_at is not None:
        # Password + TOTP would be required for this user; the IdP's password alone is not enough.
        return SsoSignIn(totp_user_id=user.id)
    tokens = await open_session(session, settings, actor, user, device=device, second_factor=second_factor,
                                subject=identity.subject)
    return SsoSignIn(tokens=tokens)


async def complete_with_totp(session: AsyncSession, settings: Settings, redis: Redis, actor: Actor, user_id: int,
                             code: str, *, device: str) -> SsoSignIn:
    """Second step of an SSO sign-in the IdP did not back with MFA: a TOTP code, as password login asks."""
    from domain.identity.totp import consume_code, forgive_totp, reserve_totp

    user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None or not user.is_staff or user.status != "active" or user.totp_enabled_at is None:
        return SsoSignIn(error=SsoRefused(TOTP_NOT_PENDING, "no single sign-on is waiting for a code"))
    await reserve_totp(redis, settings, user)
    problem = await consume_code(session, settings, user, code, field="code")
    if problem is not None:
        await record(session, actor_for_attempt(actor, user), action="auth.totp_failed", entity_type="user",
                     entity_id=user.id, after={"reason": problem.code, "method": "oidc"}, category="auth")
        return SsoSignIn(error=SsoRefused(problem.code, problem.message))
    await forgive_totp(redis, settings, user)
    tokens = await open_session(session, settings, actor, user, device=device, second_factor=True, subject=None)
    return SsoSignIn(tokens=tokens)
