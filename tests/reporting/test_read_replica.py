"""Reports on a real PostgreSQL streaming replica (tests/reporting/streaming_pair.py: a primary of the test's
own and a standby made with pg_basebackup -R): answered from the replica with its lag; from the primary,
saying why, when replay is paused behind new writes (lag above the limit), the standby is stopped or frozen
(SIGSTOP: its connections hang); back on
the replica once it has caught up or restarted. An idle primary reads lag 0, not the time since the last
commit. Falling back is logged once per change of state, not per request. The drill-downs and the scheduled
runs (run now, and the worker's due runs) are routed the same way."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.shared.replica import TAIL_BYTES, ReadReplica, SourceReason
from infra.runtime import open_runtime
from jobs.reporting import sweep
from tests.conftest import TestServices as Services
from tests.conftest import fresh_database, serve, suite_settings
from tests.identity.staff import make_staff
from tests.reporting.streaming_pair import StreamingPair, unusable_reason
from tests.reporting.world import DAY0, ingest, make_world, random_deals

REPORTS = """query($s: Date!, $u: Date!) {
  revenueReport(since: $s, until: $u, dimension: DESK, top: 50) {
    total { deals } source { replica lagSeconds reason } }
  moneyFlowReport(since: $s, until: $u, dimension: METHOD) { source { replica lagSeconds reason } } }"""
PERIOD = {"s": DAY0.isoformat(), "u": "2025-03-06"}
MAX_LAG = 1.0
CHECK_EVERY = 0.2


@pytest.fixture(scope="module")
def pair_env(base_urls: tuple[str, str], testrun_uid: str) -> Iterator[tuple[StreamingPair, Services]]:
    reason = unusable_reason()
    if reason is not None:
        pytest.skip(reason)
    pair = StreamingPair.create()
    try:
        databases = fresh_database((pair.url(pair.primary_port), base_urls[1]), testrun_uid, "replica")
        services = next(databases)
        try:
            pair.make_standby()
            yield pair, services
        finally:
            next(databases, None)
    finally:
        pair.destroy()


async def _reports(client: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
    body = await client(REPORTS, PERIOD)
    assert "errors" not in body, body
    revenue, money = body["data"]["revenueReport"], body["data"]["moneyFlowReport"]
    return revenue["total"]["deals"], revenue["source"], money["source"]


async def _until(client: Any, want: bool, timeout: float = 20.0) -> tuple[int, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        deals, source, money = await _reports(client)
        if source["replica"] is want and money["replica"] is want:
            return deals, source
        assert time.monotonic() < deadline, (want, source, money)
        await asyncio.sleep(CHECK_EVERY)


async def test_reports_read_the_replica_fall_back_when_it_lags_or_is_down_and_come_back(
    pair_env: tuple[StreamingPair, Services], testrun_uid: str
) -> None:
    pair, services = pair_env
    base = suite_settings(services, testrun_uid)
    replica_url = services.database_url.replace(f":{pair.primary_port}/", f":{pair.standby_port}/")
    assert replica_url != services.database_url
    settings = base.model_copy(update={
        "read_replica_url": replica_url, "read_replica_max_lag_s": MAX_LAG, "read_replica_timeout_s": 1.0,
        "read_replica_read_timeout_s": 2.0,
        "read_replica_check_interval_s": CHECK_EVERY, "channel_prefix": base.channel_prefix + "replica:",
        "queue_name": base.queue_name + ":replica", "redis_namespace": base.redis_namespace + "-replica"})
    assert settings.database_url and settings.redis_url
    rt = await open_runtime(settings, settings.database_url, settings.redis_url, start_hub=False)
    factory = rt.services.session_factory
    try:
        world = await make_world(factory)
        rng = random.Random(21)
        await ingest(factory, world, random_deals(world, rng, 60))
        await sweep(factory)
        await pair.wait_replayed()
        async with serve(settings) as live, httpx.AsyncClient(base_url=live.base_url, timeout=20) as http:
            finance = (await make_staff(http, factory, settings, ["finance"])).client

            # 1. on the replica, with its lag; an idle primary reads lag 0 (not the time since the last commit)
            before, source = await _until(finance, True)
            assert source["reason"] is None and source["lagSeconds"] is not None
            assert before > 0
            await pair.wait_replayed()
            await asyncio.sleep(1.5)
            since_commit = float(str(await pair.on_standby(
                "SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())")))
            _, idle, _ = await _reports(finance)
            assert idle["replica"] is True and idle["lagSeconds"] <= 0.5, (idle, since_commit)

            # 2. replay paused while the primary takes new deals: lag above the limit, the primary answers
            await pair.replay(paused=True)
            await ingest(factory, world, random_deals(world, rng, 400))
            await sweep(factory)
            async with factory() as s:
                on_primary = int(await s.scalar(text(
                    "SELECT count(*) FROM trading_deals WHERE server_id = :s"), {"s": world.server_id}) or 0)
            await asyncio.sleep(MAX_LAG + 0.5)
            after, lagging = await _until(finance, False)
            assert lagging["reason"] == "REPLICA_LAGGING" and lagging["lagSeconds"] > MAX_LAG, lagging
            assert after > before  # the new deals, read on the primary
            # ... which the paused standby has not got: a replica accepting any lag still reads the old rows
            patient = ReadReplica(replica_url, settings.model_copy(update={"read_replica_max_lag_s": 3600.0}),
                                  rt.engine)
            try:
                status = await patient.status()
                assert status.replica and status.lag_seconds is not None and status.lag_seconds > MAX_LAG
                stale = await patient.read(lambda s: s.scalar(text(
                    "SELECT count(*) FROM trading_deals WHERE server_id = :s"), {"s": world.server_id}))
                assert stale is not None and int(stale) < on_primary
            finally:
                await patient.close()

            # 3. replay resumed: back on the replica, with the new deals
            await pair.replay(paused=False)
            caught_up, back = await _until(finance, True)
            assert caught_up == after and back["lagSeconds"] <= MAX_LAG

            # 4. standby stopped: the primary answers, saying the replica is down; nothing fails
            pair.stop_standby()
            down_deals, down = await _until(finance, False)
            assert down == {"replica": False, "lagSeconds": None, "reason": "REPLICA_DOWN"}
            assert down_deals == after
            # logged once per change of state, not per request
            watcher = ReadReplica(replica_url, settings.model_copy(update={"read_replica_check_interval_s": 0.0}),
                                  rt.engine)
            try:
                for _ in range(3):
                    assert (await watcher.status()).reason is SourceReason.REPLICA_DOWN
                assert watcher.checks == 3 and watcher.announcements == 1
            finally:
                await watcher.close()

            # 5. standby restarted: back on the replica
            pair.start_standby()
            again, restarted = await _until(finance, True)
            assert again == after and restarted["reason"] is None

            # 6. standby frozen (a hung host: no answer, no refusal): the check times out, the primary answers
            pair.freeze_standby(True)
            try:
                started = time.monotonic()
                frozen_deals, frozen = await _until(finance, False)
                assert frozen["reason"] == "REPLICA_DOWN" and frozen_deals == after
                assert time.monotonic() - started < 10
            finally:
                pair.freeze_standby(False)
            _, thawed = await _until(finance, True)
            assert thawed["reason"] is None
    finally:
        await rt.close()


async def test_without_a_replica_reports_say_they_read_the_primary(
    http: httpx.AsyncClient, session_factory: Any, settings: Any
) -> None:
    assert settings.read_replica_url is None
    finance = (await make_staff(http, session_factory, settings, ["finance"])).client
    _, revenue, money = await _reports(finance)
    assert revenue == money == {"replica": False, "lagSeconds": None, "reason": "NOT_CONFIGURED"}


async def test_lag_bounds_idle_primary_in_flight_wal_and_unknown(settings: Any) -> None:
    """The lag arithmetic on its own (the pair test above drives it through real standbys)."""
    from domain.shared.db import create_engine

    primary = create_engine("postgresql://nobody@127.0.0.1:9/none", settings)  # never connected here
    r = ReadReplica("postgresql://nobody@127.0.0.1:9/none", settings, primary)
    try:
        t0 = time.monotonic() - 5.0  # the first check, five seconds ago
        # replayed what the primary had flushed at the check: 0, however long ago the last commit was (idle primary)
        assert r._lag(t0, 1000, 1000, 1000, 3600.0, True) == 0.0
        # received all the primary flushed, the head of a record not replayed yet (its tail unflushed there): 0
        assert r._lag(t0, 1100, 1100, 1000, 3600.0, True) == 0.0
        # replay behind what it received by more than a record's head: bounded by the last check it had caught up
        # with (t0), not by the last commit
        far = 1000 + 10 * TAIL_BYTES
        lag = r._lag(t0 + 0.5, far, far, 1000, 3600.0, True)
        assert lag is not None and 4.9 < lag <= time.monotonic() - t0
        # without a check it had caught up with: bounded by the last replayed commit
        other = ReadReplica("postgresql://nobody@127.0.0.1:9/none", settings, primary)
        assert other._lag(t0, far, far, 1000, 0.25, True) == 0.25
        # not streaming (cut off from the primary) and behind it: that bound again, not 0
        assert other._lag(t0, far, 1000, 1000, 0.3, False) == 0.3
        # a fresh process, behind, with nothing replayed since its standby started: unknown
        assert other._lag(t0, far + 1, far, 1000, None, True) is None
        await other.close()
    finally:
        await r.close()
        await primary.dispose()


DRILL = """query($s: Date!, $u: Date!, $k: String) {
  revenueReportDeals(since: $s, until: $u, dimension: SERVER, key: $k, first: 500) {
    nodes { dealId } source { replica lagSeconds reason } } }"""
RUN_NOW = """mutation($id: ID!) { runReportScheduleNow(id: $id) {
  run { status } source { replica lagSeconds reason } errors { code } } }"""


async def test_drill_downs_and_scheduled_runs_read_the_replica_and_fall_back_when_it_lags(
    pair_env: tuple[StreamingPair, Services], testrun_uid: str
) -> None:
    from jobs.reporting import run_due_schedules
    from tests.reporting.test_schedules_seam import CREATE, _input

    pair, services = pair_env
    base = suite_settings(services, testrun_uid)
    replica_url = services.database_url.replace(f":{pair.primary_port}/", f":{pair.standby_port}/")
    settings = base.model_copy(update={
        "read_replica_url": replica_url, "read_replica_max_lag_s": MAX_LAG, "read_replica_timeout_s": 1.0,
        "read_replica_read_timeout_s": 2.0, "read_replica_check_interval_s": CHECK_EVERY,
        "channel_prefix": base.channel_prefix + "drill:", "queue_name": base.queue_name + ":drill",
        "redis_namespace": base.redis_namespace + "-drill"})
    assert settings.database_url and settings.redis_url
    await pair.replay(paused=False)
    rt = await open_runtime(settings, settings.database_url, settings.redis_url, start_hub=False)
    factory = rt.services.session_factory
    try:
        world = await make_world(factory)
        rng = random.Random(31)
        await ingest(factory, world, random_deals(world, rng, 60))
        await sweep(factory)
        await pair.wait_replayed()
        variables = {**PERIOD, "k": str(world.server_id)}
        async with serve(settings) as live, httpx.AsyncClient(base_url=live.base_url, timeout=20) as http:
            finance = await make_staff(http, factory, settings, ["finance"])

            async def drill(want: bool) -> tuple[int, dict[str, Any]]:
                deadline = time.monotonic() + 20
                while True:
                    body = await finance.client(DRILL, variables)
                    assert "errors" not in body, body
                    page = body["data"]["revenueReportDeals"]
                    if page["source"]["replica"] is want:
                        return len(page["nodes"]), page["source"]
                    assert time.monotonic() < deadline, page["source"]
                    await asyncio.sleep(CHECK_EVERY)

            # 1. the drill-down on the replica, with its lag; a run made now reads it too
            before, source = await drill(True)
            assert before > 0 and source["reason"] is None and source["lagSeconds"] is not None
            made = (await finance.client(CREATE, {"i": _input([finance.user_id])}))["data"]["createReportSchedule"]
            assert made["errors"] == [], made
            ran = (await finance.client(RUN_NOW, {"id": made["schedule"]["id"]}))["data"]["runReportScheduleNow"]
            assert ran["run"]["status"] == "DONE" and ran["source"]["replica"] is True, ran

            # 2. replay paused behind new deals: the drill and the runs read the primary, saying why
            await pair.replay(paused=True)
            try:
                await ingest(factory, world, random_deals(world, rng, 100))
                await sweep(factory)
                await asyncio.sleep(MAX_LAG + 0.5)
                after, lagging = await drill(False)
                assert lagging["reason"] == "REPLICA_LAGGING" and after > before, (after, before, lagging)
                ran = (await finance.client(RUN_NOW, {"id": made["schedule"]["id"]}))["data"]["runReportScheduleNow"]
                assert ran["source"]["replica"] is False and ran["source"]["reason"] == "REPLICA_LAGGING", ran
                # the worker's due run, routed the same way, keeps where it read in its audit record
                async with factory() as s, s.begin():
                    await s.execute(text("UPDATE reporting_schedules SET next_run_at = now() - interval '1 second' "
                                         "WHERE id = :i"), {"i": made["schedule"]["databaseId"]})
                assert await run_due_schedules(factory, settings, replica=rt.services.replica) >= 1
                async with factory() as s:
                    audited = await s.scalar(text(
                        "SELECT e.after FROM audit_events e JOIN reporting_runs r ON e.entity_id = r.id::text "
                        "WHERE e.action = 'reporting.report_run_produced' AND r.schedule_id = :i "
                        "ORDER BY r.id DESC LIMIT 1"), {"i": made["schedule"]["databaseId"]})
                assert audited["source"]["replica"] is False and audited["source"]["reason"] == "replica_lagging"
            finally:
                await pair.replay(paused=False)
            # 3. caught up: back on the replica, with the new deals
            caught_up, back = await drill(True)
            assert caught_up == after and back["lagSeconds"] <= MAX_LAG
    finally:
        await rt.close()
