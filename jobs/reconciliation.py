"""Reconciliation jobs: capture platform balance snapshots (balance and equity) just before midnight
UTC, then reconcile the day that ended at midnight: the three-way sections and the internal client
money reconciliation of that day's close (requirement vs the segregated balances staff recorded for it).

Both survive running twice or being killed half way: a capture writes one timestamped set of rows
(a repeat adds another set; a run uses each account's latest), and a run is one transaction keyed
by its cutoff that updates its breaks in place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from arq import cron

from domain.reconciliation import runs, snapshots
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.settings import Settings

WorkerCtx = dict[str, Any]


async def capture_platform_balances(ctx: WorkerCtx) -> dict[str, int]:
    result = await snapshots.capture_balances(ctx["session_factory"])
    return {"captured": result.captured, "failed": result.failed}


async def run_daily_reconciliation(ctx: WorkerCtx, cutoff: str | None = None) -> dict[str, Any]:
    """Reconcile as of `cutoff` (ISO 8601; default the latest midnight UTC); also enqueued on demand."""
    cut = datetime.fromisoformat(cutoff) if cutoff else runs.latest_midnight()
    actor = system_actor("reconciliation.daily")
    view = await in_transaction(ctx["session_factory"], lambda s: runs.run_reconciliation(s, actor, cut))
    return {"run_id": view.id, "cutoff": view.cutoff.isoformat(), "breaks": view.summary.get("breaks")}


FUNCTIONS: list[Any] = [capture_platform_balances, run_daily_reconciliation]


def cron_jobs(settings: Settings) -> list[Any]:
    return [
        cron(capture_platform_balances, hour={23}, minute={55}, second={0}, unique=True),
        cron(run_daily_reconciliation, hour={0}, minute={20}, second={0}, unique=True),
    ]
