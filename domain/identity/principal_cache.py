"""Who a session is, remembered per API process between requests.

Every authenticated request needs its principal (the user, the live session, permissions, step-up
time). Reading it is a statement and a round trip per request: for a small mutation about a sixth
of the API's CPU and a sixth of the database's. Here it is remembered, and forgotten as soon as it
can have changed:

- Triggers (migration 0021) send `NOTIFY principal_changed` with the user id when a session is
  revoked or stepped up, a user's status, flags, second factor or desk change, or their roles do
  ("*" when a role's permissions change: everyone holding it). NOTIFY is delivered at commit.
- One LISTEN connection per process drops the named user's entries on each notification.
- A principal read while a notification arrived is not kept: the read may predate the change.
- Nothing is served while the LISTEN connection is down (all entries dropped; it reconnects), and
  entries expire after `principal_cache_ttl_s` whatever happens, which also keeps the session's
  last-seen time (touched on each read) fresh.

A change is seen by other processes once its notification arrives, normally well under a
millisecond after commit. `sync()` waits for every notification committed before it was called.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import structlog

CHANNEL = "principal_changed"
EVERYONE = "*"
RECONNECT_S = 1.0

log = structlog.get_logger(__name__)


class PrincipalCache:
    def __init__(self, dsn: str, ttl_s: float, *, max_entries: int = 100_000) -> None:
        self._dsn = dsn
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._by_user: dict[int, dict[int, tuple[Any, float]]] = {}
        self._size = 0
        self._generation = 0  # counts notifications and outages: a read spanning one is not kept
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._sync_lock = asyncio.Lock()
        self._sync_asked = 0  # sync() calls so far
        self._sync_done = 0  # sync() calls answered by a round trip begun after them

    @property
    def live(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    @property
    def generation(self) -> int:
        return self._generation

    async def start(self) -> None:
        """Listen now; if the database refuses, keep trying in the background (serving nothing)."""
        if self._ttl_s <= 0:
            return
        try:
            await self._listen()
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("principal_cache.listen_failed", error=str(exc))
            self._task = asyncio.create_task(self._reconnect())

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
        self._drop_all()

    def get(self, user_id: int, session_id: int) -> Any | None:
        if not self.live:
            return None
        entry = self._by_user.get(user_id, {}).get(session_id)
        if entry is None:
            return None
        principal, expires = entry
        if expires < time.monotonic():
            self._forget(user_id, session_id)
            return None
        return principal

    def put(self, user_id: int, session_id: int, principal: Any, generation: int) -> None:
        """Keep `principal`, read from the database after `generation` was taken, unless anything
        changed since."""
        if generation != self._generation or not self.live:
            return
        if self._size >= self._max_entries:
            self._drop_all()
        sessions = self._by_user.setdefault(user_id, {})
        if session_id not in sessions:
            self._size += 1
        sessions[session_id] = (principal, time.monotonic() + self._ttl_s)

    def forget_user(self, user_id: int) -> None:
        self._generation += 1
        self._size -= len(self._by_user.pop(user_id, {}))

    async def sync(self) -> None:
        """Return once every notification committed before the call has been applied: the
        listening backend sends pending notifications before it answers a query. Concurrent
        callers share a round trip, provided it began after their call."""
        self._sync_asked += 1
        ticket = self._sync_asked
        async with self._sync_lock:
            conn = self._conn
            if self._sync_done >= ticket or conn is None or conn.is_closed():
                return  # answered meanwhile, or not listening (and then nothing is served)
            covered = self._sync_asked
            await conn.fetchval("SELECT 1")
            self._sync_done = covered

    # -- internals

    def _forget(self, user_id: int, session_id: int) -> None:
        sessions = self._by_user.get(user_id)
        if sessions is not None and sessions.pop(session_id, None) is not None:
            self._size -= 1
            if not sessions:
                del self._by_user[user_id]

    def _drop_all(self) -> None:
        self._generation += 1
        self._by_user.clear()
        self._size = 0

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == EVERYONE or not payload.isdigit():
            self._drop_all()
        else:
            self.forget_user(int(payload))

    def _on_lost(self, _conn: Any) -> None:
        self._conn = None
        self._drop_all()
        if not self._closing and self._task is None:
            self._task = asyncio.create_task(self._reconnect())

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=5)
        await conn.add_listener(CHANNEL, self._on_notify)
        conn.add_termination_listener(self._on_lost)
        self._drop_all()  # whatever changed while nobody listened
        self._conn = conn

    async def _reconnect(self) -> None:
        try:
            while not self._closing and not self.live:
                await asyncio.sleep(RECONNECT_S)
                try:
                    await self._listen()
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("principal_cache.listen_failed", error=str(exc))
        finally:
            self._task = None
