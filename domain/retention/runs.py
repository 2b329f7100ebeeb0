"""Enforcement runs: a staff member (or the nightly cron) asks for one, the worker executes it
client by client, and its progress and outcome are visible through the API (`retentionRuns`).

A run survives running twice and being killed half way: each client is its own transaction and
erases only what is not erased yet, and a run found 'running' is simply carried on; a completed run
is never run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.storage import BlobStore
from domain.events.outbox import emit
from domain.retention.enforcement import ENDED, ClientOutcome, enforce_client
from domain.shared.actor import Actor
from domain.shared.db import Reader, SessionFactory, driver, in_transaction
from domain.shared.pagination import Page, PageRequest, sql_page

log = structlog.get_logger(__name__)

TOPIC = "retention.run_requested"
BATCH = 500


@dataclass(frozen=True)
class RetentionRun:
    id: int
    status: str
    requested_by: int | None
    as_of: date
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    clients_examined: int
    clients_held: int
    clients_erased: int
    documents_deleted: int
    communications_deleted: int
    keys_destroyed: int
    aml_cases_erased: int
    aml_files_deleted: int
    error: str | None


_COLUMNS = ("id, status, requested_by, as_of, created_at, started_at, finished_at, clients_examined, clients_held, "
            "clients_erased, documents_deleted, communications_deleted, keys_destroyed, aml_cases_erased, "
            "aml_files_deleted, error")


def _run(r: asyncpg.Record) -> RetentionRun:
    return RetentionRun(**dict(r))


async def request_run(session: AsyncSession, actor: Actor, as_of: date) -> RetentionRun:
    """Queue a run (executed by the worker after commit, through the outbox)."""
    conn = await driver(session)
    row = await conn.fetchrow(f"INSERT INTO retention_runs (requested_by, as_of) VALUES ($1, $2) "  # noqa: S608
                              f"RETURNING {_COLUMNS}", actor.user_id, as_of)
    run = _run(row)
    await emit(session, TOPIC, {"run_id": run.id}, job="enforce_retention")
    await record(session, actor, action="retention_run.requested", entity_type="retention_run", entity_id=run.id,
                 after={"as_of": as_of.isoformat()}, category="general")
    return run


async def get_run(session: Reader, run_id: int) -> RetentionRun | None:
    row = await (await driver(session)).fetchrow(f"SELECT {_COLUMNS} FROM retention_runs WHERE id = $1",  # noqa: S608
                                                 run_id)
    return None if row is None else _run(row)


async def runs_by_ids(session: Reader, ids: list[int]) -> dict[int, RetentionRun]:
    rows = await (await driver(session)).fetch(
        f"SELECT {_COLUMNS} FROM retention_runs WHERE id = ANY($1::bigint[])", ids)  # noqa: S608
    return {int(r["id"]): _run(r) for r in rows}


async def list_runs(session: AsyncSession, page: PageRequest) -> Page[RetentionRun]:
    """Newest first."""
    return await sql_page(session, page, columns=_COLUMNS, source="retention_runs", where=[], params={},
                          key=("id",), descending=True, convert=lambda r: RetentionRun(**r._mapping))


async def candidates(session: Reader, as_of: date, after_id: int, limit: int) -> list[int]:
    """Clients that may have something to erase: relationship ended and not yet shredded (or shredded
    with AML records kept longer, their period being set apart), or communications older than the
    shortest communications period in any schedule."""
    rows = await (await driver(session)).fetch(
        """
        SELECT id FROM (
            SELECT c.id FROM clients c WHERE c.status = ANY($1::text[]) AND c.id > $3
              AND (NOT EXISTS (SELECT 1 FROM client_keys k WHERE k.client_id = c.id AND k.wrapped IS NULL)
                   OR EXISTS (SELECT 1 FROM aml_cases a WHERE a.user_id = c.user_id AND a.erased_at IS NULL)
                   OR EXISTS (SELECT 1 FROM aml_decisions d WHERE d.user_id = c.user_id AND d.erased_at IS NULL))
            UNION
            SELECT m.client_id FROM client_communications m
            WHERE m.client_id > $3 AND m.created_at < ($2::date - make_interval(years => (
                SELECT coalesce(min(years), 0) FROM retention_schedules
                WHERE record_kind = 'communications' AND basis = 'created')))
        ) found ORDER BY id LIMIT $4
        """, list(ENDED), as_of, after_id, limit)
    return [int(r["id"]) for r in rows]


async def execute(factory: SessionFactory, store: BlobStore, actor: Actor, run_id: int) -> RetentionRun | None:
    """Run (or carry on) a queued run to its end."""
    async def claim(session: AsyncSession) -> date | None:
        as_of: date | None = await (await driver(session)).fetchval(
            "UPDATE retention_runs SET status = 'running', started_at = coalesce(started_at, now()) "
            "WHERE id = $1 AND status IN ('queued', 'running') RETURNING as_of", run_id)
        return as_of

    as_of = await in_transaction(factory, claim)
    if as_of is None:  # completed or failed already (a repeat delivery), or no such run
        async with factory() as session:
            return await get_run(session, run_id)
    after = 0
    try:
        while True:
            async with factory() as session:
                ids = await candidates(session, as_of, after, BATCH)
            if not ids:
                break
            examined = held = erased = docs = comms = destroyed = aml_cases = aml_files = 0
            for client_id in ids:
                async def one(session: AsyncSession, cid: int = client_id) -> ClientOutcome:
                    return await enforce_client(session, actor, store, cid, as_of)

                out = await in_transaction(factory, one)
                examined += 1
                held += out.held
                erased += out.erased_anything
                docs += out.documents_deleted
                comms += out.communications_deleted
                destroyed += out.key_destroyed
                aml_cases += out.aml.cases
                aml_files += out.aml.files
            after = ids[-1]

            async def progress(session: AsyncSession, counts: tuple[int, ...] = (
                    examined, held, erased, docs, comms, destroyed, aml_cases, aml_files)) -> None:
                await (await driver(session)).execute(
                    "UPDATE retention_runs SET clients_examined = clients_examined + $2, "
                    "clients_held = clients_held + $3, clients_erased = clients_erased + $4, "
                    "documents_deleted = documents_deleted + $5, communications_deleted = communications_deleted + $6, "
                    "keys_destroyed = keys_destroyed + $7, aml_cases_erased = aml_cases_erased + $8, "
                    "aml_files_deleted = aml_files_deleted + $9 WHERE id = $1", run_id, *counts)

            await in_transaction(factory, progress)
    except Exception as exc:
        log.exception("retention run failed", run_id=run_id)

        message = f"{type(exc).__name__}: {exc}"[:2000]

        async def failed(session: AsyncSession) -> None:
            await (await driver(session)).execute(
                "UPDATE retention_runs SET status = 'failed', finished_at = now(), error = $2 WHERE id = $1",
                run_id, message)

        await in_transaction(factory, failed)
        raise

    async def finish(session: AsyncSession) -> RetentionRun | None:
        await (await driver(session)).execute(
            "UPDATE retention_runs SET status = 'completed', finished_at = now() WHERE id = $1", run_id)
        run = await get_run(session, run_id)
        if run is not None:
            await record(session, actor, action="retention_run.completed", entity_type="retention_run",
                         entity_id=run_id, after={"clients_examined": run.clients_examined,
                                                  "clients_erased": run.clients_erased,
                                                  "documents_deleted": run.documents_deleted,
                                                  "communications_deleted": run.communications_deleted,
                                                  "keys_destroyed": run.keys_destroyed,
                                                  "aml_cases_erased": run.aml_cases_erased,
                                                  "aml_files_deleted": run.aml_files_deleted}, category="general")
        return run

    return await in_transaction(factory, finish)
