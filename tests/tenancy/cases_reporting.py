"""Cross-tenant cases for reporting's upkeep (reports.manage staff only; broker-wide configuration)."""

from __future__ import annotations

import uuid

from tests.tenancy.cases import Env, Probe, case
from tests.trading.conftest import new_server


@case("Mutation.setReportSpreadMarkup")
async def set_report_spread_markup(env: Env) -> Probe:
    server_id = await new_server(env.session_factory, "http://127.0.0.1:9", "x")
    group = f"secret-{uuid.uuid4().hex[:8]}"
    return Probe("mutation($s: ID!, $g: String!) { setReportSpreadMarkup(serverId: $s, group: $g, markupPips: \"1\") "
                 "{ spreadMarkup { group } errors { code } } }", {"s": str(server_id), "g": group}, [group])


@case("Mutation.setReportLpCommission")
async def set_report_lp_commission(env: Env) -> Probe:
    server_id = await new_server(env.session_factory, "http://127.0.0.1:9", "x")
    symbol = f"S{uuid.uuid4().hex[:8]}"
    return Probe("mutation($s: ID!, $y: String!) { setReportLpCommission(serverId: $s, symbol: $y, perLotUsd: \"1\") "
                 "{ lpCommission { symbol } errors { code } } }", {"s": str(server_id), "y": symbol}, [symbol])


async def _schedule(env: Env) -> tuple[str, int, str]:
    """A desk staff member's scheduled report (global id, key) and its secret desk name."""
    from tests.identity.staff import make_staff

    desk = f"secret-desk-{uuid.uuid4().hex[:8]}"
    staff = await make_staff(env.http, env.session_factory, env.settings, ["ib_manager"], desk=desk)
    made = await staff.client(
        "mutation($i: ReportScheduleInput!) { createReportSchedule(input: $i) { schedule { id databaseId } "
        "errors { code } } }", {"i": {"report": "REVENUE", "filters": {"dimension": "SYMBOL", "period": "LAST_DAY"},
                                      "interval": "DAILY", "format": "CSV", "recipients": [str(staff.user_id)]}})
    schedule = made["data"]["createReportSchedule"]["schedule"]
    return schedule["id"], int(schedule["databaseId"]), desk


_SCHEDULE_INPUT = ('{report: REVENUE, filters: {dimension: "SYMBOL", period: LAST_DAY}, interval: DAILY, format: CSV, '
                   'recipients: ["1"]}')


@case("Mutation.updateReportSchedule")
async def update_report_schedule(env: Env) -> Probe:
    gid, _, desk = await _schedule(env)
    return Probe(f"mutation($i: ID!) {{ updateReportSchedule(id: $i, input: {_SCHEDULE_INPUT}) "
                 "{ schedule { desk } errors { code } } }", {"i": gid}, [desk])


@case("Mutation.pauseReportSchedule")
async def pause_report_schedule(env: Env) -> Probe:
    gid, _, desk = await _schedule(env)
    return Probe("mutation($i: ID!) { pauseReportSchedule(id: $i) { schedule { desk } errors { code } } }",
                 {"i": gid}, [desk])


@case("Mutation.deleteReportSchedule")
async def delete_report_schedule(env: Env) -> Probe:
    gid, _, _ = await _schedule(env)
    return Probe("mutation($i: ID!) { deleteReportSchedule(id: $i) { deletedId errors { code } } }", {"i": gid}, [])


@case("Query.reportRuns")
async def report_runs(env: Env) -> Probe:
    from sqlalchemy import text

    gid, key, _ = await _schedule(env)
    digest = uuid.uuid4().hex * 2
    async with env.session_factory() as s, s.begin():
        await s.execute(text("INSERT INTO reporting_runs (schedule_id, slot, since, until, status, format, sha256) "
                             "VALUES (:s, now(), '2025-01-01', '2025-01-02', 'done', 'csv', :h)"), {"s": key, "h": digest})
    return Probe("query($i: ID!) { reportRuns(scheduleId: $i, first: 5) { edges { node { sha256 } } } }", {"i": gid},
                 [digest], empty_ok=True)


@case("Mutation.createReportSchedule")
async def create_report_schedule(env: Env) -> Probe:
    """An outsider naming a desk staff member as a recipient learns nothing about them."""
    _, _, desk = await _schedule(env)
    from sqlalchemy import text

    async with env.session_factory() as s:
        staff_id = await s.scalar(text("SELECT id FROM users WHERE desk = :d"), {"d": desk})
    return Probe("mutation($r: ID!) { createReportSchedule(input: {report: REVENUE, filters: {dimension: \"SYMBOL\", "
                 "period: LAST_DAY}, interval: DAILY, format: CSV, recipients: [$r]}) { schedule { desk } "
                 "errors { code } } }", {"r": str(staff_id)}, [desk])


@case("Mutation.runReportScheduleNow")
async def run_report_schedule_now(env: Env) -> Probe:
    """Another's schedule is not found and nothing runs: no run of it, no figure of its desk."""
    gid, _, desk = await _schedule(env)
    return Probe("mutation($i: ID!) { runReportScheduleNow(id: $i) { run { sha256 recipientIds } errors { code } } }",
                 {"i": gid}, [desk])


@case("Mutation.reportRunLink")
async def report_run_link(env: Env) -> Probe:
    """A finished run's file link is its recipients' only: an outsider gets not-found, no link."""
    from sqlalchemy import text

    from schema.node import global_id

    _, key, _ = await _schedule(env)
    async with env.session_factory() as s, s.begin():
        run_id = await s.scalar(text(
            "INSERT INTO reporting_runs (schedule_id, slot, since, until, status, format, content, recipients) "
            "SELECT :s, now(), '2025-01-01', '2025-01-02', 'done', 'csv', 'x', ARRAY[owner_id] "
            "FROM reporting_schedules WHERE id = :s RETURNING id"), {"s": key})
    return Probe("mutation($i: ID!) { reportRunLink(runId: $i) { link { url } errors { code } } }",
                 {"i": global_id("ReportRun", int(run_id))}, ["/documents/report-run/"])
