from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain.identity.four_eyes import ProvenanceEntry
from domain.identity.models import ApiToken as ApiTokenRow
from domain.identity.models import AuthSession as AuthSessionRow
from domain.identity.models import Role as RoleRow
from domain.identity.notifications import NotificationRow
from domain.identity.staff_changes import StaffChange
from schema.errors import UserError
from schema.node import DATABASE_ID_DOC, Node, bare_id_deprecation, global_id, optional_global_id
from schema.scalars import Money


@strawberry.type(description="The signed-in user.")
class Viewer:
    id: strawberry.ID
    email: str
    display_name: str
    is_client: bool
    is_ib: bool
    is_staff: bool
    two_factor_enabled: bool
    permissions: list[str]
    roles: list[str]
    email_verified: bool


@strawberry.type(description="A signed-in device; revoke it to sign that device out.")
class Session(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    device: str
    ip: str | None
    created_at: datetime
    last_seen_at: datetime
    current: bool

    @classmethod
    def from_row(cls, row: AuthSessionRow, current_id: int | None) -> Session:
        return cls(id=global_id("Session", row.id), database_id=strawberry.ID(str(row.id)), device=row.device,
                   ip=str(row.ip) if row.ip else None,
                   created_at=row.created_at, last_seen_at=row.last_seen_at, current=row.id == current_id)


@strawberry.type
class ApiToken(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    name: str
    last_four: str
    scopes: list[str]
    expires_at: datetime
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool

    @classmethod
    def from_row(cls, row: ApiTokenRow) -> ApiToken:
        return cls(id=global_id("ApiToken", row.id), database_id=strawberry.ID(str(row.id)), name=row.name,
                   last_four=row.last_four, scopes=list(row.scopes), expires_at=row.expires_at,
                   created_at=row.created_at, last_used_at=row.last_used_at,
                   revoked=row.revoked_at is not None)


@strawberry.type
class Role(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    name: str
    description: str
    builtin: bool
    permissions: list[str]

    @classmethod
    def from_row(cls, row: RoleRow) -> Role:
        return cls(id=global_id("Role", row.id), database_id=strawberry.ID(str(row.id)), name=row.name,
                   description=row.description, builtin=row.builtin, permissions=list(row.permissions))


@strawberry.type
class Permission:
    code: str
    description: str


@strawberry.type
class StaffUser(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    email: str
    display_name: str
    desk: str | None
    roles: list[str]
    two_factor_enabled: bool
    status: str = strawberry.field(description="active, pending_approval (created, waiting for a second "
                                               "staff member), locked, disabled")
    provenance: list[StaffGrant] = strawberry.field(
        default_factory=list, description="Who created this user, granted them roles or approved either, "
                                          "oldest first: none of them may be their second pair of eyes.")


@strawberry.type(description="One step of a staff user's provenance.")
class StaffGrant:
    kind: str = strawberry.field(description="created | granted | approved")
    actor_id: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("actorStaffUserId"))
    actor_staff_user_id: strawberry.ID = strawberry.field(description="The staff user who acted: its global id.")
    role: str | None
    request_id: strawberry.ID | None = strawberry.field(deprecation_reason=bare_id_deprecation("staffChangeRequestId"))
    staff_change_request_id: strawberry.ID | None = strawberry.field(
        description="The StaffChangeRequest's global id (none for grants made before four eyes).")
    at: datetime

    @classmethod
    def of(cls, e: ProvenanceEntry) -> StaffGrant:
        return cls(kind=e.kind, actor_id=strawberry.ID(str(e.actor_id)),
                   actor_staff_user_id=global_id("StaffUser", e.actor_id),
                   staff_change_request_id=optional_global_id("StaffChangeRequest", e.request_id), role=e.role,
                   request_id=None if e.request_id is None else strawberry.ID(str(e.request_id)), at=e.created_at)


@strawberry.type(description="A staff change waiting for (or decided by) a second staff member with staff.manage.")
class StaffChangeRequest(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    kind: str = strawberry.field(description="create_staff | grant_role | set_role_permissions")
    status: str = strawberry.field(description="pending | approved | rejected")
    target_user_id: strawberry.ID | None = strawberry.field(deprecation_reason=bare_id_deprecation("targetStaffUserId"))
    target_staff_user_id: strawberry.ID | None = strawberry.field(
        description="The staff user concerned: its global id (StaffUser.id).")
    role: str | None
    roles: list[str]
    permissions: list[str]
    requested_by: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("requestedById"))
    requested_by_id: strawberry.ID = strawberry.field(description="The requester's global id (StaffUser.id).")
    decided_by: strawberry.ID | None = strawberry.field(deprecation_reason=bare_id_deprecation("decidedById"))
    decided_by_id: strawberry.ID | None = strawberry.field(description="The decider's global id (StaffUser.id).")
    decision_reason: str | None
    created_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, c: StaffChange) -> StaffChangeRequest:
        def opt(v: int | None) -> strawberry.ID | None:
            return None if v is None else strawberry.ID(str(v))

        return cls(id=global_id("StaffChangeRequest", c.id), database_id=strawberry.ID(str(c.id)), kind=c.kind,
                   status=c.status, target_user_id=opt(c.target_user_id),
                   target_staff_user_id=optional_global_id("StaffUser", c.target_user_id),
                   requested_by_id=global_id("StaffUser", c.requested_by),
                   decided_by_id=optional_global_id("StaffUser", c.decided_by),
                   role=c.payload.get("role"), roles=list(c.payload.get("roles", [])),
                   permissions=list(c.payload.get("permissions", [])), requested_by=strawberry.ID(str(c.requested_by)),
                   decided_by=opt(c.decided_by), decision_reason=c.decision_reason, created_at=c.created_at,
                   decided_at=c.decided_at)


@strawberry.type
class StaffChangePayload:
    request: StaffChangeRequest | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RoleGrantPayload:
    ok: bool = strawberry.field(default=False, description="The grant was accepted (applied, or filed when pending).")
    pending: bool = strawberry.field(default=False, description="A privileged role: it applies once a second "
                                                                "staff member approves the request.")
    request: StaffChangeRequest | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AuthPayload:
    access_token: str | None = None
    refresh_token: str | None = strawberry.field(
        default=None, description="Omitted when the cookie option is used (then it is an httpOnly cookie)."
    )
    expires_in: int | None = None
    viewer: Viewer | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class OkPayload:
    ok: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TotpEnrollmentPayload:
    secret: str | None = None
    provisioning_uri: str | None = strawberry.field(default=None, description="otpauth:// URI for a QR code")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecoveryCodesPayload:
    recovery_codes: list[str] | None = strawberry.field(default=None, description="Shown once; store them safely.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ApiTokenPayload:
    api_token: ApiToken | None = None
    token: str | None = strawberry.field(default=None, description="The secret, shown once.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RolePayload:
    role: Role | None = None
    pending: bool = strawberry.field(default=False, description="Privileged permissions were added: they apply "
                                                                "once a second staff member approves the request.")
    request: StaffChangeRequest | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class StaffUserPayload:
    staff_user: StaffUser | None = None
    request: StaffChangeRequest | None = strawberry.field(
        default=None, description="The user cannot sign in until a second staff member approves this.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="An in-app notification, kept with its read state (the same on every device).")
class Notification(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    kind: str
    created_at: datetime
    message: str = strawberry.field(description="In English; a portal may word a known kind itself from the "
                                                "fields below, in the user's language.")
    reference: str | None = strawberry.field(default=None, description="A payment notification's payment reference.")
    amount: Money | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="A payment notification's amount, at its currency's scale.")
    currency: str | None = strawberry.field(default=None, description="The amount's currency.")
    read_at: datetime | None = strawberry.field(
        default=None, description="When its owner marked it read (`markNotificationRead`); null while unread.")

    @classmethod
    def of(cls, notification_id: int, kind: str, message: str, details: dict[str, str],
           created_at: datetime, read_at: datetime | None) -> Notification:
        amount = details.get("amount")
        return cls(id=global_id("Notification", notification_id), database_id=strawberry.ID(str(notification_id)),
                   kind=kind, message=message,
                   reference=details.get("reference"), amount=Decimal(amount) if amount else None,
                   currency=details.get("currency"), created_at=created_at, read_at=read_at)

    @classmethod
    def from_row(cls, row: NotificationRow) -> Notification:
        return cls.of(row.id, row.kind, row.message, row.details or {}, row.created_at, row.read_at)


@strawberry.type
class NotificationPayload:
    notification: Notification | None = None
    unread_count: int | None = strawberry.field(default=None, description="Your unread notifications after this.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MarkAllNotificationsReadPayload:
    marked: int | None = strawberry.field(default=None, description="How many were unread until now.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RegisterInput:
    email: str
    password: str
    display_name: str = ""


@strawberry.input
class LoginInput:
    email: str
    password: str
    totp_code: str | None = None
    device: str = ""
    cookie: bool = strawberry.field(default=False, description="Set httpOnly cookies instead of returning tokens.")


@strawberry.input
class CreateApiTokenInput:
    name: str
    scopes: list[str]
    expires_in_days: int = 90


@strawberry.input
class CreateRoleInput:
    name: str
    description: str = ""
    permissions: list[str] = strawberry.field(default_factory=list)


@strawberry.input
class CreateStaffUserInput:
    email: str
    password: str
    display_name: str = ""
    roles: list[str] = strawberry.field(default_factory=list)
    desk: str | None = None
