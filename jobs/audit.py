"""Audit jobs: the daily seal (hourly, idempotent: it seals whatever closed days are unsealed)."""

from __future__ import annotations

from typing import Any

from arq import cron

from domain.audit.seal import seal_due_days
from domain.shared.settings import Settings


async def seal_audit_days(ctx: dict[str, Any]) -> int:
    """Seal every closed, unsealed day; safe to run twice or to be killed half way."""
    async with ctx["session_factory"]() as session, session.begin():
        sealed = await seal_due_days(session)
    return len(sealed)


FUNCTIONS: list[Any] = [seal_audit_days]


def cron_jobs(settings: Settings) -> list[Any]:
    # Hourly rather than once at 00:15, so a day missed while the worker was down is caught up.
    return [cron(seal_audit_days, minute={15}, second={0}, unique=True)]  # type: ignore[arg-type]
