"""Commission engine throughput: deals/s through process_batch for a tree of depth 5; then IB payout
requests (`payouts.request_for_ib`, what `requestMyIbPayout` runs) over the IBs that earned.

Anchors (same run, same database): a bare INSERT ... SELECT of the same batch's deal rows into an
unlogged table, i.e. what touching each deal once costs without any commission logic; for the payout
requests, a transaction that only locks the IB's row and inserts one row (what claiming a payout
takes without reading dues or posting).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import text

from bench.harness import bench_services
from domain.ib import payouts
from domain.ib.engine import BatchOutcome, process_batch
from domain.ib.plans import ClauseKind, ClauseSpec, Distribution, add_version, create_plan
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import create_engine, create_session_factory, in_transaction, utcnow
from domain.shared.settings import Settings
from domain.trading.ingestion import DealBatch

DEPTH = 5
FANOUT = 4  # IBs per parent: 1 + 4 + 16 + 64 + 256 = 341 IBs
CLIENTS = 2000
T0 = datetime(2020, 6, 1, tzinfo=UTC)
LEVELS = (Decimal("0.5"), Decimal("0.2"), Decimal("0.1"))

_SETUP = """
INSERT INTO users (id, email, email_normalized, is_client)
SELECT g, 'u' || g || '@bench', 'u' || g || '@bench', true
FROM generate_series(1, CAST(:ibs AS int) + CAST(:clients AS int)) g;
SELECT setval('users_id_seq', CAST(:ibs AS int) + CAST(:clients AS int));
INSERT INTO ib_partners (user_id, status) SELECT g, 'approved' FROM generate_series(1, CAST(:ibs AS int)) g;
INSERT INTO trading_servers (id, name, platform, base_url, manager_login, password_enc)
VALUES (1, 'bench', 'mt5', 'http://127.0.0.1:1', 1, 'x');
INSERT INTO trading_accounts (server_id, login, user_id, "group", leverage, currency)
SELECT 1, 100000 + g, CAST(:ibs AS int) + g, 'real\\std', 100, 'USD'
FROM generate_series(1, CAST(:clients AS int)) g;
INSERT INTO ib_client_attributions (client_id, ib_id, source, valid_from)
SELECT CAST(:ibs AS int) + g, 1 + (g % CAST(:ibs AS int)), 'registration', :t
FROM generate_series(1, CAST(:clients AS int)) g
"""


async def _tree(session: Any) -> int:
    """Heap-numbered tree: node i's parent is (i - 2) // FANOUT + 1; closure rows by walking up."""
    n = sum(FANOUT**d for d in range(DEPTH))
    rows = []
    for i in range(1, n + 1):
        node, depth = i, 0
        while True:
            rows.append({"a": node, "d": i, "k": depth, "t": T0})
            if node == 1:
                break
            node, depth = (node - 2) // FANOUT + 1, depth + 1
    await session.execute(text("INSERT INTO ib_closure (ancestor_id, descendant_id, depth, valid_from) "
                               "VALUES (:a, :d, :k, :t)"), rows)
    return int(n)


async def _process(session: Any, *, batch: DealBatch, actor: Actor) -> BatchOutcome:
    return await process_batch(session, actor, batch)


