"""Ongoing screening: re-screening runs (a list import's delta, a staff member's or the schedule's full run) all
reach the worker through the outbox and `rescreen_clients`; a cron queues the periodic full run and hands
stalled runs (their worker died) back to the worker, which resumes them after their last client done."""

from __future__ import annotations

from typing import Any

from arq import cron, func

from domain.compliance import rescreen, runs
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.settings import Settings

ACTOR = system_actor("screening")
# A run's progress moves every batch (seconds); one still for this long lost its worker.
STALLED_MIN = 15
# A full run over every client and list may take hours; its batches commit as they go.
RUN_TIMEOUT_S = 12 * 3600


async def rescreen_clients(ctx: dict[str, Any], event_id: int, topic: str, payload: dict[str, Any]) -> None:
    if "run_id" not in payload:  # an import announced before runs existed: screen against its whole list
        async def queue(session: Any) -> int:
            run = await runs.queue_full(session, ACTOR, list_name=str(payload["list"]), trigger="import")
            return run.id

        await in_transaction(ctx["session_factory"], queue)
        return
    await rescreen.execute(ctx["session_factory"], ACTOR, int(payload["run_id"]))


async def rescreen_schedule(ctx: dict[str, Any]) -> None:
    """Queue the periodic full run when due; hand stalled runs back to the worker."""
    settings: Settings = ctx["settings"]

    async def txn(session: Any) -> None:
        interval = settings.screening_full_interval_h
        if interval > 0 and await runs.full_run_due(session, interval):
            await runs.queue_full(session, ACTOR, list_name=None, trigger="schedule")
        for run_id in await rescreen.stalled(session, STALLED_MIN):
            await runs.requeue(session, run_id)

    await in_transaction(ctx["session_factory"], txn)


FUNCTIONS = [func(rescreen_clients, name="rescreen_clients", timeout=RUN_TIMEOUT_S), rescreen_schedule]


def cron_jobs(settings: Settings) -> list[Any]:
    return [cron(rescreen_schedule, minute={23})]
