"""Cost of margin alerts per ingested account state, beside the ingestion without them in the same run.

The deal puller asks the server for the figures of the client accounts a page of deals touched and announces
them in the page's transaction (`live.announce_states`, one outbox statement): that transaction is the anchor.
The measured one adds `margin_alerts.evaluate` (levels, re-arm, alert upsert, a notification per crossing).
Batches of states for the same accounts alternate between the two, each in its own transaction; the margin
levels walk at random, mostly healthy, so some batches cross the warning or stop-out level and most do not.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from bench.harness import bench_services
from domain.platforms.port import AccountState
from domain.shared.db import SessionFactory, create_engine, create_session_factory, utcnow
from domain.shared.settings import Settings
from domain.trading import live, margin_alerts
from domain.trading.accounts import AccountSpec, register_accounts
from domain.trading.live import LiveState, OwnedAccount
from domain.trading.servers import ServerConfig, upsert_server

ACCOUNTS = 2_000
PER_BATCH = 200  # client accounts touched by one page of deals


async def _setup(factory: SessionFactory) -> list[OwnedAccount]:
    async with factory() as s, s.begin():
        server_id = await upsert_server(s, "bench", ServerConfig("bench-margin", "http://127.0.0.1:1", 1, "x"))
        await register_accounts(s, server_id, [AccountSpec(100_000 + i, "real\\standard", 100, "USD")
                                               for i in range(ACCOUNTS)])  # fmt: skip
        await s.execute(text(
            "INSERT INTO users (email, email_normalized, is_client) SELECT e, e, true FROM "
            "(SELECT 'margin-bench-' || g || '@example.com' AS e FROM generate_series(1, :n) g) x"), {"n": ACCOUNTS})
        await s.execute(text(
            "UPDATE trading_accounts a SET user_id = u.id FROM users u WHERE a.server_id = :s "
            "AND u.email = 'margin-bench-' || (a.login - 99999) || '@example.com'"), {"s": server_id})
    async with factory() as s:
        return await live.owned_accounts(s, server_id, [100_000 + i for i in range(ACCOUNTS)])


def _batches(accounts: list[OwnedAccount], n: int, seed: int = 23) -> list[tuple[list[OwnedAccount],
                                                                                      list[LiveState | None]]]:
    rng = random.Random(seed)
    level = {a.id: Decimal(rng.randrange(120, 400)) for a in accounts}
    out: list[tuple[list[OwnedAccount], list[LiveState | None]]] = []
    for _ in range(n):
        chosen = rng.sample(accounts, PER_BATCH)
        states: list[LiveState | None] = []
        for a in chosen:
            # A random walk pulled back towards 250%: most accounts stay healthy, some fall and recover.
            step = Decimal(rng.randrange(-60, 61)) + (Decimal(250) - level[a.id]) / 10
            level[a.id] = max(Decimal(10), level[a.id] + step)
            margin = Decimal(rng.randrange(100, 10_000))
            equity = (margin * level[a.id] / 100).quantize(Decimal("0.01"))
            st = AccountState(a.login, "USD", equity, Decimal(0), equity, margin, equity - margin,
                              Decimal(0), Decimal(0))
            states.append(LiveState(st, utcnow(), False))
        out.append((chosen, states))
    return out


async def run(*, quick: bool) -> dict[str, Any]:
    rounds = 20 if quick else 200
    async with bench_services("margin_alerts") as (database_url, _redis):
        engine = create_engine(database_url, Settings(database_url=database_url), pool_size=2)
        factory = create_session_factory(engine)
        try:
            accounts = await _setup(factory)
            batches = _batches(accounts, rounds)
            plain_s = alerts_s = 0.0
            raised = 0
            for owned, states in batches:  # alternate: the same batch without, then with alerts
                t = time.perf_counter()
                async with factory() as s, s.begin():
                    await live.announce_states(s, owned, states)
                plain_s += time.perf_counter() - t
                t = time.perf_counter()
                async with factory() as s, s.begin():
                    await live.announce_states(s, owned, states)
                    raised += await margin_alerts.evaluate(s, owned[0].server_id, owned, states)
                alerts_s += time.perf_counter() - t
        finally:
            await engine.dispose()
    n = rounds * PER_BATCH
    per = 1e6 / n
    return {
        "states": n, "states_per_batch": PER_BATCH, "notifications_raised": raised,
        "anchor_announce_without_alerts_us_per_state": round(plain_s * per, 2),
        "announce_with_alerts_us_per_state": round(alerts_s * per, 2),
        "extra_us_per_state": round((alerts_s - plain_s) * per, 2),
        "ratio_with_over_without": round(alerts_s / plain_s, 3),
    }
