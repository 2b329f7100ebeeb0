"""The schema: every context's queries, mutations and subscriptions merged into one.

Each `schema/<context>/resolvers.py` exports `QUERIES`, `MUTATIONS` and `SUBSCRIPTIONS` (tuples of
strawberry types); they are discovered here, so adding a context never edits this file.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

import schema as schema_pkg
from domain.shared.discovery import context_modules
from domain.shared.settings import Settings
from schema.errors import internal_error, should_mask, with_input_code
from schema.limits import DocumentCache, document_cache


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


class ApiSchema(strawberry.Schema):
    """strawberry's schema with each query text parsed, limited and validated once (DocumentCache),
    handed to every request's execution context as it is created."""

    def __init__(self, *args: Any, documents: DocumentCache, **kwargs: Any) -> None:
        self.documents = documents
        super().__init__(*args, **kwargs)

    def _create_execution_context(self, *args: Any, **kwargs: Any) -> ExecutionContext:
        context = super()._create_execution_context(*args, **kwargs)
        self.documents.prepare(context)
        return context


class _MaskErrors(MaskErrors):
    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        request_id = getattr(self.execution_context.context, "request_id", None)
        return [internal_error(e, request_id) if self.should_mask_error(e) else with_input_code(e) for e in errors]

    def _process_result(self, result: object) -> None:
        # The same test as strawberry's (has errors), without isinstance against a runtime-checkable
        # Protocol: that alone cost about 45 us on every request.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


def api_schema(settings: Settings, *, query: type, mutation: type | None = None, subscription: type | None = None,
               types: Sequence[type] = ()) -> ApiSchema:
    # A factory, not an instance: strawberry would share one MaskErrors across concurrent
    # requests, and one request's errors could be read against another's (left unmasked).
    masking = functools.partial(_MaskErrors, should_mask_error=should_mask)
    return ApiSchema(query=query, mutation=mutation, subscription=subscription, types=types,
                     extensions=[masking], config=StrawberryConfig(auto_camel_case=True),
                     documents=document_cache(settings))


def build_schema(settings: Settings) -> ApiSchema:
    queries, mutations, subscriptions, extra_types = _discover()
    return api_schema(
        settings,
        query=merge_types("Query", tuple(queries)),
        mutation=merge_types("Mutation", tuple(mutations)) if mutations else None,
        subscription=merge_types("Subscription", tuple(subscriptions)) if subscriptions else None,
        types=extra_types,
    )


def export_sdl() -> str:
    """The SDL with development settings (limits do not change the schema's shape)."""
    return build_schema(Settings(introspection=True)).as_str() + "\n"
