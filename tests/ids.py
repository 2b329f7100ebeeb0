"""Tests reading ids: the database key behind a global id (or a bare database id, still accepted)."""

from __future__ import annotations

from schema.node import decode


def db_id(value: object) -> int:
    found = decode(str(value))
    return found[1] if found is not None else int(str(value))
