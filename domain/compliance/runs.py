"""Re-screening runs: a list import queues a delta run (its added, changed and removed entities), a staff
member or the schedule queues a full one; the worker executes them (rescreen.py) and their progress and
figures are visible through the API (`screeningRuns`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.compliance.errors import ScreeningListNotFound
from domain.compliance.matching import DEFAULT_THRESHOLD, MATCHER_VERSION
from domain.events.outbox import emit
from domain.shared.actor import Actor
from domain.shared.db import Reader, driver
from domain.shared.pagination import Page, PageRequest, sql_page

LIST_CHANGED_TOPIC = "compliance.list_changed"
RUN_REQUESTED_TOPIC = "compliance.rescreen_requested"
KINDS = ("delta", "full")
STATUSES = ("queued", "running", "completed", "failed")


@dataclass(frozen=True)
class ScreeningRun:
    id: int
    kind: str
    list_id: int | None
    list_name: str | None
    list_version: str | None
    entity_ids: list[str]
    removed_ids: list[str]
    status: str
    requested_by: int | None
    trigger: str
    matcher_version: str
    threshold: Decimal
    clients_total: int
    clients_done: int
    last_client_id: int
    upto_client_id: int | None
    hits_found: int
    hits_delisted: int
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime
    finished_at: datetime | None
    error: str | None


COLUMNS = ("id, kind, list_id, list_name, list_version, entity_ids, removed_ids, status, requested_by, trigger, "
           "matcher_version, threshold, clients_total, clients_done, last_client_id, upto_client_id, hits_found, "
           "hits_delisted, created_at, started_at, updated_at, finished_at, error")


def of_row(r: Any) -> ScreeningRun:
    values = dict(r) if isinstance(r, asyncpg.Record) else dict(r._mapping)
    values["entity_ids"] = list(values["entity_ids"])
    values["removed_ids"] = list(values["removed_ids"])
    return ScreeningRun(**values)


async def _queue(session: AsyncSession, actor: Actor, *, kind: str, trigger: str, list_id: int | None,
                 list_name: str | None, version: str | None, entity_ids: list[str] | None = None,
                 removed_ids: list[str] | None = None) -> ScreeningRun:
    conn = await driver(session)
    row = await conn.fetchrow(
        f"INSERT INTO screening_runs (kind, trigger, list_id, list_name, list_version, entity_ids, removed_ids, "  # noqa: S608
        f"requested_by, matcher_version, threshold) VALUES ($1, $2, $3, $4, $5, $6::text[], $7::text[], $8, $9, $10) "
        f"RETURNING {COLUMNS}", kind, trigger, list_id, list_name, version, entity_ids or [], removed_ids or [],
        actor.user_id, MATCHER_VERSION, Decimal(str(DEFAULT_THRESHOLD)))
    run = of_row(row)
    topic = LIST_CHANGED_TOPIC if kind == "delta" else RUN_REQUESTED_TOPIC
    await emit(session, topic, {"run_id": run.id, "list": list_name, "version": version}, job="rescreen_clients")
    await record(session, actor, action="screening_run.requested", entity_type="screening_run", entity_id=run.id,
                 after={"kind": kind, "trigger": trigger, "list": list_name, "version": version,
                        "entities": len(run.entity_ids), "removed": len(run.removed_ids)}, category="compliance")
    return run


async def queue_delta(session: AsyncSession, actor: Actor, *, list_id: int, list_name: str, version: str,
                      entity_ids: list[str], removed_ids: list[str]) -> ScreeningRun:
    """Queue the re-screening of every client against a list's added and changed entities (executed by the
    worker after commit, through the outbox); the removed entities' pending hits are delisted."""
    return await _queue(session, actor, kind="delta", trigger="import", list_id=list_id, list_name=list_name,
                        version=version, entity_ids=entity_ids, removed_ids=removed_ids)


async def queue_full(session: AsyncSession, actor: Actor, *, list_name: str | None, trigger: str) -> ScreeningRun:
    """Queue a full re-screening against one list (by name) or, without a name, every list."""
    conn = await driver(session)
    list_id = version = None
    if list_name is not None:
        found = await conn.fetchrow("SELECT id, version FROM screening_lists WHERE name = $1", list_name)
        if found is None:
            raise ScreeningListNotFound("no screening list of that name", field="listName")
        list_id, version = int(found["id"]), str(found["version"])
    return await _queue(session, actor, kind="full", trigger=trigger, list_id=list_id, list_name=list_name,
                        version=version)


async def get_run(session: Reader, run_id: int) -> ScreeningRun | None:
    row = await (await driver(session)).fetchrow(
        f"SELECT {COLUMNS} FROM screening_runs WHERE id = $1", run_id)  # noqa: S608
    return None if row is None else of_row(row)


async def runs_by_ids(session: Reader, ids: list[int]) -> dict[int, ScreeningRun]:
    rows = await (await driver(session)).fetch(
        f"SELECT {COLUMNS} FROM screening_runs WHERE id = ANY($1::bigint[])", ids)  # noqa: S608
    return {int(r["id"]): of_row(r) for r in rows}


async def list_runs(session: AsyncSession, page: PageRequest, *, kind: str | None = None,
                    status: str | None = None) -> Page[ScreeningRun]:
    """Newest first."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if kind is not None:
        where.append("kind = :k")
        params["k"] = kind
    if status is not None:
        where.append("status = :s")
        params["s"] = status
    return await sql_page(session, page, columns=COLUMNS, source="screening_runs", where=where, params=params,
                          key=("id",), descending=True, convert=of_row)


async def requeue(session: AsyncSession, run_id: int) -> None:
    """Hand a stalled run to the worker again (a new outbox event: a new job); it resumes where it stopped."""
    await emit(session, RUN_REQUESTED_TOPIC, {"run_id": run_id, "resumed": True}, job="rescreen_clients")


async def full_run_due(session: AsyncSession, interval_h: float) -> bool:
    """No full run queued or done (failed ones aside) within the interval; serialised by an advisory lock so
    two workers' schedules queue one run."""
    conn = await driver(session)
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('screening_runs.full_schedule'))")
    recent = await conn.fetchval(
        "SELECT 1 FROM screening_runs WHERE kind = 'full' AND list_id IS NULL AND status <> 'failed' "
        "AND created_at > now() - make_interval(secs => $1) LIMIT 1", interval_h * 3600)
    return recent is None
