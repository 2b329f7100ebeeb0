"""API tokens for partners and integrations: scoped, expiring, hashed, revocable.

A token acts as its owner but only within its scopes: its permissions are the owner's
permissions intersected with the scopes it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.identity.models import ApiToken
from domain.identity.permissions import PERMISSIONS
from domain.identity.secrets import new_token, token_hash
from domain.identity.totp import require_step_up
from domain.shared.actor import Actor, ActorKind
from domain.shared.errors import DomainError, NotFound, ValidationFailed
from domain.shared.settings import Settings

PREFIX = "fxc_"
# Scopes beyond staff permission codes: what a client or IB may delegate.
OWNER_SCOPES: dict[str, str] = {
    "profile.read": "Read the owner's own profile, accounts and balances",
    "ib.tree.read": "Read the owner's IB tree, clients (masked), commissions and payouts",
}
MAX_DAYS = 365


def valid_scopes() -> set[str]:
    return set(PERMISSIONS) | set(OWNER_SCOPES)


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    plaintext: str


async def create(session: AsyncSession, settings: Settings, actor: Actor, *, name: str, scopes: list[str],
                 expires_in_days: int) -> CreatedToken:
    await require_step_up(session, actor, settings)
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise ValidationFailed("name must be 1 to 120 characters", field="name")
    unknown = sorted(set(scopes) - valid_scopes())
    if not scopes or unknown:
        raise DomainError(f"unknown scopes: {', '.join(unknown) or '(none given)'}", field="scopes",
                          code="INVALID_SCOPE")
    staff_scopes = set(scopes) & set(PERMISSIONS)
    if staff_scopes - actor.permissions:
        raise DomainError("a token cannot have permissions its owner lacks", field="scopes", code="INVALID_SCOPE")
    if not 1 <= expires_in_days <= MAX_DAYS:
        raise ValidationFailed(f"expiry must be 1 to {MAX_DAYS} days", field="expiresInDays")
    assert actor.user_id is not None
    plaintext = new_token(PREFIX)
    row = ApiToken(user_id=actor.user_id, created_by=actor.user_id, name=name, token_hash=token_hash(plaintext),
                   last_four=plaintext[-4:], scopes=sorted(set(scopes)),
                   expires_at=datetime.now(UTC) + timedelta(days=expires_in_days))
    session.add(row)
    await session.flush()
    await session.refresh(row)
    await record(session, actor, action="api_token.created", entity_type="api_token", entity_id=row.id,
                 after={"name": name, "scopes": row.scopes, "expires_at": row.expires_at.isoformat()},
                 category="permission_change")
    return CreatedToken(row, plaintext)


async def revoke(session: AsyncSession, actor: Actor, token_id: int) -> ApiToken:
    row = await session.scalar(select(ApiToken).where(ApiToken.id == token_id).with_for_update())
    if row is None or (row.user_id != actor.user_id and not actor.has("staff.manage")) or row.revoked_at:
        raise NotFound("no such active API token", field="id")
    row.revoked_at = datetime.now(UTC)
    await record(session, actor, action="api_token.revoked", entity_type="api_token", entity_id=row.id,
                 category="permission_change")
    return row


async def list_for(session: AsyncSession, user_id: int) -> list[ApiToken]:
    return list(await session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))


async def authenticate(session: AsyncSession, plaintext: str, *, ip: str | None, user_agent: str | None,
                       correlation_id: str | None) -> Actor | None:
    row = (await session.execute(text(
        """
        SELECT t.id, t.user_id, t.scopes, u.is_staff, u.is_ib, u.status,
               COALESCE((SELECT array_agg(DISTINCT p) FROM user_roles ur JOIN roles r ON r.id = ur.role_id,
                         unnest(r.permissions) p WHERE ur.user_id = u.id), '{}') AS perms
        FROM api_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.token_hash = :h AND t.revoked_at IS NULL AND t.expires_at > now()
        """), {"h": token_hash(plaintext)})).first()
    if row is None or row.status != "active":
        return None
    await session.execute(text(
        "UPDATE api_tokens SET last_used_at = now() WHERE id = :id "
        "AND (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')"), {"id": row.id})
    scopes = frozenset(row.scopes)
    return Actor(ActorKind.API_TOKEN, user_id=row.user_id, permissions=frozenset(row.perms) & scopes, ip=ip,
                 user_agent=user_agent, correlation_id=correlation_id, token_id=row.id, scopes=scopes)
