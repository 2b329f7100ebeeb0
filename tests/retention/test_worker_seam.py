"""The enforcement seam for real: a staff member asks for a run through the API -> outbox -> the
`forexcrm worker` process (its relay, arq on the real Redis queue) executes it -> the run's progress
and outcome read back through the API, the client's document gone from the store the worker was
configured with, their key destroyed, the audit chain still verifying.

The worker is the real command in its own process, configured only through the environment; it
lives for this module only (its relay publishes every pending outbox event of this database).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.audit.verify import verify
from domain.clients.storage import LocalStore
from domain.shared.settings import Settings
from tests.identity.staff import make_staff
from tests.retention.world import client_with_document, close_years_ago, document
from tests.worker_process import WorkerProcess, running_worker

RUN = """mutation($d: Date) { runRetentionEnforcement(asOf: $d) {
  run { databaseId status asOf } errors { code field } } }"""
RUNS = """{ retentionRuns(first: 10) { edges { node { databaseId status clientsExamined clientsErased
  documentsDeleted keysDestroyed finishedAt error } } } }"""


@pytest.fixture(scope="module")
async def data_dir(tmp_path_factory: Any) -> Path:
    return Path(tmp_path_factory.mktemp("retention-data"))


@pytest.fixture(scope="module")
async def worker(settings: Settings, data_dir: Path, tmp_path_factory: Any) -> AsyncIterator[WorkerProcess]:
    log_path = tmp_path_factory.mktemp("retention-worker") / "worker.log"
    async with running_worker(settings, log_path, FOREXCRM_DATA_DIR=str(data_dir),
                              FOREXCRM_MAIL_DISABLED="true") as process:
        yield process


async def _count(session_factory: Any, sql: str, **params: Any) -> int:
    async with session_factory() as s:
        return int(await s.scalar(text(sql), params) or 0)


async def test_a_run_asked_for_through_the_api_is_enforced_by_the_worker(
        worker: WorkerProcess, data_dir: Path, http: httpx.AsyncClient, session_factory: Any,
        settings: Settings) -> None:
    store = LocalStore(data_dir / "documents")  # what the worker's default store is under its data dir
    gone, _, gone_doc = await client_with_document(session_factory, settings, store, first="Seam")
    kept, _, kept_doc = await client_with_document(session_factory, settings, store, first="Stays")
    await close_years_ago(session_factory, gone, 6)
    await close_years_ago(session_factory, kept, 1)  # closed, but its 5 years are not over
    officer = await make_staff(http, session_factory, settings, ["compliance"])

    before = (await _count(session_factory, "SELECT count(*) FROM retention_runs"),
              await _count(session_factory, "SELECT count(*) FROM outbox WHERE job = 'enforce_retention'"))
    future = await officer.client(RUN, {"d": "2999-01-01"})
    assert future["data"]["runRetentionEnforcement"] == {"run": None,
                                                         "errors": [{"code": "VALIDATION_FAILED", "field": "asOf"}]}
    assert (await _count(session_factory, "SELECT count(*) FROM retention_runs"),
            await _count(session_factory, "SELECT count(*) FROM outbox WHERE job = 'enforce_retention'")) == before

    asked = await officer.client(RUN, {"d": None})
    payload = asked["data"]["runRetentionEnforcement"]
    assert payload["errors"] == [] and payload["run"]["status"] == "queued"
    run_id = payload["run"]["databaseId"]

    deadline = time.monotonic() + 90
    while True:
        listed = await officer.client(RUNS)
        run = next(e["node"] for e in listed["data"]["retentionRuns"]["edges"] if e["node"]["databaseId"] == run_id)
        if run["status"] in ("completed", "failed"):
            break
        assert time.monotonic() < deadline, f"the run did not finish: {run}"
        await asyncio.sleep(0.2)
    assert run["status"] == "completed" and run["error"] is None and run["finishedAt"]
    assert run["clientsExamined"] >= 2 and run["clientsErased"] >= 1
    assert run["documentsDeleted"] >= 1 and run["keysDestroyed"] >= 1

    erased = await document(session_factory, gone_doc)
    assert erased.erased_at is not None and not (store.root / erased.storage_key).exists()
    assert await _count(session_factory, "SELECT count(*) FROM client_keys WHERE client_id = :c AND wrapped IS NULL",
                        c=gone) == 1
    intact = await document(session_factory, kept_doc)
    assert intact.erased_at is None and (store.root / intact.storage_key).exists()
    async with session_factory() as s:  # no begin(): verify takes its own repeatable-read snapshot
        report = await verify(s)
    assert report.ok, report.first
