"""Retention enforcement: a run asked for through the API (outbox -> this job) or the nightly cron
(which queues a run of its own, so every run is visible through `retentionRuns`), and the re-sealing
of documents stored before per-client keys. Both survive running twice (runs.py, reseal.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arq import cron

from domain.clients.storage import default_store
from domain.retention import reseal, runs
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.settings import Settings

ACTOR = system_actor("retention")


async def enforce_retention(ctx: dict[str, Any], event_id: int, topic: str, payload: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    await runs.execute(ctx["session_factory"], default_store(settings), ACTOR, int(payload["run_id"]))


async def enforce_retention_nightly(ctx: dict[str, Any]) -> None:
    """Queue tonight's run; the outbox hands it to `enforce_retention` like one a staff member asked for."""
    async def txn(session: Any) -> None:
        await runs.request_run(session, ACTOR, datetime.now(UTC).date())

    await in_transaction(ctx["session_factory"], txn)


async def reseal_legacy_documents(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    await reseal.reseal_legacy(ctx["session_factory"], settings, default_store(settings), ACTOR)


FUNCTIONS = [enforce_retention, enforce_retention_nightly, reseal_legacy_documents]


def cron_jobs(settings: Settings) -> list[Any]:
    return [cron(enforce_retention_nightly, hour={2}, minute={40}),
            cron(reseal_legacy_documents, hour={1}, minute={50})]
