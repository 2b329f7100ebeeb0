from __future__ import annotations

from datetime import datetime

import strawberry

from domain.identity.models import ApiToken as ApiTokenRow
from domain.identity.models import AuthSession as AuthSessionRow
from domain.identity.models import Role as RoleRow
from schema.errors import UserError


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
class Session:
    id: strawberry.ID
    device: str
    ip: str | None
    created_at: datetime
    last_seen_at: datetime
    current: bool

    @classmethod
    def from_row(cls, row: AuthSessionRow, current_id: int | None) -> Session:
        return cls(id=strawberry.ID(str(row.id)), device=row.device, ip=str(row.ip) if row.ip else None,
                   created_at=row.created_at, last_seen_at=row.last_seen_at, current=row.id == current_id)


@strawberry.type
class ApiToken:
    id: strawberry.ID
    name: str
    last_four: str
    scopes: list[str]
    expires_at: datetime
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool

    @classmethod
    def from_row(cls, row: ApiTokenRow) -> ApiToken:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, last_four=row.last_four, scopes=list(row.scopes),
                   expires_at=row.expires_at, created_at=row.created_at, last_used_at=row.last_used_at,
                   revoked=row.revoked_at is not None)


@strawberry.type
class Role:
    id: strawberry.ID
    name: str
    description: str
    builtin: bool
    permissions: list[str]

    @classmethod
    def from_row(cls, row: RoleRow) -> Role:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, description=row.description, builtin=row.builtin,
                   permissions=list(row.permissions))


@strawberry.type
class Permission:
    code: str
    description: str


@strawberry.type
class StaffUser:
    id: strawberry.ID
    email: str
    display_name: str
    desk: str | None
    roles: list[str]
    two_factor_enabled: bool
    status: str


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
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class StaffUserPayload:
    staff_user: StaffUser | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class Notification:
    kind: str
    message: str


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
