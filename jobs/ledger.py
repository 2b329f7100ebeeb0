"""Ledger jobs: settle transfers whose platform outcome was unknown; purge expired idempotency keys.

Both survive running twice or being killed half way: recovery claims due transfers with SKIP
LOCKED and settles each under a row lock only from an open status; purging deletes expired rows.
"""

from __future__ import annotations

from typing import Any

from arq import cron

from domain.ledger import idempotency
from domain.ledger.transfers import recover_transfers as recover
from domain.shared.db import in_transaction
from domain.shared.settings import Settings

WorkerCtx = dict[str, Any]


async def recover_transfers(ctx: WorkerCtx) -> dict[str, int]:
    return await recover(ctx["session_factory"])


async def purge_idempotency_keys(ctx: WorkerCtx) -> int:
    return await in_transaction(ctx["session_factory"], idempotency.purge_expired)


FUNCTIONS: list[Any] = [recover_transfers, purge_idempotency_keys]


def cron_jobs(settings: Settings) -> list[Any]:
    return [
        cron(recover_transfers, second={5, 25, 45}, unique=True),  # type: ignore[arg-type]
        cron(purge_idempotency_keys, hour={3}, minute={41}, second={0}, unique=True),  # type: ignore[arg-type]
    ]
