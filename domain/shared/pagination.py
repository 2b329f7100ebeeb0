"""Keyset (cursor) pagination shared by every connection.

A cursor is the opaque, URL-safe encoding of the sort key of the last row seen. Decoding
validates its shape so a forged or corrupted cursor is a typed error, never a 500.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import orjson

from domain.shared.errors import InvalidCursor, ValidationFailed

T = TypeVar("T")

CursorKey = tuple[datetime, int]


def encode_cursor(created_at: datetime, row_id: int) -> str:
    raw = orjson.dumps([created_at.isoformat(), row_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> CursorKey:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        stamp, row_id = data
        when = datetime.fromisoformat(stamp)
        if not isinstance(row_id, int) or when.tzinfo is None:
            raise ValueError("bad cursor shape")
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this API issued", field="after") from exc
    return when, row_id


def check_page_size(first: int | None, maximum: int) -> int:
    if first is None:
        return min(50, maximum)
    if first < 1 or first > maximum:
        raise ValidationFailed(f"first must be between 1 and {maximum}", field="first", code="INVALID_PAGE_SIZE")
    return first


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    has_next_page: bool
