"""The hash chain: canonical serialisation of an event and how each row links to the previous one.

Every partition is its own chain, starting from GENESIS. The canonical form is JSON with sorted
keys, no whitespace, times as ISO-8601 UTC with milliseconds, and every value already normalised
(normalise()) so that what PostgreSQL returns from JSONB serialises to exactly the bytes that
were hashed. Two link formats, both verified:

- v1: hash(seq) = SHA-256(hash(seq - 1) || canonical(row, with id, partition and seq)).
- v2 (written now): hash(seq) = SHA-256(hash(seq - 1) || id:int8 || partition:int2 || seq:int8
  || SHA-256(canonical(row without them))), big-endian. The application hashes the content; the
  database, holding the partition's lock, adds the link in the INSERT itself (sha256, int8send),
  so appending an event is one round trip.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import orjson

# Changing the partition count re-routes correlation ids; it needs a migration (heads rows).
PARTITIONS = 64
GENESIS = bytes(32)
# The first key of pg_advisory_xact_lock(int, int): "audit" in ASCII, so it collides with nobody.
LOCK_NAMESPACE = 0x61756474
CANONICAL_VERSION = 1
_INT64 = 2**63


def format_time(value: datetime) -> str:
    """ISO-8601 UTC with exactly three fractional digits and a Z."""
    if value.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def truncate_ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def _clean_text(value: str) -> str:
    # PostgreSQL text and JSONB refuse NUL characters.
    return value.replace("\x00", "\ufffd")


def normalise(value: Any) -> Any:
    """A JSON-safe value that survives a JSONB round trip unchanged.

    Decimals and floats become strings (never a binary float in the trail), times become
    ISO-8601 UTC strings, huge integers become strings (JSONB would keep them, orjson would not).
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return format_time(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return normalise(value.value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {_clean_text(str(k)): normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((normalise(v) for v in value), key=lambda v: orjson.dumps(v, option=orjson.OPT_SORT_KEYS))
    return _clean_text(str(value))


def canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class EventContent:
    """Everything a row's hash covers (every column except prev_hash and hash)."""

    id: int
    partition: int
    seq: int
    occurred_at: datetime
    actor_kind: str
    actor_user_id: int | None
    api_token_id: int | None
    ip: str | None
    user_agent: str | None
    action: str
    entity_type: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    category: str
    correlation_id: str | None
    retain_until: date

    def canonical(self) -> bytes:
        """The v1 hashed form."""
        return canonical_json(self.fields())

    def fields(self) -> dict[str, Any]:
        return {
            "v": CANONICAL_VERSION,
            "id": self.id,
            "partition": self.partition,
            "seq": self.seq,
            "occurred_at": format_time(self.occurred_at),
            "actor_kind": self.actor_kind,
            "actor_user_id": self.actor_user_id,
            "api_token_id": self.api_token_id,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "category": self.category,
            "correlation_id": self.correlation_id,
            "retain_until": self.retain_until.isoformat(),
        }


def link_hash(prev_hash: bytes, content: EventContent) -> bytes:
    """The v1 link (rows written before v2; also how tests forge a re-hashed row)."""
    return hashlib.sha256(prev_hash + content.canonical()).digest()


def content_digest(content: EventContent) -> bytes:
    """v2: the hash of everything but the chain position, which the database links in."""
    fields = content.fields()
    for positional in ("id", "partition", "seq"):
        del fields[positional]
    fields["v"] = 2
    return hashlib.sha256(canonical_json(fields)).digest()


def link_hash_v2(prev_hash: bytes, content: EventContent) -> bytes:
    position = struct.pack(">qhq", content.id, content.partition, content.seq)
    return hashlib.sha256(prev_hash + position + content_digest(content)).digest()


def links(prev_hash: bytes, content: EventContent, stored: bytes) -> bool:
    """Whether `stored` is this content's hash after `prev_hash`, in either link format."""
    return stored in (link_hash_v2(prev_hash, content), link_hash(prev_hash, content))


def partition_for(key: str) -> int:
    """A stable partition for a correlation id (crc32: identical across processes and restarts)."""
    return zlib.crc32(key.encode()) % PARTITIONS
