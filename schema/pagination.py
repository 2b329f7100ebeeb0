"""Relay-style connections over keyset pagination (domain/shared/pagination.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Generic, TypeVar

import strawberry

from domain.shared.pagination import Page, encode_cursor

T = TypeVar("T")
S = TypeVar("S")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of results; pass `pageInfo.endCursor` as `after` for the next.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @strawberry.field(description="The nodes of this page without their edges.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def to_connection(
    page: Page[S],
    convert: Callable[[S], T],
    key: Callable[[S], tuple[datetime, int]],
) -> Connection[T]:
    edges: Sequence[Edge[T]] = [Edge(cursor=encode_cursor(*key(item)), node=convert(item)) for item in page.items]
    return Connection(
        edges=list(edges),
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=edges[-1].cursor if edges else None),
    )
