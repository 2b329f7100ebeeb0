"""The user's devices that take push: registered by the app after sign-in, several per user.

A token is one app install, unique across users: registering it again updates the row (app version, language,
session), and one registered by another user moves to them (the phone changed hands; the previous owner's pushes
must not reach it). A device is removed by its owner, when the session it was registered with is revoked
(migration 0072's trigger) and when the provider says its token is dead."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.audit.service import record
from domain.notifications.errors import InvalidAppVersion, InvalidDeviceToken, InvalidLanguage
from domain.shared.actor import Actor
from domain.shared.db import Base, driver
from domain.shared.errors import NotFound


class Platform(StrEnum):
    ANDROID = "android"  # FCM
    IOS = "ios"  # APNs
    WEB = "web"  # FCM (web push through Firebase)


PROVIDER = {Platform.ANDROID: "fcm", Platform.WEB: "fcm", Platform.IOS: "apns"}
LANGUAGES = ("en", "es")  # the languages push and e-mail texts are written in
_TOKEN = re.compile(r"[\x21-\x7e]{8,4096}")  # FCM: base64url and ':'; APNs: 64 hex digits
_LANGUAGE = re.compile(r"[a-z]{2}(-[A-Z]{2})?")
_VERSION = re.compile(r"[0-9A-Za-z.+_-]{0,32}")


class Device(Base):
    __tablename__ = "push_devices"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("auth_sessions.id", ondelete="SET NULL"))
    platform: Mapped[str] = mapped_column(String(8))
    token: Mapped[str] = mapped_column(String(4096), unique=True)
    app_version: Mapped[str] = mapped_column(String(32), default="")
    language: Mapped[str] = mapped_column(String(16), default="en")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def _checked(token: str, app_version: str, language: str) -> tuple[str, str, str]:
    if not _TOKEN.fullmatch(token):
        raise InvalidDeviceToken("a push token is 8 to 4096 printable ASCII characters", field="token")
    if not _VERSION.fullmatch(app_version):
        raise InvalidAppVersion("an app version is at most 32 letters, digits and . + _ -", field="appVersion")
    if not _LANGUAGE.fullmatch(language):
        raise InvalidLanguage("a language is a BCP 47 tag such as en or es-MX", field="language")
    return token, app_version, language


async def register(session: AsyncSession, actor: Actor, *, platform: Platform, token: str, app_version: str,
                   language: str) -> Device:
    """Register (or refresh) the caller's device; checked before anything is written."""
    token, app_version, language = _checked(token, app_version, language)
    user_id = actor.user_id or -1
    row = await (await driver(session)).fetchrow(
        "WITH prior AS (SELECT id, user_id FROM push_devices WHERE token = $3 FOR UPDATE) "
        "INSERT INTO push_devices (user_id, session_id, platform, token, app_version, language) "
        "VALUES ($1, $2, $4, $3, $5, $6) ON CONFLICT (token) DO UPDATE SET user_id = excluded.user_id, "
        "session_id = excluded.session_id, platform = excluded.platform, app_version = excluded.app_version, "
        "language = excluded.language, updated_at = now() "
        "RETURNING id, (SELECT user_id FROM prior) AS prior_user, (SELECT id FROM prior) AS prior_id",
        user_id, actor.session_id, token, platform.value, app_version, language)
    assert row is not None
    moved = row["prior_user"] is not None and row["prior_user"] != user_id
    await record(session, actor, action="notifications.device_registered", entity_type="push_device",
                 entity_id=int(row["id"]), after={"platform": platform.value, "app_version": app_version,
                                                  "language": language, "refreshed": row["prior_id"] is not None,
                                                  "moved_from_another_user": moved}, category="auth")
    device = await session.get(Device, int(row["id"]), populate_existing=True)
    assert device is not None
    return device


async def list_for(session: AsyncSession, user_id: int) -> list[Device]:
    return list(await session.scalars(select(Device).where(Device.user_id == user_id).order_by(Device.id)))


async def owned_by_ids(session: AsyncSession, user_id: int, ids: Sequence[int]) -> list[Device]:
    return list(await session.scalars(select(Device).where(Device.user_id == user_id, Device.id.in_(ids))))


async def remove(session: AsyncSession, actor: Actor, device_id: int) -> None:
    """Remove one of the caller's devices; anyone else's (or none) is NOT_FOUND."""
    gone = await session.scalar(delete(Device).where(Device.id == device_id, Device.user_id == (actor.user_id or -1))
                                .returning(Device.id))
    if gone is None:
        raise NotFound("no such device", field="id")
    await record(session, actor, action="notifications.device_removed", entity_type="push_device",
                 entity_id=device_id, after={"reason": "removed_by_user"}, category="auth")


async def remove_dead(session: AsyncSession, device_id: int, token: str, *, reason: str) -> bool:
    """The provider says the token is dead: drop the device, unless it was re-registered with a new token since."""
    gone = await (await driver(session)).fetchval(
        "DELETE FROM push_devices WHERE id = $1 AND token = $2 RETURNING id", device_id, token)
    return gone is not None
