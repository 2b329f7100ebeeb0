"""Scheduled reports end to end: a schedule made over HTTP, made due, run by the real `forexcrm worker` process
(its cron job, arq on the real Redis queue), the e-mails delivered through its relay to a real SMTP server on
loopback, each link downloading the CSV whose rows are the GraphQL report's figures; links tampered with,
expired or for someone else refused; a retried job making no second run; deny by default; bad input refused
with nothing changed."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text

from domain.clients import document_links
from domain.reporting import schedules
from domain.shared.settings import Settings
from jobs.reporting import run_due_schedules, sweep
from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.identity.staff import make_staff
from tests.reporting.test_reports_api import REVENUE
from tests.reporting.world import DAY0, World, ingest, make_world, random_deals
from tests.smtp import Inbox, smtp_server
from tests.worker_process import WorkerProcess, running_worker

CREATE = """mutation($i: ReportScheduleInput!) { createReportSchedule(input: $i) {
  schedule { id databaseId report dimension period interval format recipientIds desk allDesks paused nextRunAt }
  errors { code field } } }"""
UPDATE = """mutation($id: ID!, $i: ReportScheduleInput!) { updateReportSchedule(id: $id, input: $i) {
  schedule { id interval format } errors { code field } } }"""
PAUSE = """mutation($id: ID!, $p: Boolean!) { pauseReportSchedule(id: $id, paused: $p) {
  schedule { paused } errors { code field } } }"""
DELETE = """mutation($id: ID!) { deleteReportSchedule(id: $id) { deletedId errors { code field } } }"""
SCHEDULES = "{ reportSchedules(first: 50) { edges { node { id databaseId paused } } } }"
RUNS = """query($id: ID!) { reportRuns(scheduleId: $id, first: 10) { edges { node { id databaseId status since until
  rowCount sha256 recipientIds error linkExpiresAt dueAt } } } }"""
LINK = re.compile(r"https?://\S+/documents/report-run/\S+")


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as served:
        yield served


@pytest.fixture(scope="module")
async def worker(settings: Settings, smtp: tuple[Inbox, int], tmp_path_factory: Any) -> AsyncIterator[WorkerProcess]:
    _, port = smtp
    log_path = tmp_path_factory.mktemp("report-worker") / "worker.log"
    async with running_worker(settings, log_path, FOREXCRM_SMTP_URL=f"smtp://127.0.0.1:{port}",
                              FOREXCRM_SECRET_KEY=settings.secret_key.get_secret_value()) as process:
        yield process


def _input(recipients: list[Any], **over: Any) -> dict[str, Any]:
    base = {"report": "REVENUE", "filters": {"dimension": "SYMBOL", "period": "LAST_7_DAYS", "bucket": "DAY", "top": 2},
            "interval": "DAILY", "format": "CSV", "recipients": [str(r) for r in recipients]}
    return {**base, **over}


async def _mail(inbox: Inbox, address: str, *, within_s: float = 60.0) -> str:
    deadline = time.monotonic() + within_s
    while not inbox.to(address):
        assert time.monotonic() < deadline, f"no email to {address} within {within_s}s"
        await asyncio.sleep(0.1)
    return inbox.to(address)[0].get_payload(decode=True).decode()  # type: ignore[union-attr]


async def _scalar(session_factory: Any, sql: str, **params: Any) -> Any:
    async with session_factory() as s:
        return await s.scalar(text(sql), params)


async def _world(session_factory: Any) -> World:
    import random

    world = await make_world(session_factory)
    await ingest(session_factory, world, random_deals(world, random.Random(21), 150))
    await sweep(session_factory)
    return world


async def test_a_due_schedule_is_run_by_the_worker_and_its_mailed_link_downloads_the_reports_figures(
        worker: WorkerProcess, smtp: tuple[Inbox, int], http: httpx.AsyncClient, session_factory: Any,
        settings: Settings) -> None:
    inbox, _ = smtp
    world = await _world(session_factory)
    owner = await make_staff(http, session_factory, settings, ["ib_manager"], desk=world.desk)
    peer = await make_staff(http, session_factory, settings, ["ib_manager"], desk=world.desk)
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    made = await owner.client(CREATE, {"i": _input([owner.user_id, peer.user_id, admin.user_id])})
    payload = made["data"]["createReportSchedule"]
    assert payload["errors"] == [], payload
    sched = payload["schedule"]
    assert sched["desk"] == world.desk and not sched["allDesks"] and sched["interval"] == "DAILY"
    assert datetime.fromisoformat(sched["nextRunAt"]) > datetime.now(UTC)

    # Due now: at the slot of DAY0 + 3 (the period is the 7 days before it, holding every seeded deal).
    slot = datetime.combine(DAY0 + timedelta(days=3), datetime.min.time(), UTC)
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE reporting_schedules SET next_run_at = :t WHERE id = :id"),
                        {"t": slot, "id": sched["databaseId"]})
    await worker.arq.enqueue_job("report_schedules_due")
    deadline = time.monotonic() + 60
    while True:
        runs = (await owner.client(RUNS, {"id": sched["id"]}))["data"]["reportRuns"]["edges"]
        if runs:
            break
        assert time.monotonic() < deadline, worker.log_text()[-3000:]
        await asyncio.sleep(0.2)
    [run] = [e["node"] for e in runs]
    assert run["status"] == "DONE" and run["error"] is None, run
    assert (run["since"], run["until"]) == ((DAY0 - timedelta(days=4)).isoformat(), (DAY0 + timedelta(days=3)).isoformat())
    assert sorted(run["recipientIds"]) == sorted([owner.user_id, peer.user_id, admin.user_id])
    expires = datetime.fromisoformat(run["linkExpiresAt"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)

    # Every recipient's mail carries their own link; each downloads the same file, whose hash the run recorded.
    paths = {}
    for who in (owner, peer, admin):
        body = await _mail(inbox, who.email)
        [url] = LINK.findall(body)
        paths[who.user_id] = urlsplit(url).path
        got = await http.get(paths[who.user_id])
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv"), got.text
        assert hashlib.sha256(got.content).hexdigest() == run["sha256"]
    assert len(set(paths.values())) == 3
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert len(rows) == run["rowCount"]

    # ... and its rows are the figures the GraphQL report gives the owner for the same period.
    report = await owner.client(REVENUE, {"s": run["since"], "u": run["until"], "d": "SYMBOL", "b": "DAY", "t": 2})
    assert "errors" not in report, report
    report = report["data"]["revenueReport"]
    points = {(line["key"] or "", "other" if line["other"] else "line", p["bucket"]):
              (p["figures"]["deals"], Decimal(p["figures"]["netRevenueUsd"]))
              for line in report["lines"] for p in line["points"]}
    from_file = {(r["key"], r["kind"], r["bucket"]): (int(r["deals"]), Decimal(r["net_revenue_usd"]))
                 for r in rows if r["kind"] in ("line", "other")}
    assert from_file == points and len(points) == len(report["buckets"]) * len(report["lines"])
    [total] = [r for r in rows if r["kind"] == "total"]
    assert int(total["deals"]) == report["total"]["deals"] > 0
    assert Decimal(total["net_revenue_usd"]) == Decimal(report["total"]["netRevenueUsd"])
    assert await _scalar(session_factory, "SELECT count(*) FROM audit_events WHERE action = "
                         "'reporting.report_run_downloaded' AND entity_id = :r", r=str(run["databaseId"])) == 3
    assert await _scalar(session_factory, "SELECT count(*) FROM audit_events WHERE action = "
                         "'reporting.report_run_produced' AND entity_id = :r", r=str(run["databaseId"])) == 1

    # The back office's download: a short link for a recipient who asks (audited), the same file; none for others.
    run_link = "mutation($r: ID!) { reportRunLink(runId: $r) { link { url expiresAt } errors { code field } } }"
    asked = (await peer.client(run_link, {"r": run["id"]}))["data"]["reportRunLink"]
    assert asked["errors"] == [] and 0 < (datetime.fromisoformat(asked["link"]["expiresAt"])
                                          - datetime.now(UTC)).total_seconds() <= 61
    got = await http.get(urlsplit(asked["link"]["url"]).path)
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == run["sha256"]
    assert await _scalar(session_factory, "SELECT count(*) FROM audit_events WHERE action = "
                         "'reporting.report_run_link_issued' AND entity_id = :r", r=str(run["databaseId"])) == 1
    outsider = await make_staff(http, session_factory, settings, ["ib_manager"], desk=world.desk)
    for who, rid in ((outsider, run["id"]), (peer, "not-an-id"), (peer, "999999999")):
        refused = (await who.client(run_link, {"r": rid}))["data"]["reportRunLink"]
        assert (refused["link"], refused["errors"]) == (None, [{"code": "REPORT_RUN_NOT_FOUND", "field": "runId"}])
    assert await _scalar(session_factory, "SELECT count(*) FROM audit_events WHERE action = "
                         "'reporting.report_run_link_issued' AND entity_id = :r", r=str(run["databaseId"])) == 1

    # Tampered, expired, or for someone the run was not sent to: refused.
    token = paths[owner.user_id].rsplit("/", 1)[1]
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert (await http.get(f"/documents/report-run/{flipped}")).status_code == 404
    past = document_links.sign(settings, document_links.Claims(run["databaseId"], owner.user_id, 0,
                                                               int(time.time()) - 1), schedules.LINK_INFO)
    assert (await http.get(f"/documents/report-run/{past}")).status_code == 410
    stranger = await make_staff(http, session_factory, settings, ["administrator"])
    theirs = document_links.sign(settings, document_links.Claims(run["databaseId"], stranger.user_id, 0,
                                                                 int(time.time()) + 60), schedules.LINK_INFO)
    assert (await http.get(f"/documents/report-run/{theirs}")).status_code == 404
    # a link of another kind (a records export's key label) opens nothing here
    other_kind = document_links.sign(settings, document_links.Claims(run["databaseId"], owner.user_id, 0,
                                                                     int(time.time()) + 60))
    assert (await http.get(f"/documents/report-run/{other_kind}")).status_code == 404

    # A retried job for the same slot (the schedule made due at it again, the job run twice) makes no second run.
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE reporting_schedules SET next_run_at = :t WHERE id = :id"),
                        {"t": slot, "id": sched["databaseId"]})
    await asyncio.gather(run_due_schedules(session_factory, settings), run_due_schedules(session_factory, settings))
    await worker.arq.enqueue_job("report_schedules_due")
    await asyncio.sleep(1)
    assert await _scalar(session_factory, "SELECT count(*) FROM reporting_runs WHERE schedule_id = :s",
                         s=sched["databaseId"]) == 1
    assert await _scalar(session_factory, "SELECT next_run_at FROM reporting_schedules WHERE id = :s",
                         s=sched["databaseId"]) > datetime.now(UTC)
    assert len(inbox.to(owner.email)) == 1

    # Pause, update, delete: the owner's; the runs are kept.
    assert (await owner.client(PAUSE, {"id": sched["id"], "p": True}))["data"]["pauseReportSchedule"] == {
        "schedule": {"paused": True}, "errors": []}
    updated = await owner.client(UPDATE, {"id": sched["id"], "i": _input([peer.user_id], interval="WEEKLY",
                                                                         format="XLSX")})
    assert updated["data"]["updateReportSchedule"]["schedule"]["format"] == "XLSX"
    assert (await owner.client(DELETE, {"id": sched["id"]}))["data"]["deleteReportSchedule"]["errors"] == []
    listed = (await owner.client(SCHEDULES))["data"]["reportSchedules"]["edges"]
    assert sched["id"] not in [e["node"]["id"] for e in listed]
    assert len((await owner.client(RUNS, {"id": sched["id"]}))["data"]["reportRuns"]["edges"]) == 1


async def test_an_xlsx_run_in_process_and_a_recipient_who_lost_the_permission_gets_nothing(
        http: httpx.AsyncClient, session_factory: Any, settings: Settings) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    leaver = await make_staff(http, session_factory, settings, ["administrator"])
    made = await admin.client(CREATE, {"i": _input([admin.user_id, leaver.user_id], report="MONEY_FLOW",
                                                   format="XLSX", filters={"dimension": "CURRENCY",
                                                                           "period": "LAST_MONTH"})})
    sched = made["data"]["createReportSchedule"]["schedule"]
    assert sched["allDesks"] and sched["desk"] is None
    async with session_factory() as s, s.begin():
        await s.execute(text("DELETE FROM user_roles WHERE user_id = :u"), {"u": leaver.user_id})
        await s.execute(text("UPDATE reporting_schedules SET next_run_at = :t WHERE id = :id"),
                        {"t": datetime(2025, 4, 1, tzinfo=UTC), "id": sched["databaseId"]})
    # the job function as the worker calls it, in this process: other due schedules may run too
    await run_due_schedules(session_factory, settings)
    runs = (await admin.client(RUNS, {"id": sched["id"]}))["data"]["reportRuns"]["edges"]
    [run] = [e["node"] for e in runs]
    assert run["status"] == "DONE" and run["recipientIds"] == [admin.user_id]
    assert (run["since"], run["until"]) == ("2025-03-01", "2025-04-01")
    async with session_factory() as s:
        content = await s.scalar(text("SELECT content FROM reporting_runs WHERE id = :r"), {"r": run["databaseId"]})
    assert bytes(content[:2]) == b"PK" and hashlib.sha256(content).hexdigest() == run["sha256"]
    mails = await _scalar(session_factory, "SELECT count(*) FROM outbox WHERE job = 'send_email' "
                          "AND payload->>'user_id' = :u", u=str(leaver.user_id))
    assert mails == 0
    # the link (as e-mailed) downloads the XLSX; once the recipient loses reports.read it opens nothing
    link = schedules.link_url(settings, run["databaseId"], admin.user_id, int(time.time()) + 60)
    got = await http.get(urlsplit(link).path)
    assert got.status_code == 200 and got.headers["content-type"] == schedules.CONTENT_TYPES["xlsx"]
    assert hashlib.sha256(got.content).hexdigest() == run["sha256"]
    async with session_factory() as s, s.begin():
        await s.execute(text("DELETE FROM user_roles WHERE user_id = :u"), {"u": admin.user_id})
    assert (await http.get(urlsplit(link).path)).status_code == 404


async def test_a_run_whose_owner_lost_reports_read_is_kept_as_failed_and_mails_nobody(
        http: httpx.AsyncClient, session_factory: Any, settings: Settings) -> None:
    owner = await make_staff(http, session_factory, settings, ["administrator"])
    peer = await make_staff(http, session_factory, settings, ["administrator"])
    made = await owner.client(CREATE, {"i": _input([peer.user_id], report="FUNNEL",
                                                   filters={"dimension": "COUNTRY", "period": "LAST_WEEK"})})
    sched = made["data"]["createReportSchedule"]["schedule"]
    async with session_factory() as s, s.begin():
        await s.execute(text("DELETE FROM user_roles WHERE user_id = :u"), {"u": owner.user_id})
        await s.execute(text("UPDATE reporting_schedules SET next_run_at = :t WHERE id = :id"),
                        {"t": datetime(2025, 3, 5, tzinfo=UTC), "id": sched["databaseId"]})
    await run_due_schedules(session_factory, settings)
    async with session_factory() as s:
        run = (await s.execute(text("SELECT status, error, content, recipients, since, until FROM reporting_runs "
                                    "WHERE schedule_id = :s"), {"s": sched["databaseId"]})).one()
    assert run.status == "failed" and run.error.startswith("REPORT_RECIPIENT_NOT_PERMITTED") and run.content is None
    assert run.recipients == [] and (run.since.isoformat(), run.until.isoformat()) == ("2025-02-24", "2025-03-03")
    assert await _scalar(session_factory, "SELECT count(*) FROM outbox WHERE job = 'send_email' "
                         "AND payload->>'user_id' = :u", u=str(peer.user_id)) == 0


async def test_reports_read_is_needed_and_schedules_are_their_owners(
        http: httpx.AsyncClient, session_factory: Any, settings: Settings) -> None:
    owner = await make_staff(http, session_factory, settings, ["administrator"])
    made = await owner.client(CREATE, {"i": _input([owner.user_id])})
    sched = made["data"]["createReportSchedule"]["schedule"]
    client = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    support = (await make_staff(http, session_factory, settings, ["support"])).client
    for who, code in ((client, "FORBIDDEN"), (support, "FORBIDDEN"), (GraphQLClient(http), "UNAUTHENTICATED")):
        for query, vs in ((CREATE, {"i": _input([owner.user_id])}), (SCHEDULES, {}), (RUNS, {"id": sched["id"]}),
                          (DELETE, {"id": sched["id"]}), (PAUSE, {"id": sched["id"], "p": True})):
            body = await who(query, vs)
            assert body.get("data") is None and {e["extensions"]["code"] for e in body["errors"]} == {code}, body
    other = (await make_staff(http, session_factory, settings, ["administrator"])).client
    not_found = [{"code": "REPORT_SCHEDULE_NOT_FOUND", "field": "id"}]
    assert (await other(PAUSE, {"id": sched["id"], "p": True}))["data"]["pauseReportSchedule"]["errors"] == not_found
    assert (await other(DELETE, {"id": sched["id"]}))["data"]["deleteReportSchedule"]["errors"] == not_found
    assert (await other(UPDATE, {"id": sched["id"], "i": _input([owner.user_id])})
            )["data"]["updateReportSchedule"]["errors"] == not_found
    assert (await other(RUNS, {"id": sched["id"]}))["data"]["reportRuns"]["edges"] == []
    assert sched["id"] not in [e["node"]["id"] for e in (await other(SCHEDULES))["data"]["reportSchedules"]["edges"]]
    assert (await owner.client(SCHEDULES))["data"]["reportSchedules"]["edges"][0]["node"] == {
        "id": sched["id"], "databaseId": sched["databaseId"], "paused": False}


async def test_bad_input_is_a_typed_error_and_changes_nothing(
        http: httpx.AsyncClient, session_factory: Any, settings: Settings) -> None:
    world = await make_world(session_factory)
    owner = await make_staff(http, session_factory, settings, ["ib_manager"], desk=world.desk)
    support = await make_staff(http, session_factory, settings, ["support"])
    elsewhere = await make_staff(http, session_factory, settings, ["ib_manager"], desk=world.other_desk)
    unenrolled = await make_staff(http, session_factory, settings, ["administrator"], enrol=False)

    async def counts() -> tuple[int, int]:
        return (await _scalar(session_factory, "SELECT count(*) FROM reporting_schedules WHERE owner_id = :o",
                              o=owner.user_id),
                await _scalar(session_factory, "SELECT count(*) FROM audit_events WHERE actor_user_id = :o "
                              "AND action LIKE 'reporting.schedule%'", o=owner.user_id))

    before = await counts()
    cases = [
        (_input([]), "REPORT_RECIPIENTS_REQUIRED", "recipients"),
        (_input([owner.user_id, 987_654_321_012]), "REPORT_RECIPIENT_NOT_FOUND", "recipients.1"),
        (_input(["not-an-id"]), "REPORT_RECIPIENT_NOT_FOUND", "recipients.0"),
        (_input([support.user_id]), "REPORT_RECIPIENT_NOT_PERMITTED", "recipients.0"),
        (_input([owner.user_id, elsewhere.user_id]), "REPORT_RECIPIENT_NOT_PERMITTED", "recipients.1"),
        (_input([unenrolled.user_id]), "REPORT_RECIPIENT_NOT_PERMITTED", "recipients.0"),
        (_input([owner.user_id], filters={"dimension": "CAMPAIGN", "period": "LAST_DAY"}),
         "REPORT_DIMENSION_INVALID", "filters.dimension"),
        (_input([owner.user_id], filters={"dimension": "SYMBOL", "period": "LAST_DAY", "top": 0}),
         "REPORT_DIMENSION_INVALID", "filters.top"),
    ]
    for data, code, field in cases:
        body = await owner.client(CREATE, {"i": data})
        assert body["data"]["createReportSchedule"] == {"schedule": None, "errors": [{"code": code, "field": field}]}, \
            (code, body)
    deskless = await make_staff(http, session_factory, settings, ["ib_manager"])
    body = await deskless.client(CREATE, {"i": _input([deskless.user_id])})
    assert body["data"]["createReportSchedule"]["errors"] == [{"code": "REPORT_SCHEDULE_INVALID", "field": "report"}]
    assert await _scalar(session_factory, "SELECT count(*) FROM reporting_schedules WHERE owner_id = :o",
                         o=deskless.user_id) == 0
    bad_interval = await owner.client(CREATE, {"i": _input([owner.user_id], interval="HOURLY")})
    assert bad_interval.get("data") is None and bad_interval["errors"]
    assert await counts() == before
    made = await owner.client(CREATE, {"i": _input([owner.user_id])})
    sched = made["data"]["createReportSchedule"]["schedule"]
    body = await owner.client(UPDATE, {"id": sched["id"], "i": _input([support.user_id], interval="MONTHLY")})
    assert body["data"]["updateReportSchedule"]["errors"] == [{"code": "REPORT_RECIPIENT_NOT_PERMITTED",
                                                               "field": "recipients.0"}]
    assert await _scalar(session_factory, "SELECT interval FROM reporting_schedules WHERE id = :i",
                         i=sched["databaseId"]) == "daily"
