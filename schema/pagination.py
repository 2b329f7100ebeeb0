"""Relay connections over keyset pagination (domain/shared/pagination.py).

Every growing list is a connection taking `first/after/last/before`; `page_request` turns those
arguments (and whether `totalCount` was selected) into the domain's `PageRequest`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLResolveInfo,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql.execution.values import get_argument_values
from strawberry.types import Info

from domain.shared import pagination as paging
from domain.shared.pagination import COUNT_CAP, Key, Page, PageRequest, decode_cursor, encode_cursor

T = TypeVar("T")
S = TypeVar("S")


@strawberry.type(description="Where this page sits in the list (Relay cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="More items follow `endCursor`. When paging backward (`last`/`before`) this is true "
                    "whenever `before` was given.")
    has_previous_page: bool = strawberry.field(
        description="More items precede `startCursor`. When paging forward (`first`/`after`) this is true "
                    "whenever `after` was given.")
    start_cursor: str | None = strawberry.field(description="The first edge's cursor; pass as `before`.")
    end_cursor: str | None = strawberry.field(description="The last edge's cursor; pass as `after`.")


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


class _LazyEdge(Edge[Any]):
    """An Edge whose cursor is encoded when read: most pages select only `nodes`, and encoding costs
    about 5 us an item. The schema still sees Edge (a plain `cursor` field read off the object)."""

    def __init__(self, node: Any, item: Any, encode: Callable[[Any], str]) -> None:
        self.node = node
        self._item = item
        self._encode = encode

    @property
    def cursor(self) -> str:  # type: ignore[override]
        return self._encode(self._item)


@strawberry.type(description="A page of a list: `first`/`after` pages forward from `pageInfo.endCursor`, "
                             "`last`/`before` backward from `pageInfo.startCursor`.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int | None = strawberry.field(
        default=None,
        description=f"How many items the whole list holds, counted only when selected and only up to "
                    f"{COUNT_CAP:,}: the value {COUNT_CAP + 1:,} means more than {COUNT_CAP:,}. Null where "
                    f"the list cannot be counted cheaply.")

    @strawberry.field(description="The nodes of this page without their edges.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def _included(node: Any, variables: Any) -> bool:
    """@skip / @include on a selection (graphql-core's rule)."""
    skip = next((d for d in node.directives if d.name.value == GraphQLSkipDirective.name), None)
    if skip is not None and get_argument_values(GraphQLSkipDirective, skip, variables).get("if") is True:
        return False
    include = next((d for d in node.directives if d.name.value == GraphQLIncludeDirective.name), None)
    return include is None or get_argument_values(GraphQLIncludeDirective, include, variables).get("if") is True


def _ast_selects(selection_set: SelectionSetNode | None, name: str, info: GraphQLResolveInfo[Any],
                 deep: bool) -> bool:
    """Whether a field called `name` is selected in this selection set (through fragments; with `deep`,
    anywhere under it). Read off the document's syntax tree: strawberry's `info.selected_fields` first
    converts the field's whole selection into its own objects, about 25 calls a node on every request."""
    if selection_set is None:
        return False
    for sel in selection_set.selections:
        if sel.directives and not _included(sel, info.variable_values):
            continue
        if isinstance(sel, FieldNode):
            if sel.name.value == name or (deep and _ast_selects(sel.selection_set, name, info, deep)):
                return True
        elif isinstance(sel, InlineFragmentNode):
            if _ast_selects(sel.selection_set, name, info, deep):
                return True
        elif isinstance(sel, FragmentSpreadNode):
            fragment = info.fragments.get(sel.name.value)
            if fragment is not None and _ast_selects(fragment.selection_set, name, info, deep):
                return True
    return False


def selects_below(info: Info[Any, Any], name: str) -> bool:
    """Whether a field called `name` is selected anywhere under this field (through fragments too):
    a list resolver's test for reading a nested field's data with its page."""
    raw = info._raw_info
    return any(_ast_selects(node.selection_set, name, raw, True) for node in raw.field_nodes)


def _selects_directly(info: Info[Any, Any], name: str) -> bool:
    raw = info._raw_info
    return any(_ast_selects(node.selection_set, name, raw, False) for node in raw.field_nodes)


def page_request(info: Info[Any, Any], first: int | None, after: str | None, last: int | None,
                 before: str | None, *, maximum: int | None = None,
                 decode: Callable[[str, str], Key] = decode_cursor) -> PageRequest:
    """The connection's arguments as a PageRequest; INVALID_PAGE_ARGUMENTS when they do not fit."""
    counted = _selects_directly(info, "totalCount")
    return paging.page_request(first, after, last, before, count_total=counted, decode=decode,
                               maximum=maximum or info.context.settings.max_page_size)


def empty_connection() -> Connection[Any]:
    return Connection(edges=[], page_info=PageInfo(has_next_page=False, has_previous_page=False,
                                                   start_cursor=None, end_cursor=None), total_count=0)


def to_connection(
    page: Page[S],
    convert: Callable[[S], T],
    key: Callable[[S], tuple[datetime | int | str, ...]],
) -> Connection[T]:
    return keyed_connection(page, convert, lambda item: encode_cursor(*key(item)))


def keyed_connection(page: Page[S], convert: Callable[[S], T], cursor: Callable[[S], str]) -> Connection[T]:
    """A connection whose cursors are not (timestamp, id) keys: `cursor` encodes an item's key."""
    items = page.items
    edges: list[Edge[T]] = [_LazyEdge(convert(item), item, cursor) for item in items]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=page.has_next_page, has_previous_page=page.has_previous_page,
                           start_cursor=cursor(items[0]) if items else None,
                           end_cursor=cursor(items[-1]) if items else None),
        total_count=page.total,
    )
