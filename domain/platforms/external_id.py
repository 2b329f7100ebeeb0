"""Carry our external id inside a platform comment, which MT5 limits to 31 characters.

Format: `#<tag> <human text>` where the tag is a compact, deterministic encoding of the external id
(22 characters at most), so a lookup recomputes the tag and compares. The human part is truncated.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid

COMMENT_MAX = 31
_PREFIX = "#"
_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,22}$")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def external_id_tag(external_id: str) -> str:
    """A <=22-char token for the id: UUIDs packed to base64url, short safe ids as-is, others hashed."""
    if not external_id:
        raise ValueError("external id must not be empty")
    try:
        return _b64(uuid.UUID(external_id).bytes)
    except ValueError:
        pass
    if _SAFE.match(external_id) and len(external_id) < 22:
        return external_id  # shorter than any packed UUID/hash, so the forms cannot collide
    return _b64(hashlib.sha256(external_id.encode("utf-8")).digest())[:22]


def build_comment(external_id: str, human: str) -> str:
    head = f"{_PREFIX}{external_id_tag(external_id)}"
    human = " ".join(human.split())
    if not human:
        return head
    return f"{head} {human}"[:COMMENT_MAX]


def comment_tag(comment: str) -> str | None:
    """The tag a comment carries, or None if it was not written by us."""
    if not comment.startswith(_PREFIX):
        return None
    tag = comment[len(_PREFIX) :].split(" ", 1)[0]
    return tag or None


def comment_matches(comment: str, external_id: str) -> bool:
    return comment_tag(comment) == external_id_tag(external_id)
