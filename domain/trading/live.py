"""Live account state (balance, equity, margin...) asked of the trading platform, never stored.

A read never fails because a platform is slow or down: each login gets at most `wait_s` seconds
(all logins of a batch are asked concurrently); a failure yields the last state seen by this
process (marked stale) when it is recent enough, else no state at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.ledger.transfers import registered_platform
from domain.platforms.port import AccountState, TradingPlatform
from domain.shared.db import utcnow

log = logging.getLogger(__name__)

STATE_TIMEOUT_S = 2.0
MAX_CONCURRENCY = 16
# Last states seen, served (stale) while the platform does not answer.
LAST_KNOWN_MAX_AGE_S = 300.0
LAST_KNOWN_MAX_ENTRIES = 10_000

Key = tuple[int, int]  # (server id, login)
PlatformLookup = Callable[[str], TradingPlatform]


@dataclass(frozen=True)
class LiveState:
    state: AccountState
    as_of: datetime
    stale: bool


_last_known: OrderedDict[Key, tuple[float, LiveState]] = OrderedDict()


def _remember(key: Key, live: LiveState) -> None:
    _last_known[key] = (time.monotonic(), live)
    _last_known.move_to_end(key)
    while len(_last_known) > LAST_KNOWN_MAX_ENTRIES:
        _last_known.popitem(last=False)


def _fallback(key: Key) -> LiveState | None:
    seen = _last_known.get(key)
    if seen is None or time.monotonic() - seen[0] > LAST_KNOWN_MAX_AGE_S:
        return None
    old = seen[1]
    return LiveState(old.state, old.as_of, stale=True)


async def _one(key: Key, lookup: PlatformLookup, wait_s: float, gate: asyncio.Semaphore) -> LiveState | None:
    server_id, login = key
    try:
        async with gate:
            platform = lookup(str(server_id))
            state = await asyncio.wait_for(platform.get_account_state(login), wait_s)
    except Exception as exc:  # any platform failure reads as "unavailable"
        log.warning("account state of %s on server %s unavailable: %s", login, server_id, type(exc).__name__)
        return _fallback(key)
    live = LiveState(state, utcnow(), stale=False)
    _remember(key, live)
    return live


async def account_states(
    keys: Sequence[Key], *, lookup: PlatformLookup = registered_platform, wait_s: float | None = None,
) -> list[LiveState | None]:
    """The live state per (server id, login), in the order asked; each distinct login asked once."""
    wait = STATE_TIMEOUT_S if wait_s is None else wait_s
    distinct = list(dict.fromkeys(keys))
    gate = asyncio.Semaphore(MAX_CONCURRENCY)
    found = await asyncio.gather(*(_one(k, lookup, wait, gate) for k in distinct))
    by_key = dict(zip(distinct, found, strict=True))
    return [by_key[k] for k in keys]
