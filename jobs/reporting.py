"""Reporting jobs: keep the daily rollups current (domain/reporting/rollups.py).

Every few seconds: the deal batches announced in the outbox and not added yet, each in its own
transaction (claimed by the statement that adds it, so overlapping sweeps and retries add it once),
then the batches' per-client sums folded into `reporting_client_daily` (appended by the statement that adds a
batch, one upsert per client x day for all of them), then the deposit and withdrawal entries not counted yet
(claimed per entry).

Twice a minute: the scheduled reports that are due, each run once (domain/reporting/schedules.py)."""

from __future__ import annotations

from functools import partial
from typing import Any

import structlog
from arq import cron

from domain.reporting import rollups, schedules
from domain.shared.db import SessionFactory, in_transaction
from domain.shared.replica import ReadReplica
from domain.shared.settings import Settings

log = structlog.get_logger(__name__)
WorkerCtx = dict[str, Any]
BATCHES_PER_SWEEP = 200
MAX_RUNS_PER_TICK = 100


async def sweep(factory: SessionFactory, *, batches: int = BATCHES_PER_SWEEP) -> dict[str, int]:
    added = await apply_batches(factory, batches=batches)
    clients = await sweep_clients(factory)
    money = await in_transaction(factory, lambda s: rollups.sweep_money(s))
    if added or clients or money.entries:
        log.info("reporting.sweep", batches=added, client_deltas=clients, entries=money.entries,
                 first_deposits=money.first_deposits)
    return {"batches": added, "client_deltas": clients, "entries": money.entries}


async def apply_batches(factory: SessionFactory, *, batches: int = BATCHES_PER_SWEEP) -> int:
    """The batches announced and not added yet (at most `batches`), each in its own transaction."""
    async with factory() as session:
        pending = await rollups.pending_batches(session, batches)
    added = 0
    for batch in pending:
        done = await in_transaction(factory, partial(rollups.apply_batch, batch=batch))
        added += done is not None
    return added


async def sweep_clients(factory: SessionFactory) -> int:
    """Fold the batches' per-client sums into `reporting_client_daily`; how many sums were folded."""
    return (await in_transaction(factory, lambda s: rollups.sweep_client_deals(s))).deltas


async def reporting_sweep(ctx: WorkerCtx) -> dict[str, int]:
    return await sweep(ctx["session_factory"])


async def run_due_schedules(factory: SessionFactory, settings: Settings, *, limit: int = MAX_RUNS_PER_TICK,
                            replica: ReadReplica | None = None) -> int:
    """Each due scheduled report once, one transaction per run (domain/reporting/schedules.py); the figures read
    on the read replica when one is configured and current."""
    made = 0
    for _ in range(limit):
        done = await in_transaction(factory, lambda s: schedules.run_next_due(s, settings, replica=replica))
        if done is None:
            break
        made += done.run_id is not None
        log.info("reporting.scheduled_run", schedule_id=done.schedule_id, run_id=done.run_id, status=done.status,
                 rows=done.rows, replica=done.source.replica if done.source else None,
                 replica_lag_s=done.source.lag_seconds if done.source else None)
    return made


async def report_schedules_due(ctx: WorkerCtx) -> int:
    services = ctx.get("services")
    return await run_due_schedules(ctx["session_factory"], ctx["settings"],
                                   replica=services.replica if services is not None else None)


FUNCTIONS: list[Any] = [reporting_sweep, report_schedules_due]


def cron_jobs(settings: Settings) -> list[Any]:
    return [cron(reporting_sweep, second=set(range(3, 60, 5)), unique=True, keep_result=0),
            cron(report_schedules_due, second={11, 41}, unique=True, keep_result=0)]
