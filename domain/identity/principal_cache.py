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
- Nothing is served while the LISTEN connection is down (all entries dropped; it reconnects). A
  listener is trusted only once a probe NOTIFY sent from another connection has reached it (behind
  a transaction-mode pooler it never would: `principal_listen_url` then names PostgreSQL itself),
  and one that stops answering (a half-open connection) is dropped: a heartbeat every few seconds,
  and `sync()`, give it ROUND_TRIP_TIMEOUT_S.
- Entries expire after `principal_cache_ttl_s` whatever happens, which also keeps the session's
  last-seen time (touched on each read) fresh.
- Long-lived holders of a principal (open WebSockets) `watch` a user: they are called whenever that
  user's entries are dropped for a change (or everyone's are, or the listener reconnects after
  hearing nothing for a while), and then re-read the principal (schema/live_session.py).

A change is seen by other processes once its notification arrives, normally well under a
millisecond after commit. `sync()` waits for every notification committed before it was called.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

CHANNEL = "principal_changed"
EVERYONE = "*"
PROBE_PREFIX = "probe-"
RECONNECT_S = (1.0, 30.0)  # first retry, longest wait between retries
HEARTBEAT_S = 5.0
ROUND_TRIP_TIMEOUT_S = 2.0

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
        self._heartbeat: asyncio.Task[None] | None = None
        self._probe: tuple[str, asyncio.Event] | None = None
        self._closing = False
        self._sync_lock = asyncio.Lock()
        self._sync_asked = 0  # sync() calls so far
        self._sync_done = 0  # sync() calls answered by a round trip begun after them
        # a list, not a set: a user has a socket or two, and an empty set alone is 216 bytes
        self._watchers: dict[int, list[Callable[[], None]]] = {}

    @property
    def live(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def listener_pid(self) -> int | None:
        """The listening backend's process id (for operators and tests)."""
        return self._conn.get_server_pid() if self.live and self._conn is not None else None

    async def start(self) -> None:
        """Listen now; if that fails, keep trying in the background (serving nothing meanwhile)."""
        if self._ttl_s <= 0:
            return
        try:
            await self._listen()
        except Exception as exc:  # any failure only means nothing is cached yet
            log.warning("principal_cache.listen_failed", error=str(exc) or type(exc).__name__)
            self._task = asyncio.create_task(self._reconnect())
        self._heartbeat = asyncio.create_task(self._beat())

    async def close(self) -> None:
        self._closing = True
        for task in (self._task, self._heartbeat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
        self._drop_all(changed=False)

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
            self._drop_all(changed=False)
        sessions = self._by_user.setdefault(user_id, {})
        if session_id not in sessions:
            self._size += 1
        sessions[session_id] = (principal, time.monotonic() + self._ttl_s)

    def forget_user(self, user_id: int) -> None:
        self._generation += 1
        self._size -= len(self._by_user.pop(user_id, {}))
        for callback in tuple(self._watchers.get(user_id, ())):
            _call(callback)

    def watch(self, user_id: int, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (cheap, synchronous) whenever what is known about `user_id` may have
        changed; returns the function that stops watching."""
        callbacks = self._watchers.setdefault(user_id, [])
        if callback not in callbacks:
            callbacks.append(callback)
        return functools.partial(self._unwatch, user_id, callback)  # lighter than a closure and its cells

    def _unwatch(self, user_id: int, callback: Callable[[], None]) -> None:
        callbacks = self._watchers.get(user_id)
        if callbacks is not None and callback in callbacks:
            callbacks.remove(callback)
            if not callbacks:
                del self._watchers[user_id]

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
            try:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), ROUND_TRIP_TIMEOUT_S)
            except Exception as exc:  # a listener that does not answer hears nothing either
                log.warning("principal_cache.listener_unresponsive", error=str(exc) or type(exc).__name__)
                self._lost(conn)
                return
            self._sync_done = covered

    # -- internals

    def _forget(self, user_id: int, session_id: int) -> None:
        sessions = self._by_user.get(user_id)
        if sessions is not None and sessions.pop(session_id, None) is not None:
            self._size -= 1
            if not sessions:
                del self._by_user[user_id]

    def _drop_all(self, *, changed: bool = True) -> None:
        """Forget everything; `changed`: anything may have changed (tell the watchers), rather
        than only making room or closing."""
        self._generation += 1
        self._by_user.clear()
        self._size = 0
        if changed:
            for callbacks in tuple(self._watchers.values()):
                for callback in tuple(callbacks):
                    _call(callback)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload.startswith(PROBE_PREFIX):  # a listener checking itself (this one or another's)
            if self._probe is not None and payload == self._probe[0]:
                self._probe[1].set()
        elif payload == EVERYONE or not payload.isdigit():
            self._drop_all()
        else:
            self.forget_user(int(payload))

    def _on_lost(self, conn: Any) -> None:
        self._lost(conn)

    def _lost(self, conn: asyncpg.Connection) -> None:
        if self._conn is conn:
            self._conn = None
        # Watchers hear once listening resumes (`_listen` drops everything again, telling them).
        self._drop_all(changed=False)
        if not conn.is_closed():
            conn.terminate()
        if not self._closing and self._task is None:
            self._task = asyncio.create_task(self._reconnect())

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=5)
        try:
            heard = asyncio.Event()
            self._probe = (PROBE_PREFIX + secrets.token_hex(8), heard)
            await conn.add_listener(CHANNEL, self._on_notify)
            # Trust the listener once a notification sent elsewhere reaches it.
            notifier = await asyncpg.connect(self._dsn, timeout=5)
            try:
                await notifier.execute("SELECT pg_notify($1, $2)", CHANNEL, self._probe[0])
            finally:
                await notifier.close()
            await asyncio.wait_for(heard.wait(), ROUND_TRIP_TIMEOUT_S)
        except BaseException:
            conn.terminate()
            raise
        finally:
            self._probe = None
        conn.add_termination_listener(self._on_lost)
        self._drop_all()  # whatever changed while nobody listened
        self._conn = conn

    async def _reconnect(self) -> None:
        wait, longest = RECONNECT_S
        try:
            while not self._closing and not self.live:
                await asyncio.sleep(wait)
                try:
                    await self._listen()
                except Exception as exc:  # keep trying; nothing is served meanwhile
                    log.warning("principal_cache.listen_failed", error=str(exc) or type(exc).__name__)
                    wait = min(wait * 2, longest)
        finally:
            self._task = None

    async def _beat(self) -> None:
        """A listener whose connection silently died (failover, a dropped NAT entry) would look
        alive while hearing nothing: ask it something now and then."""
        while not self._closing:
            await asyncio.sleep(HEARTBEAT_S)
            await self.sync()


def _call(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:  # one watcher's failure must not stop the others or the listener
        log.exception("principal_cache.watcher_failed")
