"""Devices that take push (and, below, notification preferences): the caller's own only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.notifications import devices, preferences
from schema.context import Context
from schema.errors import declares_errors, payload_or_errors
from schema.node import key_of, node_type
from schema.notifications.types import (
    Device,
    DevicePayload,
    NotificationChannel,
    NotificationPreference,
    NotificationPreferencePayload,
    RegisterDeviceInput,
    RemoveDevicePayload,
)
from schema.permissions import IsAuthenticated

Ctx = Info[Context, Any]


@strawberry.type
class NotificationQueries:
    @strawberry.field(permission_classes=[IsAuthenticated], description="Your devices that take push.")
    async def my_devices(self, info: Ctx) -> list[Device]:
        ctx = info.context
        async with ctx.session() as session:
            rows = await devices.list_for(session, ctx.actor.user_id or -1)
        return [Device.from_row(r, ctx.actor.session_id) for r in rows]

    @strawberry.field(permission_classes=[IsAuthenticated],
                      description="Every notification kind on every channel: on unless you turned it off.")
    async def my_notification_preferences(self, info: Ctx) -> list[NotificationPreference]:
        ctx = info.context
        async with ctx.session() as session:
            found = await preferences.list_for(session, ctx.actor.user_id or -1)
        return [_preference(p) for p in found]


@strawberry.type
class NotificationMutations:
    @declares_errors("INVALID_APP_VERSION", "INVALID_DEVICE_TOKEN", "INVALID_LANGUAGE")
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Register this app install for push (again: the same token updates it). It is "
                                     "removed when this session signs out or the provider says the token is dead.")
    async def register_my_device(self, info: Ctx, input: RegisterDeviceInput) -> DevicePayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> DevicePayload:
            row = await devices.register(session, ctx.actor, platform=devices.Platform(input.platform.value),
                                         token=input.token, app_version=input.app_version, language=input.language)
            return DevicePayload(device=Device.from_row(row, ctx.actor.session_id))

        async def work() -> DevicePayload:
            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: DevicePayload(errors=e))

    @declares_errors("INVALID_ID", "NOT_FOUND")
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Stop push to one of your devices.")
    async def remove_my_device(self, info: Ctx, id: strawberry.ID) -> RemoveDevicePayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> RemoveDevicePayload:
            await devices.remove(session, ctx.actor, key_of(id, "Device", raw=False))
            return RemoveDevicePayload(removed=True)

        async def work() -> RemoveDevicePayload:
            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: RemoveDevicePayload(errors=e))

    @declares_errors("NOTIFICATION_MANDATORY", "UNKNOWN_NOTIFICATION_KIND")
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Turn one kind of notification on or off on one channel (a mandatory one "
                                     "cannot be turned off).")
    async def set_my_notification_preference(self, info: Ctx, kind: str, channel: NotificationChannel,
                                             enabled: bool) -> NotificationPreferencePayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> NotificationPreferencePayload:
            made = await preferences.set_preference(session, ctx.actor, kind, preferences.Channel(channel.value),
                                                    enabled)
            return NotificationPreferencePayload(preference=_preference(made))

        async def work() -> NotificationPreferencePayload:
            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: NotificationPreferencePayload(errors=e))


def _preference(p: preferences.Preference) -> NotificationPreference:
    return NotificationPreference(kind=p.kind, channel=NotificationChannel(p.channel.value), enabled=p.enabled,
                                  mandatory=p.mandatory)


@node_type("Device")
async def _device_nodes(ctx: Context, keys: Sequence[int]) -> list[Device | None]:
    """Your own devices, as myDevices."""
    async with ctx.session() as session:
        rows = {r.id: r for r in await devices.owned_by_ids(session, ctx.actor.user_id or -1, keys)}
    return [Device.from_row(r, ctx.actor.session_id) if (r := rows.get(k)) else None for k in keys]


QUERIES = (NotificationQueries,)
MUTATIONS = (NotificationMutations,)
