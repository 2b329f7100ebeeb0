"""The schema: every context's queries, mutations and subscriptions merged into one."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions import MaskErrors
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from domain.shared.settings import Settings
from schema.announcements.resolvers import AnnouncementMutations, AnnouncementQueries, AnnouncementSubscriptions
from schema.errors import should_mask
from schema.limits import limit_extensions
from schema.system.resolvers import SystemQueries, SystemSubscriptions

QUERIES: tuple[type, ...] = (SystemQueries, AnnouncementQueries)
MUTATIONS: tuple[type, ...] = (AnnouncementMutations,)
SUBSCRIPTIONS: tuple[type, ...] = (SystemSubscriptions, AnnouncementSubscriptions)


def build_schema(settings: Settings) -> strawberry.Schema:
    query = merge_types("Query", QUERIES)
    mutation = merge_types("Mutation", MUTATIONS)
    subscription = merge_types("Subscription", SUBSCRIPTIONS)
    extensions: list[Any] = [*limit_extensions(settings), MaskErrors(should_mask_error=should_mask)]
    return strawberry.Schema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True),
    )


def export_sdl() -> str:
    """The SDL with development settings (limits do not change the schema's shape)."""
    return build_schema(Settings(introspection=True)).as_str() + "\n"
