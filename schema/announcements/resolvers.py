from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from typing import Any, cast

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.announcements import service
from domain.announcements.models import Announcement as AnnouncementRow
from domain.events.hub import Event
from schema.announcements.types import (
    Announcement,
    AnnouncementSeverity,
    PostAnnouncementInput,
    PostAnnouncementPayload,
)
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.events import shared
from schema.node import global_id, node_type
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import IsAuthenticated, Requires


def _key(row: AnnouncementRow) -> tuple[datetime, int]:
    return row.created_at, row.id


@node_type("Announcement")
async def _announcement_nodes(ctx: Context, keys: Sequence[int]) -> list[Announcement | None]:
    """As announcements: everyone signed in."""
    if not ctx.actor.is_authenticated:
        return [None] * len(keys)
    async with ctx.session() as session:
        found = {a.id: a for a in await session.scalars(select(AnnouncementRow).where(AnnouncementRow.id.in_(keys)))}
    return [Announcement.from_row(a) if (a := found.get(k)) else None for k in keys]


@strawberry.type
class AnnouncementQueries:
    @strawberry.field(permission_classes=[IsAuthenticated], description="Announcements, newest first.")
    async def announcements(
        self, info: Info[Context, Any], first: int | None = None,
        after: str | None = None, last: int | None = None, before: str | None = None
    ) -> Connection[Announcement]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await service.list_announcements(session, page=req)
        return to_connection(page, Announcement.from_row, _key)


@strawberry.type
class AnnouncementMutations:
    @declares_errors("VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("system.announce")])
    async def post_announcement(
        self, info: Info[Context, Any], input: PostAnnouncementInput
    ) -> PostAnnouncementPayload:
        ctx = info.context

        async def work() -> PostAnnouncementPayload:
            async def txn(session: AsyncSession) -> AnnouncementRow:
                return await service.post_announcement(
                    session, ctx.actor, title=input.title, body=input.body,
                    severity=service.Severity(input.severity.value),
                )

            row = await ctx.transaction(txn)
            return PostAnnouncementPayload(announcement=Announcement.from_row(row))

        def failed(errors: list[UserError]) -> PostAnnouncementPayload:
            return PostAnnouncementPayload(errors=errors)

        return await payload_or_errors(work, failed)


def _announcement(event: Event) -> Announcement:
    p = event.payload
    return Announcement(id=global_id("Announcement", p["id"]), database_id=strawberry.ID(str(p["id"])),
                        title=p["title"], body=p["body"],
                        severity=AnnouncementSeverity(p["severity"]),
                        created_at=datetime.fromisoformat(p["created_at"]))


@strawberry.type
class AnnouncementSubscriptions:
    @strawberry.subscription(permission_classes=[IsAuthenticated], description="Announcements as they are posted.")
    async def announcement_posted(self, info: Info[Context, Any]) -> AsyncGenerator[Announcement, None]:
        async with info.context.subscribe(info, service.TOPIC_POSTED) as sub:
            while True:
                announcement = shared(await info.context.next_event(sub), _announcement)
                if announcement is not None:
                    yield cast(Announcement, announcement)  # one value for all: the executor unwraps it


QUERIES = (AnnouncementQueries,)
MUTATIONS = (AnnouncementMutations,)
SUBSCRIPTIONS = (AnnouncementSubscriptions,)
