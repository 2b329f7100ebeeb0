"""Ongoing screening for real: a list import's delta run and a full run a compliance officer starts through the
API reach the `forexcrm worker` process through the outbox (its relay, arq on the real Redis queue), which
executes them; the runs' progress, the hits and the cases they opened are read back through the API. Bad input
and a caller without the permission are typed errors that change nothing.

The worker is the real command in its own process, configured only through the environment; it lives for this
module only (its relay publishes every pending outbox event of this database)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from domain.compliance import lists, synthetic
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from domain.shared.settings import Settings
from schema.node import global_id
from tests.clients.staff_world import make_client, scalar
from tests.identity.staff import make_staff
from tests.worker_process import WorkerProcess, running_worker

RUN = "query($i: ID!) { screeningRun(id: $i) { id kind trigger status listName entitiesScreened entitiesRemoved " \
      "clientsTotal clientsDone hitsFound hitsDelisted finishedAt error } }"
RUNS = "query($k: String) { screeningRuns(kind: $k, first: 5) { nodes { id kind status } } }"
START = """mutation($l: String) { startFullScreeningRun(listName: $l) { run { id kind trigger status listName }
  errors { code field } } }"""
CASES = """query($u: ID!) { amlCases(userId: $u, first: 5) { nodes { team status alertCount
  screeningHits(first: 5) { nodes { entityId status listName } } } } }"""


@pytest.fixture(scope="module")
async def worker(settings: Settings, tmp_path_factory: Any) -> AsyncIterator[WorkerProcess]:
    log_path = tmp_path_factory.mktemp("rescreen-worker") / "worker.log"
    async with running_worker(settings, log_path, FOREXCRM_MAIL_DISABLED="true") as process:
        yield process


async def _finished(call: Any, run_id: str, worker: WorkerProcess) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        run = (await call(RUN, {"i": run_id}))["data"]["screeningRun"]
        if run["status"] in ("completed", "failed"):
            return dict(run)
        assert time.monotonic() < deadline, f"the run did not finish: {run}\n{worker.log_text()[-3000:]}"
        await asyncio.sleep(0.2)


async def test_an_import_and_a_manual_full_run_are_executed_by_the_worker(
        worker: WorkerProcess, http: httpx.AsyncClient, session_factory: Any, settings: Settings) -> None:
    rng = random.Random(uuid.uuid4().int)
    listed = (synthetic._word(rng, 3).title(), synthetic._word(rng, 4).title())
    key = uuid.uuid4().hex[:8]
    client_id, user_id, _ = await make_client(session_factory, settings, first=listed[0], last=listed[1],
                                              status="active")
    officer = (await make_staff(http, session_factory, settings, ["compliance"])).client
    list_name = f"seam-{key}"
    line = orjson.dumps({"id": f"t-{key}", "schema": "Person", "properties": {
        "name": [" ".join(listed)], "topics": ["sanction"]}})
    loaded = await in_transaction(session_factory, lambda s: lists.load_list(
        s, system_actor("test"), name=list_name, fmt="ftm", data=line))
    assert loaded.run is not None
    delta = await _finished(officer, global_id("ScreeningRun", loaded.run.id), worker)
    assert delta["status"] == "completed" and delta["error"] is None and delta["finishedAt"]
    assert (delta["kind"], delta["trigger"], delta["listName"], delta["entitiesScreened"]) == (
        "delta", "import", list_name, 1)
    assert delta["clientsDone"] == delta["clientsTotal"] >= 1 and delta["hitsFound"] == 1
    [case] = (await officer(CASES, {"u": str(user_id)}))["data"]["amlCases"]["nodes"]
    assert (case["team"], case["status"], case["alertCount"]) == ("compliance", "OPEN", 1)
    assert case["screeningHits"]["nodes"] == [{"entityId": f"t-{key}", "status": "pending", "listName": list_name}]

    started = (await officer(START, {"l": list_name}))["data"]["startFullScreeningRun"]
    assert started["errors"] == [] and started["run"]["kind"] == "full" and started["run"]["trigger"] == "manual"
    full = await _finished(officer, started["run"]["id"], worker)
    assert full["status"] == "completed" and full["clientsDone"] == full["clientsTotal"] >= 1
    assert full["hitsFound"] == 0  # the hit is on file: found again, stored once, no case joined twice
    [case] = (await officer(CASES, {"u": str(user_id)}))["data"]["amlCases"]["nodes"]
    assert case["alertCount"] == 1 and len(case["screeningHits"]["nodes"]) == 1
    listed_runs = (await officer(RUNS, {"k": "full"}))["data"]["screeningRuns"]["nodes"]
    assert {"id": started["run"]["id"], "kind": "full", "status": "completed"} in listed_runs
    assert await scalar(session_factory, "SELECT count(*) FROM screening_results WHERE client_id = :c",
                        c=client_id) == 1


async def test_bad_input_and_callers_without_the_permission_change_nothing(
        http: httpx.AsyncClient, session_factory: Any, settings: Settings) -> None:
    officer = (await make_staff(http, session_factory, settings, ["compliance"])).client
    support = (await make_staff(http, session_factory, settings, ["support"])).client

    async def counts() -> tuple[int, ...]:
        async with session_factory() as s:
            return tuple([int(await s.scalar(text(sql)) or 0) for sql in (
                "SELECT count(*) FROM screening_runs", "SELECT count(*) FROM outbox WHERE job = 'rescreen_clients'",
                "SELECT count(*) FROM audit_events WHERE action = 'screening_run.requested'")])

    before = await counts()
    unknown = (await officer(START, {"l": f"no-such-list-{uuid.uuid4().hex[:6]}"}))["data"]["startFullScreeningRun"]
    assert unknown == {"run": None, "errors": [{"code": "SCREENING_LIST_NOT_FOUND", "field": "listName"}]}
    denied = await support(START, {"l": None})
    assert denied["data"] is None and denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    hidden = await support(RUNS, {"k": None})
    assert hidden["data"] is None and hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await counts() == before
    bad_id = await officer(RUN, {"i": global_id("AmlCase", 1)})
    assert bad_id["errors"][0]["extensions"]["code"] == "INVALID_ID"
    missing = await officer(RUN, {"i": global_id("ScreeningRun", 10**12)})
    assert missing["data"]["screeningRun"] is None