async def run(*, quick: bool) -> dict[str, Any]:
    batches, per_batch = (3, 2000) if quick else (10, 5000)
    async with bench_services("ib_commissions") as (database_url, _redis):
        settings = Settings(database_url=database_url)
        engine = create_engine(database_url, settings, pool_size=2)
        factory = create_session_factory(engine)
        staff = Actor(ActorKind.STAFF)
        ibs = sum(FANOUT**d for d in range(DEPTH))

        async def setup(s: Any) -> None:
            for stmt in _SETUP.split(";"):
                await s.execute(text(stmt), {"ibs": ibs, "clients": CLIENTS, "t": T0})
            await _tree(s)
            pid = await create_plan(s, staff, name="bench", currency="USD", is_default=True)
            await add_version(s, staff, pid, distribution=Distribution.PERCENT, valid_from=T0, allow_retroactive=True,
                              clauses=[ClauseSpec(ClauseKind.PER_LOT, LEVELS, base_rate=Decimal(10),
                                                  max_total=Decimal(10)),
                                       ClauseSpec(ClauseKind.COMMISSION_SHARE, (Decimal("0.3"), Decimal("0.1")))])
            await s.execute(text("CREATE UNLOGGED TABLE bench_anchor AS SELECT * FROM trading_deals WITH NO DATA"))

        await in_transaction(factory, setup)
        engine_s = anchor_s = 0.0
        lines = 0
        actor = system_actor("bench")
        for b in range(batches):
            batch_id = uuid.uuid4()
            first = b * per_batch + 1
            start = T0 + timedelta(days=1, hours=b)
            async with factory() as s, s.begin():
                await s.execute(text(
                    "INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, account_id, order_id, "
                    "position_id, action, entry, symbol, price, volume, profit, commission, storage, fee, reason, "
                    "contract_size, rate_profit, rate_margin, batch_id) "
                    "SELECT 1, g, CAST(:t AS timestamptz) + make_interval(secs => g - CAST(:f AS int)), 0, "
                    "a.login, a.id, g, g, g % 2, 1, 'EURUSD', "
                    "1.1, 0.01 * (1 + g % 50), 0, -0.7, 0, 0, 0, 100000, 1, 1, :b "
                    "FROM generate_series(CAST(:f AS int), CAST(:f AS int) + CAST(:n AS int) - 1) g "
                    "JOIN trading_accounts a ON a.login = 100001 + (g % CAST(:c AS int))"),
                    {"t": start, "f": first, "n": per_batch, "b": batch_id, "c": CLIENTS})
            batch = DealBatch(batch_id, 1, first, first + per_batch - 1, start,
                              start + timedelta(seconds=per_batch), inserted=per_batch)
            t = time.perf_counter()
            out = await in_transaction(factory, partial(_process, batch=batch, actor=actor))
            engine_s += time.perf_counter() - t
            lines += out.lines
            t = time.perf_counter()
            async with factory() as s, s.begin():
                await s.execute(text("INSERT INTO bench_anchor SELECT * FROM trading_deals WHERE batch_id = :b "
                                     "AND time >= :t0 AND time <= :t1"),
                                {"b": batch_id, "t0": batch.from_time, "t1": batch.to_time})
            anchor_s += time.perf_counter() - t

        # Payout requests: each earning IB (daily cycle) asks for its payout, one transaction each. Two days
        # ahead, the last closed day ends after today's accruals, so each request pays what the IB earned.
        requesters = list(range(1, (100 if quick else ibs) + 1))
        async def daily(s: Any) -> None:
            await s.execute(text("UPDATE ib_partners SET payout_cycle = 'daily'"))
            await s.execute(text("CREATE UNLOGGED TABLE bench_payout_anchor (ib_id bigint, at timestamptz)"))

        await in_transaction(factory, daily)
        ahead = utcnow() + timedelta(days=2)
        t = time.perf_counter()
        paid = 0
        for ib in requesters:
            run = await in_transaction(factory, partial(payouts.request_for_ib, actor=actor, ib_id=ib, now=ahead))
            paid += len(run.created)
        request_s = time.perf_counter() - t
        t = time.perf_counter()
        for ib in requesters:
            async with factory() as s, s.begin():
                await s.execute(text("SELECT 1 FROM ib_partners WHERE user_id = :id FOR UPDATE"), {"id": ib})
                await s.execute(text("INSERT INTO bench_payout_anchor VALUES (:id, now())"), {"id": ib})
        request_anchor_s = time.perf_counter() - t
        await engine.dispose()
    deals = batches * per_batch
    return {
        "payout_requests": len(requesters), "payouts_made": paid,
        "payout_requests_per_s": round(len(requesters) / request_s),
        "anchor_lock_and_insert_tx_per_s": round(len(requesters) / request_anchor_s),
        "ratio_payout_request_over_anchor": round(request_anchor_s / request_s, 3),
        "tree_depth": DEPTH, "ibs": ibs, "clients": CLIENTS, "deals": deals, "lines": lines,
        "engine_deals_per_s": round(deals / engine_s), "engine_lines_per_s": round(lines / engine_s),
        "anchor_bare_insert_select_rows_per_s": round(deals / anchor_s),
        "ratio_engine_over_anchor": round(anchor_s / engine_s, 3),
    }
