"""A long-lived caller (an open WebSocket, a streamed subscription) bound to its live session.

An HTTP request authenticates once and is over in milliseconds; a socket or a subscription stream
lives for hours, so what was true at its start goes stale. A LiveSession keeps the credential's
current actor and re-reads it

- for every operation (`authorise`), as an HTTP request would, through the principal cache;
- whenever the principal cache hears that the user changed (a session revoked, logout everywhere,
  a password reset, roles, status, desk, second factor: migration 0021's NOTIFY), through
  `PrincipalCache.watch`; events are held back from the moment the change is heard until it is
  re-read, so none reaches a caller who has just lost it;
- at least every REVALIDATE_S regardless (API tokens, and a listener that is down, notify nothing),
  at a random point of the second half of that interval: thousands of sockets opened together
  would otherwise re-read their sessions in the same instant every minute and drain the pool;

and ends at the access token's expiry (a timer). When the credential stands for nobody any more
the session ends: waiting subscriptions raise SESSION_ENDED (TOKEN_EXPIRED at expiry) and
`on_end` runs (a WebSocket then closes with 4401). When only the actor's authority changed, each
subscription's declared permissions are checked again, and one no longer allowed ends with its
permission's error (FORBIDDEN). No task runs per socket while nothing happens: timers and callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from strawberry.types import Info

from domain.events.hub import Event, Subscriber
from domain.identity.errors import SessionEnded, TokenExpired
from domain.identity.principal_cache import PrincipalCache
from domain.shared.actor import Actor
from schema.errors import PublicError

log = structlog.get_logger(__name__)

REVALIDATE_S = 60.0
# Put into a waiting subscription's queue to make it look again (ended? still allowed?).
WAKE = Event(-1, "", {}, "")


def session_ended() -> PublicError:
    return PublicError("Your session has ended; sign in again.", SessionEnded.code)


def token_expired() -> PublicError:
    return PublicError("Your session expired; reconnect with a fresh token.", TokenExpired.code)


class LiveSession:
    # One per socket (or streamed subscription), thousands per process: slots, and a future only
    # while a heard change is being re-read (an asyncio.Event keeps a deque, 760 bytes, for ever).
    __slots__ = ("_again", "_closed", "_ending", "_expiry", "_following", "_on_change", "_poll_timer",
                 "_principals", "_reauthenticate", "_recheck", "_retry", "_revision", "_settling", "_unwatch",
                 "actor", "close_when_idle", "ended", "on_end")

    def __init__(self, actor: Actor, reauthenticate: Callable[[], Awaitable[Actor | None]] | None,
                 principals: PrincipalCache | None, *, on_change: Callable[[Actor], None] | None = None,
                 on_end: Callable[[PublicError], Awaitable[None]] | None = None) -> None:
        """`reauthenticate`: the credential's actor now, None when it stands for nobody (None for an
        anonymous caller: there is nothing to lose). `on_change`: the actor changed (the caller's
        context takes it). `on_end`: the session ended (after subscriptions were told)."""
        self.actor = actor
        self.ended: PublicError | None = None
        self._reauthenticate = reauthenticate
        self._principals = principals
        self._on_change = on_change
        self.on_end = on_end
        self._revision = 0  # bumped whenever the actor changes
        self._settling: asyncio.Future[None] | None = None  # while a heard change is being re-read
        self._again = False  # another change was heard during a re-read
        self._recheck: asyncio.Task[None] | None = None
        self._ending: asyncio.Future[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._poll_timer: asyncio.TimerHandle | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._unwatch: Callable[[], None] | None = None
        self._following: dict[Subscriber, _Following] = {}
        self._closed = False
        self.close_when_idle = False  # a stream of its own (HTTP): done when its subscription is

    @property
    def bound(self) -> bool:
        return self._reauthenticate is not None and self.actor.is_authenticated

    def start(self) -> None:
        if not self.bound:
            return
        loop = asyncio.get_running_loop()
        if self._principals is not None and self.actor.user_id is not None:
            self._unwatch = self._principals.watch(self.actor.user_id, self._changed)
        if self.actor.expires_at is not None:
            self._expiry = loop.call_later(max(0.0, self.actor.expires_at - time.time()), self._expire)
        self._poll_timer = loop.call_later(_poll_delay(), self._poll)

    def close(self) -> None:
        """Stop watching (the socket or stream is gone)."""
        self._closed = True
        for timer in (self._expiry, self._poll_timer, self._retry):
            if timer is not None:
                timer.cancel()
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        recheck = self._recheck
        if recheck is not None and not recheck.done() and recheck is not asyncio.current_task():
            recheck.cancel()

    async def authorise(self) -> Actor:
        """The actor for an operation starting now, checked against the live session; raises the
        typed error when there is none (the caller reports it, then calls `end`)."""
        if self.ended is not None:
            raise _fresh(self.ended)
        if not self.bound:
            return self.actor
        if self._expired():
            raise token_expired()
        assert self._reauthenticate is not None
        actor = await self._reauthenticate()
        if actor is None:
            raise session_ended()
        self._adopt(actor)
        return self.actor  # the actor read, or the equal one already held (one object kept per socket)

    def follow(self, sub: Subscriber, info: Info[Any, Any]) -> None:
        """`sub` feeds a subscription resolved with `info` in the current task."""
        self._following[sub] = _Following(info, asyncio.current_task(), self._revision)

    def unfollow(self, sub: Subscriber) -> None:
        self._following.pop(sub, None)
        if self.close_when_idle and not self._following:
            self.close()

    async def next_event(self, sub: Subscriber) -> Event:
        """The next event for a followed subscription while its caller may still have it."""
        while True:
            await self.admit(sub)
            event = await sub.get()
            if event is not WAKE:
                await self.admit(sub)  # a change heard while this waited is settled first
                return event

    async def admit(self, sub: Subscriber) -> None:
        """Raise the typed error ending the subscription if its caller may no longer have what it
        is about to send; wait while a heard change is being re-read."""
        following = self._following[sub]
        while True:
            self._check_alive()
            settling = self._settling
            if settling is not None:
                await asyncio.shield(settling)  # shielded: one waiter cancelled cancels no other
                continue
            if following.revision != self._revision:
                following.revision = self._revision
                await _still_permitted(following.info)
                continue  # the check awaited: look again
            return

    async def end(self, error: PublicError) -> None:
        """The session is over: subscriptions end with `error`, then `on_end` runs (once)."""
        if self.ended is not None:
            return
        self.ended = error
        self.close()
        self._settle()
        current = asyncio.current_task()
        tasks = [f.task for f in self._following.values() if f.task is not None and f.task is not current]
        self._wake_all()
        if tasks:  # let each subscription send its error before the socket goes
            await asyncio.wait(tasks, timeout=1.0)
        if self.on_end is not None:
            await self.on_end(error)

    # -- internals

    def _expired(self) -> bool:
        return self.actor.expires_at is not None and self.actor.expires_at <= time.time()

    def _check_alive(self) -> None:
        if self.ended is not None:
            raise _fresh(self.ended)  # one exception object per task raising it
        if self._expired():
            self._spawn(self.end(token_expired()))
            raise token_expired()

    def _adopt(self, actor: Actor) -> None:
        if actor != self.actor:
            self.actor = actor
            self._revision += 1
            if self._on_change is not None:
                self._on_change(actor)
            self._wake_all()

    def _wake_all(self) -> None:
        for sub in tuple(self._following):
            sub.put_nowait(WAKE)  # when full, the oldest event makes room (and is counted dropped)

    def _settle(self) -> None:
        settling, self._settling = self._settling, None
        if settling is not None and not settling.done():
            settling.set_result(None)

    def _changed(self) -> None:
        """The principal cache heard that this user changed: hold events back until re-read."""
        if self._closed:
            return
        if self._settling is None:
            self._settling = asyncio.get_running_loop().create_future()
        self._start_recheck()

    def _poll(self) -> None:
        if self._closed:
            return
        self._poll_timer = asyncio.get_running_loop().call_later(_poll_delay(), self._poll)
        self._start_recheck()

    def _expire(self) -> None:
        if not self._closed:
            self._spawn(self.end(token_expired()))

    def _start_recheck(self) -> None:
        if self._closed:
            return
        if self._recheck is not None and not self._recheck.done():
            self._again = True
            return
        self._recheck = asyncio.get_running_loop().create_task(self._run_recheck())

    async def _run_recheck(self) -> None:
        assert self._reauthenticate is not None
        try:
            while True:
                self._again = False
                actor = await self._reauthenticate()
                if actor is None:
                    await self.end(session_ended())
                    return
                if self._again:
                    continue  # changed again meanwhile: what was read may predate it
                self._adopt(actor)
                self._settle()
                return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is unreachable: keep holding events, try again
            log.warning("live_session.recheck_failed", error=str(exc) or type(exc).__name__)
            if not self._closed:
                self._retry = asyncio.get_running_loop().call_later(random.uniform(0.5, 1.5), self._start_recheck)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._ending = task  # the loop keeps only a weak reference to a task
        task.add_done_callback(_log_failure)


def _poll_delay() -> float:
    return REVALIDATE_S * random.uniform(0.5, 1.0)


def _fresh(error: PublicError) -> PublicError:
    return PublicError(error.message, error.code)


@dataclass(slots=True)
class _Following:
    info: Info[Any, Any]
    task: asyncio.Task[Any] | None
    revision: int  # the actor revision its permissions were last checked against


async def _still_permitted(info: Info[Any, Any]) -> None:
    """Check the subscription field's declared permissions again, for the current actor."""
    field = getattr(info, "_field", None)
    for permission_class in getattr(field, "permission_classes", None) or ():
        permission = permission_class()
        allowed = permission.has_permission(None, info)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        if not allowed:
            code = (getattr(permission, "error_extensions", None) or {}).get("code", "FORBIDDEN")
            raise PublicError(permission.message or "You do not have permission to do this.", code)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        with contextlib.suppress(Exception):
            log.error("live_session.end_failed", error=repr(task.exception()))
