"""The per-process lookup of a trusted document's text by hash, on every request that names one."""

from __future__ import annotations

import time
from collections import OrderedDict

from domain.shared.db import SessionFactory, autocommit_fetchrow

_SQL = "SELECT body FROM trusted_documents WHERE hash = $1 AND revoked_at IS NULL"


class DocumentLookup:
    """Bodies by hash, kept `ttl_s` (a hash always names the same text; only revocation changes the
    answer, and another process's revocation applies here within `ttl_s`). Bounded, least recently
    used out first. Unknown hashes are not kept: a document registered a moment ago is found at once."""

    def __init__(self, factory: SessionFactory, *, ttl_s: float, size: int = 2048) -> None:
        self._factory = factory
        self._ttl_s = ttl_s
        self._size = size
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def body(self, digest: str) -> str | None:
        now = time.monotonic()
        entry = self._entries.get(digest)
        if entry is not None and entry[0] > now:
            self._entries.move_to_end(digest)
            return entry[1]
        row = await autocommit_fetchrow(self._factory, _SQL, digest)
        if row is None:
            self._entries.pop(digest, None)
            return None
        body: str = row["body"]
        self._entries[digest] = (now + self._ttl_s, body)
        self._entries.move_to_end(digest)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return body

    def forget(self, digest: str) -> None:
        """This process revoked it: refuse it here at once."""
        self._entries.pop(digest, None)
