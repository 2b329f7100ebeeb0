from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from domain.notifications.devices import Device as DeviceRow
from schema.errors import UserError
from schema.node import DATABASE_ID_DOC, Node, global_id


@strawberry.enum(description="Where a device takes push from: Android and web through FCM, iOS through APNs.")
class DevicePlatform(Enum):
    ANDROID = "android"
    IOS = "ios"
    WEB = "web"


@strawberry.type(description="One of your app installs that takes push notifications.")
class Device(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    platform: DevicePlatform
    token_last_four: str = strawberry.field(description="The push token's last four characters (never the token).")
    app_version: str
    language: str = strawberry.field(description="The language its push texts are written in.")
    registered_at: datetime
    updated_at: datetime
    this_session: bool = strawberry.field(description="Registered by the session asking (signing out removes it).")

    @classmethod
    def from_row(cls, row: DeviceRow, session_id: int | None) -> Device:
        return cls(id=global_id("Device", row.id), database_id=strawberry.ID(str(row.id)),
                   platform=DevicePlatform(row.platform), token_last_four=row.token[-4:],
                   app_version=row.app_version, language=row.language, registered_at=row.created_at,
                   updated_at=row.updated_at, this_session=session_id is not None and row.session_id == session_id)


@strawberry.input
class RegisterDeviceInput:
    platform: DevicePlatform
    token: str = strawberry.field(description="The provider's token: an FCM registration token or an APNs device "
                                              "token (hex).")
    app_version: str = ""
    language: str = strawberry.field(default="en", description="BCP 47, e.g. en or es-MX; texts fall back to en.")


@strawberry.type
class DevicePayload:
    device: Device | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RemoveDevicePayload:
    removed: bool | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.enum(description="Where a notification reaches you.")
class NotificationChannel(Enum):
    PUSH = "push"
    EMAIL = "email"
    IN_APP = "in_app"


@strawberry.type(description="Whether you get one kind of notification on one channel.")
class NotificationPreference:
    kind: str
    channel: NotificationChannel
    enabled: bool
    mandatory: bool = strawberry.field(description="A security or regulatory notice: it cannot be turned off.")


@strawberry.type
class NotificationPreferencePayload:
    preference: NotificationPreference | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
