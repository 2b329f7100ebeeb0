"""Sign-in, sessions, 2FA, password and email flows, API tokens, roles and staff users."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.events.hub import Event
from domain.identity import api_tokens, four_eyes, links, notifications, roles, sessions, staff_changes, totp
from domain.identity.models import Role as RoleRow
from domain.identity.models import User
from domain.identity.permissions import PERMISSIONS
from domain.identity.results import Outcome
from domain.identity.sessions import NOTIFICATION_TOPIC, Tokens
from domain.shared.actor import ActorKind
from domain.shared.errors import DomainError
from infra.cookies import ACCESS_COOKIE, REFRESH_COOKIE
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors, user_error
from schema.events import converted
from schema.identity.types import (
    ApiToken,
    ApiTokenPayload,
    AuthPayload,
    CreateApiTokenInput,
    CreateRoleInput,
    CreateStaffUserInput,
    LoginInput,
    MarkAllNotificationsReadPayload,
    Notification,
    NotificationPayload,
    OkPayload,
    Permission,
    RecoveryCodesPayload,
    RegisterInput,
    Role,
    RoleGrantPayload,
    RolePayload,
    Session,
    StaffChangePayload,
    StaffChangeRequest,
    StaffGrant,
    StaffUser,
    StaffUserPayload,
    TotpEnrollmentPayload,
    Viewer,
)
from schema.node import AnyId, global_id, key_of, node_type
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import IsAuthenticated, Public, Requires

P = TypeVar("P")
Ctx = Info[Context, Any]


async def viewer_for(session: AsyncSession, user_id: int, permissions: frozenset[str]) -> Viewer:
    user = await session.get(User, user_id)
    assert user is not None
    return Viewer(
        id=strawberry.ID(str(user.id)), email=user.email, display_name=user.display_name, is_client=user.is_client,
        is_ib=user.is_ib, is_staff=user.is_staff, two_factor_enabled=user.totp_enabled_at is not None,
        permissions=sorted(permissions), roles=await roles.roles_of(session, user.id),
        email_verified=user.email_verified_at is not None,
    )


async def _mutate(
    ctx: Context, fn: Callable[[AsyncSession], Awaitable[P]], failed: Callable[[list[UserError]], P]
) -> P:
    async def work() -> P:
        return await ctx.transaction(fn)

    return await payload_or_errors(work, failed)


def set_auth_cookies(ctx: Context, tokens: Tokens) -> None:
    response = ctx.response
    secure = ctx.settings.public_base_url.startswith("https://")
    response.set_cookie(ACCESS_COOKIE, tokens.access_token, max_age=tokens.expires_in, httponly=True,
                        secure=secure, samesite="strict", path="/")
    response.set_cookie(REFRESH_COOKIE, tokens.refresh_token, max_age=ctx.settings.refresh_token_ttl_s,
                        httponly=True, secure=secure, samesite="strict", path="/graphql")


async def _auth_payload(ctx: Context, outcome: Outcome[Tokens], cookie: bool) -> AuthPayload:
    if outcome.error is not None:
        return AuthPayload(errors=[user_error(outcome.error)])
    tokens = outcome.value
    assert tokens is not None
    async with ctx.session() as session:
        principal = await sessions.load_principal(session, tokens.user_id, tokens.session_id)
        viewer = await viewer_for(session, tokens.user_id, principal.permissions if principal else frozenset())
    if cookie:
        set_auth_cookies(ctx, tokens)
        return AuthPayload(access_token=None, refresh_token=None, expires_in=tokens.expires_in, viewer=viewer)
    return AuthPayload(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                       expires_in=tokens.expires_in, viewer=viewer)


def request_country(ctx: Context) -> str | None:
    """The caller's country as the trusted proxy's header gives it (settings.country_header), else None
    (unset, absent, or not a country: "XX" unknown)."""
    header = ctx.settings.country_header
    if not header or ctx.request is None:
        return None
    value = (ctx.request.headers.get(header) or "").strip().upper()
    return value if len(value) == 2 and value.isalpha() and value.isascii() and value != "XX" else None


def _user_id(ctx: Context) -> int:
    assert ctx.actor.user_id is not None
    return ctx.actor.user_id


@strawberry.type
class IdentityQueries:
    @strawberry.field(permission_classes=[Public.or_token("profile.read", "ib.tree.read")],
                      description="The signed-in user (or an API token's owner), or null.")
    async def me(self, info: Ctx) -> Viewer | None:
        actor = info.context.actor
        if actor.user_id is None or not actor.is_authenticated:
            return None
        async with info.context.session() as session:
            return await viewer_for(session, actor.user_id, actor.permissions)

    @strawberry.field(permission_classes=[IsAuthenticated],
                      description="Your in-app notifications, newest first, with their read state.")
    async def my_notifications(self, info: Ctx, first: int | None = None, after: str | None = None,
                               last: int | None = None, before: str | None = None,
                               unread_only: bool = False) -> Connection[Notification]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await notifications.list_for(session, _user_id(info.context), req, unread_only=unread_only)
        return to_connection(page, Notification.from_row, lambda r: (r.created_at, r.id))

    @strawberry.field(permission_classes=[IsAuthenticated], description="How many of your notifications are unread.")
    async def my_unread_notification_count(self, info: Ctx) -> int:
        async with info.context.session() as session:
            return await notifications.unread_count(session, _user_id(info.context))

    @strawberry.field(permission_classes=[IsAuthenticated], description="Your signed-in devices.")
    async def my_sessions(self, info: Ctx, first: int | None = None,
                          after: str | None = None, last: int | None = None,
                          before: str | None = None) -> Connection[Session]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await sessions.active_sessions(session, _user_id(info.context), req)
        return to_connection(page, lambda r: Session.from_row(r, info.context.actor.session_id),
                             lambda r: (r.created_at, r.id))

    @strawberry.field(permission_classes=[IsAuthenticated], description="Your API tokens, oldest first.")
    async def my_api_tokens(self, info: Ctx, first: int | None = None,
                            after: str | None = None, last: int | None = None,
                            before: str | None = None) -> Connection[ApiToken]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await api_tokens.list_for(session, _user_id(info.context), req)
        return to_connection(page, ApiToken.from_row, lambda r: (r.created_at, r.id))

    @strawberry.field(permission_classes=[Requires("staff.manage")])
    async def roles(self, info: Ctx) -> list[Role]:
        async with info.context.session() as session:
            return [Role.from_row(r) for r in await session.scalars(select(RoleRow).order_by(RoleRow.name))]

    @strawberry.field(permission_classes=[Requires("staff.manage")], description="The permission catalogue.")
    def permissions(self) -> list[Permission]:
        return [Permission(code=c, description=d) for c, d in sorted(PERMISSIONS.items())]

    @strawberry.field(permission_classes=[Requires("staff.manage")], description="Staff members, oldest first.")
    async def staff_users(self, info: Ctx, first: int | None = None,
                          after: str | None = None, last: int | None = None,
                          before: str | None = None) -> Connection[StaffUser]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await roles.staff_users(session, req)
            staff = await _staff_users(session, list(page.items))
            converted = dict(zip([u.id for u in page.items], staff, strict=True))
        return to_connection(page, lambda u: converted[u.id], lambda u: (u.created_at, u.id))

    @strawberry.field(permission_classes=[Requires("staff.manage")],
                      description="Staff changes waiting for a second staff member, oldest first.")
    async def pending_staff_changes(self, info: Ctx, first: int | None = None,
                                    after: str | None = None, last: int | None = None,
                                    before: str | None = None) -> Connection[StaffChangeRequest]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await staff_changes.pending(session, page=req)
        return to_connection(page, StaffChangeRequest.of, lambda c: (c.created_at, c.id))


async def _staff_users(session: AsyncSession, users: list[User]) -> list[StaffUser]:
    provenance = await four_eyes.provenance_of(session, [u.id for u in users])
    return [StaffUser(id=global_id("StaffUser", u.id), database_id=strawberry.ID(str(u.id)), email=u.email,
                      display_name=u.display_name, desk=u.desk,
                      roles=await roles.roles_of(session, u.id), two_factor_enabled=u.totp_enabled_at is not None,
                      status=u.status, provenance=[StaffGrant.of(e) for e in provenance[u.id]]) for u in users]


@node_type("Session")
async def _session_nodes(ctx: Context, keys: Sequence[int]) -> list[Session | None]:
    """Your own signed-in devices, as mySessions (a revoked one is gone)."""
    async with ctx.session() as session:
        rows = {r.id: r for r in await sessions.active_by_ids(session, ctx.actor.user_id or -1, keys)}
    return [Session.from_row(r, ctx.actor.session_id) if (r := rows.get(k)) else None for k in keys]


@node_type("ApiToken")
async def _token_nodes(ctx: Context, keys: Sequence[int]) -> list[ApiToken | None]:
    """Your own API tokens, as myApiTokens."""
    async with ctx.session() as session:
        rows = {r.id: r for r in await api_tokens.owned_by_ids(session, ctx.actor.user_id or -1, keys)}
    return [ApiToken.from_row(r) if (r := rows.get(k)) else None for k in keys]


def _staff_manager(ctx: Context) -> bool:
    return ctx.actor.kind is ActorKind.STAFF and ctx.actor.has("staff.manage")


@node_type("Role")
async def _role_nodes(ctx: Context, keys: Sequence[int]) -> list[Role | None]:
    """Staff with staff.manage, as roles."""
    if not _staff_manager(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        rows = {r.id: r for r in await session.scalars(select(RoleRow).where(RoleRow.id.in_(keys)))}
    return [Role.from_row(r) if (r := rows.get(k)) else None for k in keys]


@node_type("StaffUser")
async def _staff_user_nodes(ctx: Context, keys: Sequence[int]) -> list[StaffUser | None]:
    """Staff with staff.manage, as staffUsers."""
    if not _staff_manager(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        users = list(await session.scalars(select(User).where(User.is_staff, User.id.in_(keys))))
        found = {int(u.database_id): u for u in await _staff_users(session, users)}
    return [found.get(k) for k in keys]


@node_type("StaffChangeRequest")
async def _staff_change_nodes(ctx: Context, keys: Sequence[int]) -> list[StaffChangeRequest | None]:
    """Staff with staff.manage, as pendingStaffChanges (and the decided ones approve/reject answer with)."""
    if not _staff_manager(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await staff_changes.changes_by_ids(session, list(keys))
    return [StaffChangeRequest.of(c) if (c := found.get(k)) else None for k in keys]


def _int_id(value: strawberry.ID | str, type_name: str = "StaffUser", field: str = "userId") -> int:
    return key_of(value, type_name, field=field)


@strawberry.type
class IdentityMutations:
    @declares_errors(
        "ACCOUNT_DISABLED", "DISPOSABLE_EMAIL", "DUPLICATE_REGISTRATION", "EMAIL_TAKEN",
        "IB_CHANGE_BEFORE_LAST_CHANGE", "IB_CLIENT_ALREADY_ATTRIBUTED", "IB_CLIENT_NOT_FOUND",
        "IB_REFERRAL_CODE_UNKNOWN", "IB_SELF_REFERRAL", "INVALID_CREDENTIALS", "INVALID_EMAIL",
        "PASSWORD_LOGIN_DISABLED", "RATE_LIMITED", "TOTP_INVALID", "TOTP_REPLAYED", "TOTP_REQUIRED", "WEAK_PASSWORD",
    )
    @strawberry.mutation(description="Create a client account (its onboarding record and the verification "
                                     "email included) and sign in.")
    async def register(self, info: Ctx, input: RegisterInput) -> AuthPayload:
        from domain.clients.registration import register_client

        ctx = info.context

        async def txn(session: AsyncSession) -> Outcome[Tokens]:
            await register_client(session, ctx.settings, ctx.actor, email=input.email, password=input.password,
                                  display_name=input.display_name)
            return await sessions.login(session, ctx.settings, ctx.services.redis, ctx.actor, email=input.email,
                                        password=input.password, totp_code=None, device="registration")

        async def work() -> AuthPayload:
            return await _auth_payload(ctx, await ctx.transaction(txn), cookie=False)

        return await payload_or_errors(work, lambda errors: AuthPayload(errors=errors))

    @declares_errors(
        "ACCOUNT_DISABLED", "INVALID_CREDENTIALS", "INVALID_EMAIL", "PASSWORD_LOGIN_DISABLED", "RATE_LIMITED",
        "TOTP_INVALID", "TOTP_REPLAYED", "TOTP_REQUIRED",
    )
    @strawberry.mutation(description="Sign in with email and password (+ a TOTP code when 2FA is on).")
    async def login(self, info: Ctx, input: LoginInput) -> AuthPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> Outcome[Tokens]:
            return await sessions.login(session, ctx.settings, ctx.services.redis, ctx.actor, email=input.email,
                                        password=input.password, totp_code=input.totp_code,
                                        device=input.device or (ctx.actor.user_agent or "")[:200],
                                        country=request_country(ctx))

        async def work() -> AuthPayload:
            return await _auth_payload(ctx, await ctx.transaction(txn), cookie=input.cookie)

        return await payload_or_errors(work, lambda errors: AuthPayload(errors=errors))

    @declares_errors("ACCOUNT_DISABLED", "REFRESH_TOKEN_REUSED", "TOKEN_EXPIRED", "TOKEN_INVALID")
    @strawberry.mutation(description="Exchange a refresh token (or the refresh cookie) for new tokens.")
    async def refresh_token(self, info: Ctx, refresh_token: str | None = None) -> AuthPayload:
        ctx = info.context
        from_cookie = refresh_token is None
        token = refresh_token if refresh_token is not None else ctx.request.cookies.get(REFRESH_COOKIE, "")

        async def txn(session: AsyncSession) -> Outcome[Tokens]:
            return await sessions.refresh(session, ctx.settings, ctx.actor, refresh_token=token)

        async def work() -> AuthPayload:
            return await _auth_payload(ctx, await ctx.transaction(txn), cookie=from_cookie)

        return await payload_or_errors(work, lambda errors: AuthPayload(errors=errors))

    @declares_errors("NOT_FOUND", "SESSION_NOT_FOUND")
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Sign out this device. API tokens keep working (a partner feed is not a "
                                     "device); `logoutEverywhere` or a password reset revokes them.")
    async def logout(self, info: Ctx) -> OkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> OkPayload:
            if ctx.actor.session_id is None:
                raise DomainError("API tokens are revoked, not signed out", code="SESSION_NOT_FOUND")
            await sessions.revoke_session(session, ctx.actor, ctx.actor.session_id, reason="logout")
            return OkPayload(ok=True)

        result = await _mutate(ctx, txn, lambda e: OkPayload(errors=e))
        if result.ok and ctx.response is not None and hasattr(ctx.response, "delete_cookie"):
            ctx.response.delete_cookie(ACCESS_COOKIE, path="/")
            ctx.response.delete_cookie(REFRESH_COOKIE, path="/graphql")
        return result

    @declares_errors()
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Sign out every device and revoke every API token you made: this is the "
                                     "answer to a lost device or a leaked password, and a token minted from a "
                                     "session you no longer trust is no safer than that session. (`logout` signs "
                                     "out this device only and leaves API tokens working.)")
    async def logout_everywhere(self, info: Ctx) -> OkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> OkPayload:
            await sessions.revoke_all_sessions(session, ctx.actor, _user_id(ctx), reason="logout_everywhere")
            await api_tokens.revoke_all(session, ctx.actor, _user_id(ctx), reason="logout_everywhere")
            return OkPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: OkPayload(errors=e))

    @declares_errors("INVALID_ID", "NOT_FOUND", "SESSION_NOT_FOUND")
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Sign out one of your devices.")
    async def revoke_session(self, info: Ctx, session_id: AnyId) -> OkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> OkPayload:
            sid = key_of(session_id, "Session", field="sessionId")
            await sessions.revoke_session(session, ctx.actor, sid, reason="revoked_by_user")
            return OkPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: OkPayload(errors=e))

    @declares_errors("NOT_FOUND", "TOTP_ALREADY_ENABLED")
    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def start_totp_enrollment(self, info: Ctx) -> TotpEnrollmentPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> TotpEnrollmentPayload:
            secret, uri = await totp.start_enrollment(session, ctx.settings, ctx.actor)
            return TotpEnrollmentPayload(secret=secret, provisioning_uri=uri)

        return await _mutate(ctx, txn, lambda e: TotpEnrollmentPayload(errors=e))

    @declares_errors("NOT_FOUND", "TOTP_ALREADY_ENABLED", "TOTP_INVALID", "TOTP_NOT_ENABLED", "TOTP_REPLAYED")
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Turn 2FA on with a first code.")
    async def confirm_totp_enrollment(self, info: Ctx, code: str) -> RecoveryCodesPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> RecoveryCodesPayload:
            return RecoveryCodesPayload(recovery_codes=await totp.confirm_enrollment(session, ctx.settings,
                                                                                    ctx.actor, code))

        return await _mutate(ctx, txn, lambda e: RecoveryCodesPayload(errors=e))

    @declares_errors("NOT_FOUND", "RATE_LIMITED", "TOTP_INVALID", "TOTP_NOT_ENABLED", "TOTP_REPLAYED")
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Confirm a sensitive operation with a fresh 2FA code (valid a few minutes).")
    async def step_up(self, info: Ctx, code: str) -> OkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> DomainError | None:
            return await totp.step_up(session, ctx.settings, ctx.services.redis, ctx.actor, code)

        async def work() -> OkPayload:
            problem = await ctx.transaction(txn)
            return OkPayload(errors=[user_error(problem)]) if problem else OkPayload(ok=True)

        return await payload_or_errors(work, lambda e: OkPayload(errors=e))

    @declares_errors("NOT_FOUND", "STEP_UP_REQUIRED", "TOTP_ALREADY_ENABLED", "TOTP_NOT_ENABLED")
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Turn 2FA off (needs a step-up).")
    async def disable_totp(self, info: Ctx) -> OkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> OkPayload:
            await totp.disable(session, ctx.settings, ctx.actor)
            return OkPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: OkPayload(errors=e))

    @declares_errors("INVALID_EMAIL", "RATE_LIMITED")
    @strawberry.mutation(description="Email a reset link. Answers the same whether or not the email exists.")
    async def request_password_reset(self, info: Ctx, email: str) -> OkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> OkPayload:
            await links.request_password_reset(session, ctx.settings, ctx.services.redis, ctx.actor, email)
            return OkPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: OkPayload(errors=e))

    @declares_errors("TOKEN_INVALID", "WEAK_PASSWORD")
    @strawberry.mutation(description="Choose a new password with the emailed link's token; signs out everywhere "
                                     "and revokes every API token (the old password may have been someone else's).")
    async def reset_password(self, info: Ctx, token: str, new_password: str) -> OkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> OkPayload:
            await links.reset_password(session, ctx.settings, ctx.actor, token, new_password)
            return OkPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: OkPayload(errors=e))

    @declares_errors("INVALID_CREDENTIALS", "NOT_FOUND", "STEP_UP_REQUIRED", "WEAK_PASSWORD")
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Needs a step-up.")
    async def change_password(self, info: Ctx, current_password: str, new_password: str) -> OkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> OkPayload:
            await links.change_password(session, ctx.settings, ctx.actor, current_password, new_password)
            return OkPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: OkPayload(errors=e))

    @declares_errors("EMAIL_TAKEN", "INVALID_EMAIL", "STEP_UP_REQUIRED")
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Needs a step-up; emails the new address.")
    async def request_email_change(self, info: Ctx, new_email: str) -> OkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> OkPayload:
            await links.request_email_change(session, ctx.settings, ctx.actor, new_email)
            return OkPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: OkPayload(errors=e))

    @declares_errors("EMAIL_TAKEN", "INVALID_EMAIL", "TOKEN_INVALID")
    @strawberry.mutation(description="Confirm a new email address with the emailed link's token.")
    async def confirm_email_change(self, info: Ctx, token: str) -> OkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> OkPayload:
            await links.confirm_email_change(session, ctx.actor, token)
            return OkPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: OkPayload(errors=e))

    @declares_errors("INVALID_SCOPE", "SCOPE_NOT_ALLOWED", "STEP_UP_REQUIRED", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Needs a step-up. The secret is shown once. Scopes must apply to you: a staff "
                                     "permission you hold, `ib.tree.read` for an IB, `profile.read` for a client "
                                     "or IB (SCOPE_NOT_ALLOWED otherwise, INVALID_SCOPE for an unknown one). A "
                                     "token runs only the operations its scopes declare; it is revoked by "
                                     "`logoutEverywhere` and by a password reset, not by `logout`.")
    async def create_api_token(self, info: Ctx, input: CreateApiTokenInput) -> ApiTokenPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> ApiTokenPayload:
            created = await api_tokens.create(session, ctx.settings, ctx.actor, name=input.name, scopes=input.scopes,
                                              expires_in_days=input.expires_in_days)
            return ApiTokenPayload(api_token=ApiToken.from_row(created.token), token=created.plaintext)

        return await _mutate(ctx, txn, lambda e: ApiTokenPayload(errors=e))

    @declares_errors("INVALID_ID", "NOT_FOUND")
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Mark one of your notifications read (one already read keeps its readAt); "
                                     "anyone else's is NOT_FOUND.")
    async def mark_notification_read(self, info: Ctx, id: strawberry.ID) -> NotificationPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> NotificationPayload:
            row = await notifications.mark_read(session, ctx.actor, key_of(id, "Notification", raw=False))
            return NotificationPayload(notification=Notification.from_row(row),
                                       unread_count=await notifications.unread_count(session, _user_id(ctx)))

        return await _mutate(ctx, txn, lambda e: NotificationPayload(errors=e))

    @declares_errors()
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Mark all your notifications read.")
    async def mark_all_notifications_read(self, info: Ctx) -> MarkAllNotificationsReadPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> MarkAllNotificationsReadPayload:
            return MarkAllNotificationsReadPayload(marked=await notifications.mark_all_read(session, ctx.actor))

        return await _mutate(ctx, txn, lambda e: MarkAllNotificationsReadPayload(errors=e))

    @declares_errors("INVALID_ID", "NOT_FOUND")
    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def revoke_api_token(self, info: Ctx, id: AnyId) -> ApiTokenPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> ApiTokenPayload:
            row = await api_tokens.revoke(session, ctx.actor, key_of(id, "ApiToken"))
            return ApiTokenPayload(api_token=ApiToken.from_row(row))

        return await _mutate(ctx, txn, lambda e: ApiTokenPayload(errors=e))

    @declares_errors("ROLE_EXISTS", "UNKNOWN_PERMISSION", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("staff.manage")])
    async def create_role(self, info: Ctx, input: CreateRoleInput) -> RolePayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> RolePayload:
            row = await roles.create_role(session, ctx.actor, name=input.name, description=input.description,
                                          permissions=input.permissions)
            return RolePayload(role=Role.from_row(row))

        return await _mutate(ctx, txn, lambda e: RolePayload(errors=e))

    @declares_errors(
        "BUILTIN_ROLE", "INVALID_ID", "NOT_FOUND", "PERMISSION_DENIED", "STEP_UP_REQUIRED", "UNKNOWN_PERMISSION",
    )
    @strawberry.mutation(permission_classes=[Requires("staff.manage")],
                         description="Adding privileged permissions needs a step-up and waits for a second "
                                     "staff member (pending).")
    async def set_role_permissions(self, info: Ctx, role_id: AnyId, permissions: list[str]) -> RolePayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> RolePayload:
            row, change = await staff_changes.set_role_permissions(session, ctx.settings, ctx.actor,
                                                                   _int_id(role_id, "Role", "roleId"), permissions)
            return RolePayload(role=Role.from_row(row), pending=change is not None,
                               request=None if change is None else StaffChangeRequest.of(change))

        return await _mutate(ctx, txn, lambda e: RolePayload(errors=e))

    @declares_errors("INVALID_ID", "NOT_FOUND", "PERMISSION_DENIED", "STEP_UP_REQUIRED")
    @strawberry.mutation(permission_classes=[Requires("staff.manage")],
                         description="A role with privileged permissions needs a step-up and waits for a second "
                                     "staff member (pending); others apply at once.")
    async def assign_role(self, info: Ctx, user_id: AnyId, role: str) -> RoleGrantPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> RoleGrantPayload:
            change = await staff_changes.grant_role(session, ctx.settings, ctx.actor, _int_id(user_id), role)
            return RoleGrantPayload(ok=True, pending=change is not None,
                                    request=None if change is None else StaffChangeRequest.of(change))

        return await _mutate(ctx, txn, lambda e: RoleGrantPayload(errors=e))

    @declares_errors(
        "BUILTIN_ROLE", "FOUR_EYES_RELATED_APPROVER", "INVALID_ID", "NOT_FOUND", "PERMISSION_DENIED",
        "SELF_APPROVAL_FORBIDDEN", "STAFF_CHANGE_NOT_FOUND", "STAFF_CHANGE_NOT_PENDING", "STEP_UP_REQUIRED",
        "UNKNOWN_PERMISSION",
    )
    @strawberry.mutation(permission_classes=[Requires("staff.manage")],
                         description="Approve another staff member's pending staff change (needs a step-up; not "
                                     "the requester, the user concerned, nor anyone related to them).")
    async def approve_staff_change(self, info: Ctx, id: AnyId) -> StaffChangePayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> StaffChangePayload:
            change = await staff_changes.approve(session, ctx.settings, ctx.actor,
                                                 _int_id(id, "StaffChangeRequest", "id"))
            return StaffChangePayload(request=StaffChangeRequest.of(change))

        return await _mutate(ctx, txn, lambda e: StaffChangePayload(errors=e))

    @declares_errors(
        "INVALID_ID", "PERMISSION_DENIED", "STAFF_CHANGE_NOT_FOUND", "STAFF_CHANGE_NOT_PENDING", "VALIDATION_FAILED",
    )
    @strawberry.mutation(permission_classes=[Requires("staff.manage")],
                         description="Refuse a pending staff change (the requester may withdraw their own).")
    async def reject_staff_change(self, info: Ctx, id: AnyId, reason: str) -> StaffChangePayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> StaffChangePayload:
            change = await staff_changes.reject(session, ctx.actor, _int_id(id, "StaffChangeRequest", "id"), reason)
            return StaffChangePayload(request=StaffChangeRequest.of(change))

        return await _mutate(ctx, txn, lambda e: StaffChangePayload(errors=e))

    @declares_errors("INVALID_ID", "NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires("staff.manage")])
    async def unassign_role(self, info: Ctx, user_id: AnyId, role: str) -> OkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> OkPayload:
            await roles.unassign(session, ctx.actor, _int_id(user_id), role)
            return OkPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: OkPayload(errors=e))

    @declares_errors(
        "EMAIL_TAKEN", "INVALID_EMAIL", "NOT_FOUND", "PERMISSION_DENIED", "STEP_UP_REQUIRED", "VALIDATION_FAILED",
        "WEAK_PASSWORD",
    )
    @strawberry.mutation(permission_classes=[Requires("staff.manage")],
                         description="Create a staff user (needs a step-up). They can sign in, with the roles "
                                     "asked for, once a second staff member approves the request; then they must "
                                     "enrol 2FA before any permission applies.")
    async def create_staff_user(self, info: Ctx, input: CreateStaffUserInput) -> StaffUserPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> StaffUserPayload:
            user, change = await staff_changes.create_staff(
                session, ctx.settings, ctx.actor, email=input.email, password=input.password,
                display_name=input.display_name, desk=input.desk, role_names=input.roles)
            return StaffUserPayload(staff_user=(await _staff_users(session, [user]))[0],
                                    request=StaffChangeRequest.of(change))

        return await _mutate(ctx, txn, lambda e: StaffUserPayload(errors=e))


def _notification(event: Event) -> Notification:
    p = event.payload
    return Notification.of(int(p["notification_id"]), str(p["kind"]), str(p["message"]), p.get("details") or {},
                           datetime.fromisoformat(str(p["created_at"])), None)


@node_type("Notification")
async def _notification_nodes(ctx: Context, keys: Sequence[int]) -> list[Notification | None]:
    """Your own notifications, as myNotifications."""
    async with ctx.session() as session:
        rows = {r.id: r for r in await notifications.owned_by_ids(session, ctx.actor.user_id or -1, keys)}
    return [Notification.from_row(r) if (r := rows.get(k)) else None for k in keys]


@strawberry.type
class IdentitySubscriptions:
    @strawberry.subscription(permission_classes=[IsAuthenticated], description="Your notifications, live.")
    async def notifications(self, info: Ctx) -> AsyncGenerator[Notification, None]:
        ctx = info.context
        async with ctx.subscribe_own(info, NOTIFICATION_TOPIC) as sub:
            while True:
                notification = converted(await ctx.next_event(sub), _notification)
                if notification is not None:
                    yield notification


QUERIES = (IdentityQueries,)
MUTATIONS = (IdentityMutations,)
SUBSCRIPTIONS = (IdentitySubscriptions,)
