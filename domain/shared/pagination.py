"""Keyset (cursor) pagination shared by every connection.

A cursor is the opaque, URL-safe encoding of the sort key of a row. Decoding validates its shape
so a forged or corrupted cursor is a typed error, never a 500. Pages are cut by comparing the
sort key with the cursor's (keyset), never by OFFSET, so page 1,000 costs what page 1 costs.

A `PageRequest` is Relay's `first/after/last/before`: forward takes the `size` rows after `after`,
backward the `size` rows just before `before` (or the last `size` rows). List functions take one
and leave the limiting to SQL through `sql_page` (text SQL) or `select_page` (SQLAlchemy).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Select, func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from domain.shared.errors import DomainError

T = TypeVar("T")
R = TypeVar("R")

CursorKey = tuple[datetime, int]

DEFAULT_PAGE = 50
COUNT_CAP = 10_000
"""totalCount counts at most this many rows; more are reported as COUNT_CAP + 1 ("more than")."""


class InvalidPageArguments(DomainError):
    code = "INVALID_PAGE_ARGUMENTS"


def encode_cursor(created_at: datetime, row_id: int) -> str:
    raw = orjson.dumps([created_at.isoformat(), row_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "after") -> CursorKey:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        stamp, row_id = data
        when = datetime.fromisoformat(stamp)
        if not isinstance(row_id, int) or isinstance(row_id, bool) or when.tzinfo is None:
            raise ValueError("bad cursor shape")
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise InvalidPageArguments("the cursor is not one this API issued", field=field) from exc
    return when, row_id


@dataclass(frozen=True)
class PageRequest:
    """One page of a list: `size` rows after `after` (forward) or before `before` (backward)."""

    size: int = DEFAULT_PAGE
    after: tuple[Any, int] | None = None
    before: tuple[Any, int] | None = None
    backward: bool = False
    count_total: bool = False

    @property
    def fetch(self) -> int:
        return self.size + 1  # one more than asked says whether another page exists

    def finish(self, rows: Sequence[R], convert: Callable[[R], T], total: int | None = None) -> Page[T]:
        """The page from rows fetched in scan order (reversed for a backward page)."""
        more = len(rows) > self.size
        kept = [convert(r) for r in rows[: self.size]]
        if self.backward:
            kept.reverse()
            # Relay allows an approximation on the side not scanned: a cursor we issued stood for a row.
            return Page(kept, has_next_page=self.before is not None, has_previous_page=more, total=total)
        return Page(kept, has_next_page=more, has_previous_page=self.after is not None, total=total)


def page_request(first: int | None, after: str | None, last: int | None, before: str | None, *,
                 maximum: int, count_total: bool = False,
                 decode: Callable[[str, str], tuple[Any, int]] = decode_cursor) -> PageRequest:
    """Relay's arguments checked: one of first/last, each within 1..maximum, cursors we issued."""
    if first is not None and last is not None:
        raise InvalidPageArguments("give first or last, not both", field="last")
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 1 <= value <= maximum:
            raise InvalidPageArguments(f"{name} must be between 1 and {maximum}", field=name)
    backward = last is not None or (first is None and before is not None)
    size = (last if backward else first) or min(DEFAULT_PAGE, maximum)
    return PageRequest(size=size, after=decode(after, "after") if after is not None else None,
                       before=decode(before, "before") if before is not None else None,
                       backward=backward, count_total=count_total)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    has_next_page: bool
    has_previous_page: bool = False
    total: int | None = field(default=None)


def _bounds(page: PageRequest, descending: bool) -> list[tuple[str, tuple[Any, int]]]:
    """(operator, key) pairs: rows strictly between the cursors in list order."""
    later, earlier = ("<", ">") if descending else (">", "<")
    out = []
    if page.after is not None:
        out.append((later, page.after))
    if page.before is not None:
        out.append((earlier, page.before))
    return out


async def sql_page(
    session: AsyncSession, page: PageRequest, *, columns: str, source: str, where: Sequence[str],
    params: Mapping[str, Any], key: tuple[str, str], descending: bool, convert: Callable[[Any], T],
) -> Page[T]:
    """A keyset page over text SQL. `key` is the (timestamp, id) sort key as two column expressions
    backed by an index; `where` holds constant SQL with bound parameters only."""
    bound = dict(params)
    conds = list(where) or ["true"]
    for i, (op, (at, row_id)) in enumerate(_bounds(page, descending)):
        conds.append(f"({key[0]}, {key[1]}) {op} (:_pk_at{i}, :_pk_id{i})")
        bound[f"_pk_at{i}"], bound[f"_pk_id{i}"] = at, row_id
    down = descending != page.backward
    order = "DESC" if down else "ASC"
    bound["_pk_n"] = page.fetch
    rows = (await session.execute(text(
        f"SELECT {columns} FROM {source} WHERE {' AND '.join(conds)} "  # noqa: S608 - constants only
        f"ORDER BY {key[0]} {order}, {key[1]} {order} LIMIT :_pk_n"), bound)).all()
    total = None
    if page.count_total:
        total = int((await session.execute(text(
            f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {' AND '.join(list(where) or ['true'])} "  # noqa: S608
            f"LIMIT {COUNT_CAP + 1}) capped"), dict(params))).scalar_one())
    return page.finish(rows, convert, total)


async def select_page(
    session: AsyncSession, page: PageRequest, stmt: Select[Any], key: tuple[Any, Any], *,
    descending: bool, convert: Callable[[Any], T], scalars: bool = True,
) -> Page[T]:
    """A keyset page over a SQLAlchemy select on the (timestamp, id) sort key `key`."""
    base = stmt
    for op, cursor in _bounds(page, descending):
        pair = tuple_(*key)
        stmt = stmt.where(pair < tuple_(*cursor) if op == "<" else pair > tuple_(*cursor))
    down = descending != page.backward
    stmt = stmt.order_by(*(c.desc() if down else c.asc() for c in key)).limit(page.fetch)
    rows: Sequence[Any] = list(await session.scalars(stmt)) if scalars else list(await session.execute(stmt))
    total = None
    if page.count_total:
        total = int(await session.scalar(
            select(func.count()).select_from(base.order_by(None).limit(COUNT_CAP + 1).subquery())) or 0)
    return page.finish(rows, convert, total)
