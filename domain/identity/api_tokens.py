"""API tokens for partners and integrations: scoped, expiring, hashed, revocable.

A token acts as its owner but only within its scopes: its permissions are the owner's
permissions intersected with the scopes it was given, and it may run only the root fields whose
declared scopes it holds (schema/permissions.py; deny by default).

A caller mints only scopes that apply to it (`applicable`): a staff permission code needs a staff
owner holding that permission, `ib.tree.read` an IB, `profile.read` a client or IB. The same test
runs on every use, so a token outlives no role, permission or IB status its owner loses.

Tokens end with `logoutEverywhere` and a password reset (`revoke_all`): both answer "this account
may be in someone else's hands", and a token minted from a session no longer trusted is no safer
than that session. A plain `logout` (one device) leaves them: a partner feed is not a device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.identity.models import ApiToken
from domain.identity.permissions import PERMISSIONS
from domain.identity.secrets import new_token, token_hash
from domain.identity.totp import require_step_up
from domain.shared.actor import Actor, ActorKind
from domain.shared.errors import DomainError, NotFound, ValidationFailed
from domain.shared.pagination import Page, PageRequest, select_page
from domain.shared.settings import Settings

PREFIX = "fxc_"
# Scopes beyond staff permission codes: what a client or IB may delegate, and who may.
OWNER_SCOPES: dict[str, str] = {
    "profile.read": "Read the owner's own client profile, trading accounts, deals, wallets and payments",
    "ib.tree.read": "Read the owner's IB tree, clients (masked), commissions and payouts",
}
_OWNER_SCOPE_KINDS: dict[str, frozenset[ActorKind]] = {
    "profile.read": frozenset({ActorKind.CLIENT, ActorKind.IB}),
    "ib.tree.read": frozenset({ActorKind.IB}),
}
MAX_DAYS = 365


def valid_scopes() -> set[str]:
    return set(PERMISSIONS) | set(OWNER_SCOPES)


def applicable(kind: ActorKind, permissions: frozenset[str]) -> frozenset[str]:
    """The scopes an owner of this kind holding these permissions may give a token."""
    staff = permissions & set(PERMISSIONS) if kind is ActorKind.STAFF else frozenset()
    return staff | {scope for scope, kinds in _OWNER_SCOPE_KINDS.items() if kind in kinds}


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
    foreign = sorted(set(scopes) - applicable(actor.kind, actor.permissions))
    if foreign:
        raise DomainError(f"scopes that do not apply to you: {', '.join(foreign)}", field="scopes",
                          code="SCOPE_NOT_ALLOWED")
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


async def revoke_all(session: AsyncSession, actor: Actor, user_id: int, *, reason: str) -> int:
    """End every live token of the user (logout everywhere, password reset), in the caller's transaction."""
    result = await session.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC)))
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        await record(session, actor, action="api_token.revoked_all", entity_type="user", entity_id=user_id,
                     after={"count": count, "reason": reason}, category="permission_change")
    return count


async def list_for(session: AsyncSession, user_id: int, page: PageRequest) -> Page[ApiToken]:
    """The user's tokens in the order they were issued."""
    return await select_page(session, page, select(ApiToken).where(ApiToken.user_id == user_id),
                             (ApiToken.created_at, ApiToken.id), descending=False, convert=lambda row: row)


async def owned_by_ids(session: AsyncSession, user_id: int, ids: Sequence[int]) -> list[ApiToken]:
    """The user's tokens among `ids` (another user's are simply absent)."""
    return list(await session.scalars(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.id.in_(ids))))


async def authenticate(session: AsyncSession, plaintext: str, *, ip: str | None, user_agent: str | None,
                       correlation_id: str | None) -> Actor | None:
    row = (await session.execute(text(
        """
        SELECT t.id, t.user_id, t.scopes, u.is_staff, u.is_ib, u.status, u.totp_enabled_at IS NOT NULL AS mfa,
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
    kind = ActorKind.STAFF if row.is_staff else ActorKind.IB if row.is_ib else ActorKind.CLIENT
    # As for sessions, a staff owner's permissions apply only with 2FA enrolled.
    perms = frozenset(row.perms) if (not row.is_staff or row.mfa) else frozenset()
    # Only what still applies to the owner: a token loses ib.tree.read when its owner stops being an IB,
    # and a permission scope when the owner loses the permission.
    scopes = frozenset(row.scopes) & applicable(kind, perms)
    return Actor(ActorKind.API_TOKEN, user_id=row.user_id, permissions=perms & scopes, ip=ip,
                 user_agent=user_agent, correlation_id=correlation_id, token_id=row.id, scopes=scopes)
