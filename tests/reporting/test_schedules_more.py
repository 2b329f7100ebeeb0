"""Scheduled reports: run now (the run's file equal to the report read over the API for its period), an identical
duplicate refused (typed error, nothing written, on create and on update), the client, cohort and IB return
reports schedulable, someone else's schedule not found, and a run whose replica is down read on the primary,
saying so."""

from __future__ import annotations

import csv
import dataclasses
import io
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from domain.reporting import schedules
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import in_transaction
from domain.shared.replica import ReadReplica, SourceReason
from jobs.reporting import sweep
from tests.identity.staff import make_staff
from tests.reporting.test_schedules_seam import CREATE, UPDATE, _input
from tests.reporting.world import DAY0, ingest, make_world, random_deals

RUN_NOW = """mutation($id: ID!) { runReportScheduleNow(id: $id) {
  run { databaseId status since until rowCount sha256 recipientIds error dueAt } source { replica lagSeconds reason }
  errors { code field } } }"""
CLIENT_REPORT = """query($s: Date!, $u: Date!) { clientReport(since: $s, until: $u, dimension: COUNTRY) {
  lines { key figures { deals volumeLots netRevenueUsd depositsUsd registrations } }
  total { deals netRevenueUsd } } }"""


async def _state(session_factory: Any, owner: int) -> tuple[Any, ...]:
    async with session_factory() as s:
        return tuple((await s.execute(text(
            "SELECT (SELECT count(*) FROM reporting_schedules WHERE owner_id = :o), "
            "(SELECT count(*) FROM reporting_runs r JOIN reporting_schedules x ON x.id = r.schedule_id "
            " WHERE x.owner_id = :o), "
            "(SELECT count(*) FROM audit_events WHERE action LIKE 'reporting.%' AND actor_user_id = :o), "
            "(SELECT array_agg(ARRAY[id::text, format, interval, next_run_at::text] ORDER BY id) "
            " FROM reporting_schedules WHERE owner_id = :o)"), {"o": owner})).one())


