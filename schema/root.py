"""The schema: every context's queries, mutations and subscriptions merged into one.

Each `schema/<context>/resolvers.py` exports `QUERIES`, `MUTATIONS` and `SUBSCRIPTIONS` (tuples of
strawberry types); they are discovered here, so adding a context never edits this file.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions import MaskErrors
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

import schema as schema_pkg
from domain.shared.discovery import context_modules
from domain.shared.settings import Settings
from schema.errors import should_mask
from schema.limits import limit_extensions


def _discover() -> tuple[list[type], list[type], list[type], list[type]]:
    queries: list[type] = []
    mutations: list[type] = []
    subscriptions: list[type] = []
    extra_types: list[type] = []
    for module in context_modules(schema_pkg, "resolvers"):
        queries += list(getattr(module, "QUERIES", ()))
        mutations += list(getattr(module, "MUTATIONS", ()))
        subscriptions += list(getattr(module, "SUBSCRIPTIONS", ()))
        extra_types += list(getattr(module, "TYPES", ()))
    return queries, mutations, subscriptions, extra_types


def build_schema(settings: Settings) -> strawberry.Schema:
    queries, mutations, subscriptions, extra_types = _discover()
    extensions: list[Any] = [*limit_extensions(settings), MaskErrors(should_mask_error=should_mask)]
    return strawberry.Schema(
        query=merge_types("Query", tuple(queries)),
        mutation=merge_types("Mutation", tuple(mutations)) if mutations else None,
        subscription=merge_types("Subscription", tuple(subscriptions)) if subscriptions else None,
        types=extra_types,
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True),
    )


def export_sdl() -> str:
    """The SDL with development settings (limits do not change the schema's shape)."""
    return build_schema(Settings(introspection=True)).as_str() + "\n"
