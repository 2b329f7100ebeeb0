from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from domain.announcements.models import Announcement as AnnouncementRow
from schema.errors import UserError
from schema.node import DATABASE_ID_DOC, Node, global_id


@strawberry.enum
class AnnouncementSeverity(Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@strawberry.type(description="A message from the brokerage to everyone signed in.")
class Announcement(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    title: str
    body: str
    severity: AnnouncementSeverity
    created_at: datetime

    @classmethod
    def from_row(cls, row: AnnouncementRow) -> Announcement:
        return cls(
            id=global_id("Announcement", row.id),
            database_id=strawberry.ID(str(row.id)),
            title=row.title,
            body=row.body,
            severity=AnnouncementSeverity(row.severity),
            created_at=row.created_at,
        )


@strawberry.input
class PostAnnouncementInput:
    title: str
    body: str
    severity: AnnouncementSeverity = AnnouncementSeverity.INFO


@strawberry.type
class PostAnnouncementPayload:
    announcement: Announcement | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
