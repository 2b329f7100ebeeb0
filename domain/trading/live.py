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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger.transfers import registered_platform
from domain.platforms.port import AccountState, TradingPlatform
from domain.shared.db import driver, utcnow

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


# ---------------------------------------------------------------------------------------------
# Announcing account state: when ingestion stores deals of a client's account (a trade opened or
# closed, a balance operation), the account's balance/equity/margin changed on the server. The
# figures are asked of the server before the batch's transaction opens (the deals were read from
# it, so its state already includes them) and one event per owned account goes out through the
# outbox in that transaction: it exists if and only if the batch committed, and reaches only the
# account's owner (`user_id`, routed by the hub).

TOPIC_ACCOUNT_STATE = "trading.account_state"


@dataclass(frozen=True)
class OwnedAccount:
    id: int
    user_id: int
    server_id: int
    login: int


async def owned_accounts(session: AsyncSession, server_id: int, logins: Iterable[int]) -> list[OwnedAccount]:
    """The accounts among these logins that belong to a user (client or IB), by login."""
    wanted = sorted(set(logins))
    if not wanted:
        return []
    rows = await (await driver(session)).fetch(
        "SELECT id, user_id, login FROM trading_accounts WHERE server_id = $1 AND login = ANY($2::bigint[]) "
        "AND user_id IS NOT NULL ORDER BY login", server_id, wanted)
    return [OwnedAccount(int(r["id"]), int(r["user_id"]), server_id, int(r["login"])) for r in rows]


async def states_of(accounts: Sequence[OwnedAccount], platform: TradingPlatform) -> list[LiveState | None]:
    """Fresh figures of these accounts from their (one) server; None where it did not answer."""
    found = await account_states([(a.server_id, a.login) for a in accounts], lookup=lambda _server: platform)
    return [s if s is not None and not s.stale else None for s in found]


def state_payload(account: OwnedAccount, live: LiveState) -> dict[str, Any]:
    s = live.state
    return {
        "user_id": account.user_id, "trading_account_id": account.id, "server_id": account.server_id,
        "login": account.login, "currency": s.currency, "balance": str(s.balance), "credit": str(s.credit),
        "equity": str(s.equity), "margin": str(s.margin), "margin_free": str(s.margin_free),
        "margin_level": str(s.margin_level), "floating_profit": str(s.floating_profit),
        "as_of": live.as_of.isoformat(),
    }  # fmt: skip


async def announce_states(
    session: AsyncSession, accounts: Sequence[OwnedAccount], states: Sequence[LiveState | None],
) -> int:
    """One `trading.account_state` event per account whose figures are known, in the caller's
    transaction (one statement); returns how many."""
    payloads = [orjson.dumps(state_payload(a, s)).decode()
                for a, s in zip(accounts, states, strict=True) if s is not None]
    if payloads:
        await (await driver(session)).execute(
            "INSERT INTO outbox (topic, payload) SELECT $1, p::jsonb FROM unnest($2::text[]) AS p",
            TOPIC_ACCOUNT_STATE, payloads)
    return len(payloads)
