"""Which notifications a user wants on which channel. Every kind is on by default; a security or regulatory one is
`mandatory` and may not be turned off on any channel (NOTIFICATION_MANDATORY, nothing written)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.notifications.errors import MandatoryNotification, UnknownNotificationKind
from domain.shared.actor import Actor
from domain.shared.db import driver


class Channel(StrEnum):
    PUSH = "push"
    EMAIL = "email"
    IN_APP = "in_app"


# kind -> mandatory. The kinds `sessions.notify` is called with today.
KINDS: dict[str, bool] = {
    "payment.deposit_credited": False,
    "webhook_endpoint_disabled": False,
    "trading.margin_warning": False,
    "trading.margin_stop_out": True,  # positions were closed: the client is always told
    "security.password_changed": True,
    "security.email_changed": True,
    "security.refresh_reuse": True,
    "security.totp_replay": True,
}


@dataclass(frozen=True)
class Preference:
    kind: str
    channel: Channel
    enabled: bool
    mandatory: bool


async def list_for(session: AsyncSession, user_id: int) -> list[Preference]:
    rows = await (await driver(session)).fetch(
        "SELECT kind, channel, enabled FROM notification_preferences WHERE user_id = $1", user_id)
    chosen = {(r["kind"], r["channel"]): bool(r["enabled"]) for r in rows}
    return [Preference(kind, channel, mandatory or chosen.get((kind, channel.value), True), mandatory)
            for kind, mandatory in KINDS.items() for channel in Channel]


async def set_preference(session: AsyncSession, actor: Actor, kind: str, channel: Channel,
                         enabled: bool) -> Preference:
    if kind not in KINDS:
        raise UnknownNotificationKind(f"no notification kind {kind!r}", field="kind")
    mandatory = KINDS[kind]
    if mandatory and not enabled:
        raise MandatoryNotification("security and regulatory notices cannot be turned off", field="enabled")
    before = await (await driver(session)).fetchval(
        "SELECT enabled FROM notification_preferences WHERE user_id = $1 AND kind = $2 AND channel = $3",
        actor.user_id or -1, kind, channel.value)
    await (await driver(session)).execute(
        "INSERT INTO notification_preferences (user_id, kind, channel, enabled) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (user_id, kind, channel) DO UPDATE SET enabled = excluded.enabled, updated_at = now()",
        actor.user_id or -1, kind, channel.value, enabled)
    await record(session, actor, action="notifications.preference_set", entity_type="user",
                 entity_id=actor.user_id, before={"enabled": True if before is None else bool(before)},
                 after={"kind": kind, "channel": channel.value, "enabled": enabled})
    return Preference(kind, channel, enabled, mandatory)
