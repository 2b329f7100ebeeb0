"""Regulatory report jobs: at 00:05 UTC capture the previous day's close for its EMIR valuations, at 01:30 build
the previous day's EMIR REFIT reports (T+1), at 01:40 its MiFIR transaction reports; also enqueued on demand
for one day (`build_emir_reports`, `build_mifir_reports`, day as ISO date) and on a staff member's request
(rebuildRegulatoryReports, through the outbox: `rebuild_regulatory_reports`, by regime; a MiFIR rebuild may be
the corrections of the rejected transactions only).

Survives running twice: a second run of a day supersedes the first run's files (kept, never overwritten), and
a run killed half way commits nothing (one transaction; part blobs it put are deleted on failure, or stay
unreferenced when the process dies). Missing settings or an unidentifiable client is a typed error: logged,
nothing stored, the day rebuilt once fixed (rebuildEmirReports).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import structlog
from arq import cron

from domain.clients.storage import default_store
from domain.regulatory.emir import build
from domain.regulatory.mifir import build as mifir_build
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction, utcnow
from domain.shared.errors import DomainError
from domain.shared.settings import Settings

WorkerCtx = dict[str, Any]
log = structlog.get_logger(__name__)


async def build_emir_reports(ctx: WorkerCtx, day: str | None = None, reason: str = "") -> dict[str, Any]:
    """Build one day's EMIR reports (default: yesterday, UTC)."""
    settings: Settings = ctx["settings"]
    when = date.fromisoformat(day) if day else utcnow().date() - timedelta(days=1)
    actor = system_actor("regulatory.emir_daily")
    try:
        files = await in_transaction(ctx["session_factory"], lambda s: build.build_day(
            s, settings, default_store(settings), actor, when, reason=reason))
    except DomainError as error:
        log.warning("emir reports not built", day=when.isoformat(), code=error.code, message=error.message)
        return {"day": when.isoformat(), "error": error.code}
    return {"day": when.isoformat(), "files": [f.id for f in files], "records": sum(f.records for f in files)}


async def capture_emir_close(ctx: WorkerCtx, day: str | None = None) -> dict[str, Any]:
    """Capture a day's close for its EMIR valuations (default: yesterday, UTC) minutes after it, so that the
    01:30 build values the positions open at the close at the close's prices, including those closed since."""
    when = date.fromisoformat(day) if day else utcnow().date() - timedelta(days=1)
    try:
        captured = await in_transaction(ctx["session_factory"], lambda s: build.capture_close(s, when))
    except DomainError as error:
        log.warning("emir close not captured", day=when.isoformat(), code=error.code, message=error.message)
        return {"day": when.isoformat(), "error": error.code}
    return {"day": when.isoformat(), "positions": captured.positions, "portfolios": captured.portfolios,
            "fresh": captured.fresh}


async def build_mifir_reports(ctx: WorkerCtx, day: str | None = None, reason: str = "",
                              corrections: bool = False) -> dict[str, Any]:
    """Build one day's MiFIR transaction reports (default: yesterday, UTC), or its corrections."""
    settings: Settings = ctx["settings"]
    when = date.fromisoformat(day) if day else utcnow().date() - timedelta(days=1)
    actor = system_actor("regulatory.mifir_daily")
    try:
        files = await in_transaction(ctx["session_factory"], lambda s: mifir_build.build_day(
            s, settings, default_store(settings), actor, when, reason=reason, corrections=corrections))
    except DomainError as error:
        log.warning("mifir reports not built", day=when.isoformat(), code=error.code, message=error.message)
        return {"day": when.isoformat(), "error": error.code}
    return {"day": when.isoformat(), "files": [f.id for f in files], "records": sum(f.records for f in files)}


async def rebuild_regulatory_reports(ctx: WorkerCtx, event_id: int, topic: str,
                                     payload: dict[str, Any]) -> dict[str, Any]:
    """A staff member's rebuild of one day of one regime (rebuildRegulatoryReports, relayed from the outbox)."""
    day, reason = str(payload["day"]), str(payload.get("reason", ""))
    if payload.get("regime", "emir") == "mifir":
        return await build_mifir_reports(ctx, day, reason, bool(payload.get("corrections", False)))
    return await build_emir_reports(ctx, day, reason)


async def rebuild_emir_reports(ctx: WorkerCtx, event_id: int, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Outbox events queued under the former job name (before regimes): an EMIR rebuild."""
    return await rebuild_regulatory_reports(ctx, event_id, topic, payload)


FUNCTIONS: list[Any] = [capture_emir_close, build_emir_reports, build_mifir_reports, rebuild_regulatory_reports,
                        rebuild_emir_reports]


def cron_jobs(settings: Settings) -> list[Any]:
    # The close is captured five minutes after midnight: deals of the day's last seconds are ingested by then, and
    # the deals since are taken back from each position's volume.
    return [cron(capture_emir_close, hour={0}, minute={5}, second={0}, unique=True),
            cron(build_emir_reports, hour={1}, minute={30}, second={0}, unique=True),
            cron(build_mifir_reports, hour={1}, minute={40}, second={0}, unique=True)]
