"""Extra cost per ingested deal of keeping exposure and client metrics current.

The same generated deals are ingested twice in one run on one database, each time under a new
server id (dedupe is per server): first with the risk triggers disabled and no risk step, then with
the triggers on and the per-batch risk step (prices, trade log, metrics, detectors, limits) in its
own transaction after each batch, as the sweeper does.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from bench.harness import bench_services
from bench.scenarios.deal_ingestion import BATCH, LOGINS, generate_deals
from domain.platforms.port import Deal
from domain.risk.batch import RiskBatch, process_batch
from domain.shared.actor import system_actor
from domain.shared.db import SessionFactory, create_engine, create_session_factory
from domain.shared.settings import Settings
from domain.trading.accounts import AccountSpec, register_accounts
from domain.trading.ingestion import ingest_batch
from domain.trading.servers import ServerConfig, upsert_server

TRIGGERS = ("risk_exposure_ins", "risk_exposure_upd", "risk_exposure_del")


async def _server(factory: SessionFactory, name: str) -> int:
    async with factory() as s, s.begin():
        server_id = await upsert_server(s, "bench", ServerConfig(name, "http://127.0.0.1:1", 1, "x"))
        await register_accounts(s, server_id, [AccountSpec(100_000 + i, "real\\standard", 100, "USD")
                                               for i in range(LOGINS)])  # fmt: skip
    return server_id


async def _pass(factory: SessionFactory, deals: list[Deal], *, risk: bool) -> tuple[float, float]:
    server_id = await _server(factory, f"bench-{'risk' if risk else 'plain'}")
    actor = system_actor("bench.risk")
    ingest_s = risk_s = 0.0
    for i in range(0, len(deals), BATCH):
        t = time.perf_counter()
        async with factory() as s, s.begin():
            result = await ingest_batch(s, server_id, deals[i : i + BATCH])
        ingest_s += time.perf_counter() - t
        if risk:
            batch = RiskBatch.from_event(result.event_payload(server_id))
            assert batch is not None
            t = time.perf_counter()
            async with factory() as s, s.begin():
                await process_batch(s, actor, batch)
            risk_s += time.perf_counter() - t
    return ingest_s, risk_s


async def _triggers(factory: SessionFactory, enable: bool) -> None:
    async with factory() as s, s.begin():
        for name in TRIGGERS:
            await s.execute(text(f"ALTER TABLE trading_positions {'ENABLE' if enable else 'DISABLE'} TRIGGER {name}"))


async def run(*, quick: bool) -> dict[str, Any]:
    n = 40_000 if quick else 200_000
    deals = generate_deals(n)
    async with bench_services("risk_overhead") as (database_url, _redis):
        engine = create_engine(database_url, Settings(database_url=database_url), pool_size=2)
        factory = create_session_factory(engine)
        try:
            await _triggers(factory, False)
            plain_s, _ = await _pass(factory, deals, risk=False)
            await _triggers(factory, True)
            with_triggers_s, risk_s = await _pass(factory, deals, risk=True)
        finally:
            await engine.dispose()
    per = 1e6 / n
    return {
        "deals": n,
        "anchor_ingest_without_risk_us_per_deal": round(plain_s * per, 2),
        "ingest_with_exposure_triggers_us_per_deal": round(with_triggers_s * per, 2),
        "risk_batch_step_us_per_deal": round(risk_s * per, 2),
        "extra_us_per_deal": round((with_triggers_s + risk_s - plain_s) * per, 2),
        "ratio_total_over_plain": round((with_triggers_s + risk_s) / plain_s, 3),
        "deals_per_s_without_risk": round(n / plain_s), "deals_per_s_with_risk": round(n / (with_triggers_s + risk_s)),
    }
