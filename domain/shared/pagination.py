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

import asyncpg
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


Key = tuple[Any, ...]
"""A row's sort key: timestamps, integers and strings, compared left to right."""


def encode_cursor(*parts: datetime | int | str) -> str:
    raw = orjson.dumps([p.isoformat() if isinstance(p, datetime) else p for p in parts])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _part(kind: type, value: Any) -> Any:
    if kind is datetime:
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            raise ValueError("a naive timestamp")
        return when
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError("bad cursor part")
    return value


def cursor_decoder(*shape: type) -> Callable[[str, str], Key]:
    """Decodes cursors of keys with these part types (datetime, int, str); anything else is refused."""
    def decode(cursor: str, field: str = "after") -> Key:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            data = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(data, list) or len(data) != len(shape):
                raise ValueError("bad cursor shape")
            return tuple(_part(kind, value) for kind, value in zip(shape, data, strict=True))
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
            raise InvalidPageArguments("the cursor is not one this API issued", field=field) from exc
    return decode


decode_cursor = cursor_decoder(datetime, int)
"""Most lists sort on (timestamp, id)."""


@dataclass(frozen=True)
class PageRequest:
    """One page of a list: `size` rows after `after` (forward) or before `before` (backward)."""

    size: int = DEFAULT_PAGE
    after: Key | None = None
    before: Key | None = None
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
                 decode: Callable[[str, str], Key] = decode_cursor) -> PageRequest:
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


def _bounds(page: PageRequest, descending: bool) -> list[tuple[str, Key]]:
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
    params: Mapping[str, Any], key: tuple[str, ...], descending: bool, convert: Callable[[Any], T],
) -> Page[T]:
    """A keyset page over text SQL. `key` is the sort key's column expressions (unique together, backed
    by an index); `where` holds constant SQL with bound parameters only."""
    bound = dict(params)
    conds = list(where) or ["true"]
    for i, (op, cursor) in enumerate(_bounds(page, descending)):
        names = [f"_pk{i}_{j}" for j in range(len(key))]
        conds.append(f"({', '.join(key)}) {op} ({', '.join(':' + n for n in names)})")
        bound.update(zip(names, cursor, strict=True))
    down = descending != page.backward
    order = "DESC" if down else "ASC"
    bound["_pk_n"] = page.fetch
    rows = (await session.execute(text(
        f"SELECT {columns} FROM {source} WHERE {' AND '.join(conds)} "  # noqa: S608 - constants only
        f"ORDER BY {', '.join(f'{k} {order}' for k in key)} LIMIT :_pk_n"), bound)).all()
    total = None
    if page.count_total:
        total = int((await session.execute(text(
            f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {' AND '.join(list(where) or ['true'])} "  # noqa: S608
            f"LIMIT {COUNT_CAP + 1}) capped"), dict(params))).scalar_one())
    return page.finish(rows, convert, total)


async def raw_page(
    conn: asyncpg.Connection, page: PageRequest, *, columns: str, source: str, where: Sequence[str],
    params: Sequence[Any], key: tuple[str, ...], descending: bool, convert: Callable[[asyncpg.Record], T],
) -> Page[T]:
    """As `sql_page`, straight on asyncpg (hot reads: no SQLAlchemy result processing). `where` uses
    the positional parameters `$1..$n` of `params`; the keyset bounds and the limit follow them."""
    bound = list(params)
    conds = list(where) or ["true"]
    for op, cursor in _bounds(page, descending):
        first = len(bound) + 1
        conds.append(f"({', '.join(key)}) {op} ({', '.join(f'${first + j}' for j in range(len(key)))})")
        bound.extend(cursor)
    order = "DESC" if descending != page.backward else "ASC"
    bound.append(page.fetch)
    rows = await conn.fetch(
        f"SELECT {columns} FROM {source} WHERE {' AND '.join(conds)} "  # noqa: S608 - constants only
        f"ORDER BY {', '.join(f'{k} {order}' for k in key)} LIMIT ${len(bound)}", *bound)
    total = None
    if page.count_total:
        total = int(await conn.fetchval(
            f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {' AND '.join(list(where) or ['true'])} "  # noqa: S608
            f"LIMIT {COUNT_CAP + 1}) capped", *params))
    return page.finish(rows, convert, total)


async def select_page(
    session: AsyncSession, page: PageRequest, stmt: Select[Any], key: tuple[Any, ...], *,
    descending: bool, convert: Callable[[Any], T], scalars: bool = True,
) -> Page[T]:
    """A keyset page over a SQLAlchemy select on the sort key `key` (columns unique together)."""
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


decode_id_cursor = cursor_decoder(int)
"""Lists sorted on an id alone (one client's history, documents, hits; an account's positions)."""
