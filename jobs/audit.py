"""Audit jobs: the daily seal (hourly, idempotent: it seals whatever closed days are unsealed), then
its signed export off the database (export.py)."""

from __future__ import annotations

from typing import Any

from arq import cron

from domain.audit.export import export_seals, seal_archive
from domain.audit.seal import seal_due_days
from domain.shared.settings import Settings


async def seal_audit_days(ctx: dict[str, Any]) -> int:
    """Seal every closed, unsealed day, then sign and export every seal not exported yet; safe to
    run twice or to be killed half way (a seal is exported once, never replaced)."""
    settings: Settings = ctx["settings"]
    archive = seal_archive(settings)
    async with ctx["session_factory"]() as session, session.begin():
        sealed = await seal_due_days(session)
    async with ctx["session_factory"]() as session, session.begin():
        await export_seals(session, archive)
    return len(sealed)


FUNCTIONS: list[Any] = [seal_audit_days]


def cron_jobs(settings: Settings) -> list[Any]:
    # A worker that cannot sign or export seals refuses to start (production has no defaults).
    seal_archive(settings)
    # Hourly rather than once at 00:15, so a day missed while the worker was down is caught up.
    return [cron(seal_audit_days, minute={15}, second={0}, unique=True)]  # type: ignore[arg-type]
