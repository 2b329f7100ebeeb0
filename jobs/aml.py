"""Transaction monitoring off the request path: trade batches (the ingestion's outbox event, evaluated
per client per batch here rather than in the ingestion's transaction), transfers a case released, and
the nightly schedule over every active client in batches (each batch its own transaction)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from arq import cron

from domain.compliance.aml import engine, events
from domain.ledger import transfers
from domain.ledger.errors import TradingAccountNotFound
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.settings import Settings
from domain.trading.directory import refresh_platforms

log = structlog.get_logger(__name__)
ACTOR = system_actor("compliance.aml")
SCHEDULE_BATCH = 500


async def aml_evaluate_deal_batch(ctx: dict[str, Any], event_id: int, topic: str, payload: dict[str, Any]) -> int:
    server_id, batch_id = int(payload["server_id"]), str(payload["batch_id"])

    async def txn(session: Any) -> int:
        return await events.on_deal_batch(session, ACTOR, server_id=server_id, batch_id=batch_id)

    return await in_transaction(ctx["session_factory"], txn)


async def aml_resume_transfer(ctx: dict[str, Any], event_id: int, topic: str, payload: dict[str, Any]) -> str:
    factory, transfer_id = ctx["session_factory"], int(payload["transfer_id"])
    try:
        row = await transfers.resume_released(factory, transfer_id)
    except TradingAccountNotFound:
        # The worker's platform directory is filled by a once-a-minute cron: a server configured since
        # (or a worker just started) is not in it yet, and the released transfer would sit pending until
        # recovery settled it as never sent. The lookup fails before anything is called, and resuming
        # is idempotent: refresh the directory and resume again.
        await refresh_platforms(factory, ctx["settings"].secret_key.get_secret_value())
        row = await transfers.resume_released(factory, transfer_id)
    return str(row.status)


async def aml_scheduled_scan(ctx: dict[str, Any], at: str | None = None) -> dict[str, int]:
    """Every live `schedule` scenario over every active client, as of now (or `at`, ISO)."""
    when = datetime.fromisoformat(at) if at else datetime.now(UTC)
    cursor: int | None = 0
    clients = alerts = 0
    while cursor is not None:
        after = cursor

        async def batch(session: Any, after: int = after) -> tuple[int, int, int | None]:
            return await engine.decide_schedule_batch(session, ACTOR, at=when, after_user_id=after,
                                                      limit=SCHEDULE_BATCH)

        n, raised, cursor = await in_transaction(ctx["session_factory"], batch)
        clients, alerts = clients + n, alerts + raised
    log.info("aml.schedule_done", clients=clients, alerts=alerts)
    return {"clients": clients, "alerts": alerts}


FUNCTIONS = [aml_evaluate_deal_batch, aml_resume_transfer, aml_scheduled_scan]


def cron_jobs(settings: Settings) -> list[Any]:
    return [cron(aml_scheduled_scan, hour={1}, minute={20}, unique=True)]
