"""Client lifecycle jobs: open the initial live account after approval, expire ID documents daily,
retry leverage changes not yet on the platform, and ask the KYC provider for verdicts whose webhook
never came (re-screening when a list changes: jobs/compliance.py). Each survives running twice (idempotent
services)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arq import cron

from domain.clients import kyc, leverage
from domain.clients.accounts import open_live_account
from domain.clients.documents import expire_documents
from domain.clients.kyc_port import kyc_settings
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction
from domain.shared.settings import Settings

# Account opening acts for the system with the back-office view of every client.
SYSTEM = Actor(ActorKind.STAFF, permissions=frozenset({"kyc.review", "clients.update"}), correlation_id="jobs")


async def open_initial_account(ctx: dict[str, Any], event_id: int, topic: str, payload: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    await open_live_account(ctx["session_factory"], settings, SYSTEM, int(payload["client_id"]),
                            idempotency_key="initial")


async def expire_client_documents(ctx: dict[str, Any]) -> None:
    async def txn(session: Any) -> int:
        return await expire_documents(session, datetime.now(UTC).date())

    await in_transaction(ctx["session_factory"], txn)


async def apply_leverage_changes(ctx: dict[str, Any]) -> None:
    """Approved leverage changes whose platform call failed; setting an absolute value twice is harmless."""
    async with ctx["session_factory"]() as session:
        ids = await leverage.unapplied(session)
    for request_id in ids:
        await leverage.apply(ctx["session_factory"], ctx["settings"], system_actor("leverage-retry"), request_id)


async def poll_kyc_verdicts(ctx: dict[str, Any]) -> None:
    async with ctx["session_factory"]() as session:
        ids = await kyc.awaiting_verdict(session)
    if not ids or not kyc_settings().configured:
        return
    for client_id in ids:
        await kyc.refresh_verdict(ctx["session_factory"], system_actor("kyc-poll"), client_id)


FUNCTIONS = [open_initial_account, expire_client_documents, apply_leverage_changes,
             poll_kyc_verdicts]


def cron_jobs(settings: Settings) -> list[Any]:
    return [cron(expire_client_documents, hour={3}, minute={15}),
            cron(apply_leverage_changes, minute=set(range(0, 60, 5))),
            cron(poll_kyc_verdicts, minute=set(range(7, 60, 15)))]