async def test_run_now_produces_the_reports_figures_and_duplicates_are_refused(
    http: httpx.AsyncClient, session_factory: Any, settings: Any
) -> None:
    world = await make_world(session_factory)
    async with session_factory() as s:
        today = await s.scalar(text("SELECT (now() AT TIME ZONE 'UTC')::date"))
    # the world's deals on the day before today: the LAST_DAY period of a run made now
    shift = datetime.combine(today - timedelta(days=1), datetime.min.time(), UTC) - \
        datetime.combine(DAY0, datetime.min.time(), UTC)
    ms = int(shift.total_seconds() * 1000)
    deals = [dataclasses.replace(d, time=d.time + shift, time_msc=d.time_msc + ms)
             for d in random_deals(world, random.Random(8), 60) if d.time.date() == DAY0]
    await ingest(session_factory, world, deals)
    for _ in range(50):
        if (await sweep(session_factory))["batches"] == 0:
            break
    owner = await make_staff(http, session_factory, settings, ["ib_manager"], desk=world.desk)
    peer = await make_staff(http, session_factory, settings, ["ib_manager"], desk=world.desk)
    spec = _input([owner.user_id, peer.user_id], report="CLIENTS",
                  filters={"dimension": "COUNTRY", "period": "LAST_DAY"})
    made = (await owner.client(CREATE, {"i": spec}))["data"]["createReportSchedule"]
    assert made["errors"] == [], made
    sid, next_run = made["schedule"]["id"], made["schedule"]["nextRunAt"]

    # run now: a run of yesterday, the CSV rows the clientReport's figures, the next due run unchanged
    done = (await owner.client(RUN_NOW, {"id": sid}))["data"]["runReportScheduleNow"]
    assert done["errors"] == [] and done["source"] == {"replica": False, "lagSeconds": None,
                                                        "reason": "NOT_CONFIGURED"}, done
    run = done["run"]
    assert run["status"] == "DONE" and run["error"] is None, run
    assert (run["since"], run["until"]) == ((today - timedelta(days=1)).isoformat(), today.isoformat())
    assert sorted(run["recipientIds"]) == sorted([owner.user_id, peer.user_id])
    report = (await owner.client(CLIENT_REPORT, {"s": run["since"], "u": run["until"]}))["data"]["clientReport"]
    assert report["total"]["deals"] == sum(1 for d in deals if d.action in (0, 1) and d.login in world.logins[1:3]
                                           + world.logins[4:6]) > 0
    async with session_factory() as s:
        content = bytes(await s.scalar(text("SELECT content FROM reporting_runs WHERE id = :i"),
                                       {"i": run["databaseId"]}))
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert len(rows) == run["rowCount"] == len(report["lines"]) + 1
    for line, row in zip(report["lines"], rows, strict=False):
        assert (row["kind"], row["key"]) == ("line", line["key"])
        assert int(row["deals"]) == line["figures"]["deals"]
        assert Decimal(row["net_revenue_usd"]) == Decimal(line["figures"]["netRevenueUsd"])
    assert rows[-1]["kind"] == "total" and Decimal(rows[-1]["net_revenue_usd"]) == \
        Decimal(report["total"]["netRevenueUsd"])
    async with session_factory() as s:
        assert (await s.scalar(text("SELECT next_run_at FROM reporting_schedules WHERE id = :i"),
                               {"i": made["schedule"]["databaseId"]})).isoformat() == \
            datetime.fromisoformat(next_run).isoformat()
        assert await s.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'reporting.report_run_requested' "
                                   "AND entity_id = :i"), {"i": str(made["schedule"]["databaseId"])}) == 1

    # an identical schedule (recipients in another order) is refused, nothing written
    before = await _state(session_factory, owner.user_id)
    again = _input([peer.user_id, owner.user_id], report="CLIENTS", filters={"dimension": "COUNTRY",
                                                                            "period": "LAST_DAY"})
    dup = (await owner.client(CREATE, {"i": again}))["data"]["createReportSchedule"]
    assert dup["schedule"] is None and dup["errors"] == [{"code": "REPORT_SCHEDULE_DUPLICATE", "field": "input"}]
    assert await _state(session_factory, owner.user_id) == before
    # another format is another schedule; updating it into the first is refused too, nothing changed
    xlsx = (await owner.client(CREATE, {"i": {**again, "format": "XLSX"}}))["data"]["createReportSchedule"]
    assert xlsx["errors"] == [], xlsx
    before = await _state(session_factory, owner.user_id)
    upd = (await owner.client(UPDATE, {"id": xlsx["schedule"]["id"], "i": again}))["data"]["updateReportSchedule"]
    assert upd["schedule"] is None and upd["errors"] == [{"code": "REPORT_SCHEDULE_DUPLICATE", "field": "input"}]
    assert await _state(session_factory, owner.user_id) == before
    # the same settings by someone else are theirs to have
    other = (await peer.client(CREATE, {"i": again}))["data"]["createReportSchedule"]
    assert other["errors"] == [], other

    # someone else's schedule, or no schedule, is not found, and nothing is run
    before = await _state(session_factory, owner.user_id)
    for who, target in ((peer, sid), (owner, "UmVwb3J0U2NoZWR1bGU6OTk5OTk5OTk5"), (owner, "nonsense")):
        refused = (await who.client(RUN_NOW, {"id": target}))["data"]["runReportScheduleNow"]
        assert refused == {"run": None, "source": None,
                           "errors": [{"code": "REPORT_SCHEDULE_NOT_FOUND", "field": "id"}]}, refused
    assert await _state(session_factory, owner.user_id) == before

    # the cohort and IB return reports are schedulable and run; a dimension not of the report is refused
    for report_name, dimension in (("COHORTS", "FIRST_DEPOSIT_MONTH"), ("IB_RETURN", "IB")):
        spec = _input([owner.user_id], report=report_name, filters={"dimension": dimension, "period": "LAST_30_DAYS"})
        created = (await owner.client(CREATE, {"i": spec}))["data"]["createReportSchedule"]
        assert created["errors"] == [], created
        ran = (await owner.client(RUN_NOW, {"id": created["schedule"]["id"]}))["data"]["runReportScheduleNow"]
        assert ran["run"]["status"] == "DONE", ran
    before = await _state(session_factory, owner.user_id)
    bad = _input([owner.user_id], report="COHORTS", filters={"dimension": "COUNTRY", "period": "LAST_DAY"})
    wrong = (await owner.client(CREATE, {"i": bad}))["data"]["createReportSchedule"]
    assert wrong["errors"] == [{"code": "REPORT_DIMENSION_INVALID", "field": "filters.dimension"}]
    assert await _state(session_factory, owner.user_id) == before


async def test_a_scheduled_run_whose_replica_is_down_reads_the_primary_and_says_so(
    http: httpx.AsyncClient, session_factory: Any, settings: Any, runtime: Any
) -> None:
    world = await make_world(session_factory)
    owner = await make_staff(http, session_factory, settings, ["ib_manager"], desk=world.desk)
    made = (await owner.client(CREATE, {"i": _input([owner.user_id])}))["data"]["createReportSchedule"]
    down = ReadReplica("postgresql://postgres@127.0.0.1:1/none", settings.model_copy(update={
        "read_replica_timeout_s": 0.5}), runtime.engine)
    actor = Actor(ActorKind.STAFF, user_id=owner.user_id, permissions=frozenset({"reports.read"}), desk=world.desk)
    try:
        done = await in_transaction(session_factory, lambda s: schedules.run_now(
            s, settings, actor, int(made["schedule"]["databaseId"]), replica=down))
    finally:
        await down.close()
    assert done.status == "done" and done.source is not None
    assert (done.source.replica, done.source.reason) == (False, SourceReason.REPLICA_DOWN)
    async with session_factory() as s:
        after = await s.scalar(text("SELECT after FROM audit_events WHERE action = 'reporting.report_run_produced' "
                                    "AND entity_id = :i"), {"i": str(done.run_id)})
    assert after["source"] == {"replica": False, "lag_seconds": None, "reason": "replica_down"}
