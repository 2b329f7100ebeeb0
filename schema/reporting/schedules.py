"""Scheduled reports (reports.read, each staff member's own schedules): create, update, pause, delete, list, and
the runs of one schedule. The worker produces each run and e-mails its recipients a signed download link
(domain/reporting/schedules.py)."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.reporting import schedules
from domain.reporting.errors import ReportRecipientNotFound, ReportRunNotFound, ReportScheduleNotFound
from domain.shared.errors import DomainError
from domain.shared.pagination import cursor_decoder
from schema.clients.staff import DocumentViewLink
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.node import global_id, key_of
from schema.pagination import Connection, empty_connection, page_request, to_connection
from schema.permissions import Requires
from schema.reporting.source import ReportSource
from schema.reporting.types import ReportBucket

Ctx = Info[Context, Any]
READ = "reports.read"
SCHEDULE = "ReportSchedule"
_ID_CURSOR = cursor_decoder(int)


@strawberry.enum(description="Which report a schedule produces.")
class ScheduledReport(enum.Enum):
    REVENUE = "revenue"
    MONEY_FLOW = "money_flow"
    FUNNEL = "funnel"
    CLIENTS = "clients"
    COHORTS = "cohorts"
    IB_RETURN = "ib_return"


@strawberry.enum(description="How often a scheduled report runs: each UTC midnight, each Monday 00:00 UTC, or each "
                             "first of the month 00:00 UTC.")
class ReportInterval(enum.Enum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@strawberry.enum(description="The days a run reports on, ending at the day it runs (exclusive): the day before, "
                             "the 7 or 30 days before, the previous Monday-to-Sunday week, the previous month.")
class ReportPeriod(enum.Enum):
    LAST_DAY = "last_day"
    LAST_7_DAYS = "last_7_days"
    LAST_30_DAYS = "last_30_days"
    LAST_WEEK = "last_week"
    LAST_MONTH = "last_month"


@strawberry.enum(description="The file format of a scheduled report.")
class ReportFileFormat(enum.Enum):
    CSV = "csv"
    XLSX = "xlsx"


@strawberry.enum(description="How a scheduled run ended.")
class ReportRunStatus(enum.Enum):
    DONE = "done"
    FAILED = "failed"


@strawberry.input(description="What a scheduled report shows: the dimension (a value of RevenueDimension, "
                              "MoneyFlowDimension, FunnelDimension or ClientReportDimension by the report; "
                              "FIRST_DEPOSIT_MONTH for COHORTS, IB for IB_RETURN), the time bucket, the period and "
                              "how many keys get a line of their own.")
class ReportScheduleFiltersInput:
    dimension: str
    period: ReportPeriod
    bucket: ReportBucket = ReportBucket.DAY
    top: int = 10


@strawberry.input(description="A scheduled report. Recipients are staff user ids (global or bare): each must hold "
                              "reports.read over at least the creator's desks (back office: every desk).")
class ReportScheduleInput:
    report: ScheduledReport
    filters: ReportScheduleFiltersInput
    interval: ReportInterval
    format: ReportFileFormat
    recipients: list[strawberry.ID]


@strawberry.type(description="A staff member's scheduled report. It runs with its creator's desk scope (every desk "
                             "for back-office staff).")
class ReportSchedule:
    id: strawberry.ID
    database_id: int
    report: ScheduledReport
    dimension: str
    period: ReportPeriod
    bucket: ReportBucket
    top: int
    interval: ReportInterval
    format: ReportFileFormat
    recipient_ids: list[int]
    desk: str | None = strawberry.field(description="The one desk it reports on; null with every desk (or none)")
    all_desks: bool
    paused: bool
    next_run_at: datetime
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, s: schedules.Schedule) -> ReportSchedule:
        return cls(id=global_id(SCHEDULE, s.id), database_id=s.id, report=ScheduledReport(s.report),
                   dimension=s.dimension.upper(), period=ReportPeriod(s.period), bucket=ReportBucket(s.bucket),
                   top=s.top, interval=ReportInterval(s.interval), format=ReportFileFormat(s.format),
                   recipient_ids=s.recipients, desk=s.scope_desk, all_desks=s.scope_all, paused=s.paused,
                   next_run_at=s.next_run_at, created_at=s.created_at, updated_at=s.updated_at)


@strawberry.type(description="One run of a scheduled report: its period, outcome, row count and the SHA-256 of the "
                             "file its recipients were sent a link to.")
class ReportRun:
    id: strawberry.ID
    database_id: int
    due_at: datetime
    since: date
    until: date
    status: ReportRunStatus
    format: ReportFileFormat
    row_count: int
    sha256: str | None
    recipient_ids: list[int]
    error: str | None
    link_expires_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, r: schedules.Run) -> ReportRun:
        return cls(id=global_id("ReportRun", r.id), database_id=r.id, due_at=r.slot, since=r.since, until=r.until,
                   status=ReportRunStatus(r.status), format=ReportFileFormat(r.format), row_count=r.row_count,
                   sha256=r.sha256, recipient_ids=r.recipients, error=r.error, link_expires_at=r.link_expires_at,
                   created_at=r.created_at)


def _input(data: ReportScheduleInput) -> schedules.ScheduleInput:
    recipients = []
    for i, r in enumerate(data.recipients):
        try:
            recipients.append(key_of(r, "StaffUser", field=f"recipients.{i}"))
        except DomainError:
            raise ReportRecipientNotFound("no such staff member", field=f"recipients.{i}") from None
    return schedules.ScheduleInput(
        report=data.report.value, dimension=data.filters.dimension.strip().lower(), bucket=data.filters.bucket.value,
        period=data.filters.period.value, top=data.filters.top, interval=data.interval.value,
        format=data.format.value, recipients=recipients)


def _schedule_key(value: object, field: str = "id") -> int:
    try:
        return key_of(value, SCHEDULE, field=field)
    except DomainError:  # a malformed id names no schedule of the caller's
        raise ReportScheduleNotFound("report schedule not found", field=field) from None


@strawberry.type
class ReportSchedulePayload:
    schedule: ReportSchedule | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReportRunLinkPayload:
    link: DocumentViewLink | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteReportSchedulePayload:
    deleted_id: strawberry.ID | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


_INPUT_ERRORS = ("REPORT_SCHEDULE_INVALID", "REPORT_DIMENSION_INVALID", "REPORT_RECIPIENTS_REQUIRED",
                 "REPORT_RECIPIENT_NOT_FOUND", "REPORT_RECIPIENT_NOT_PERMITTED", "REPORT_SCHEDULE_DUPLICATE")


@strawberry.type
class RunReportScheduleNowPayload:
    run: ReportRun | None = None
    source: ReportSource | None = strawberry.field(
        default=None, description="Where the run's figures were read (the replica, with its lag, or the primary)")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReportScheduleQueries:
    @strawberry.field(permission_classes=[Requires(READ)], description="The caller's scheduled reports, newest first.")
    async def report_schedules(self, info: Ctx, first: int | None = None, after: str | None = None,
                               last: int | None = None, before: str | None = None) -> Connection[ReportSchedule]:
        req = page_request(info, first, after, last, before, decode=_ID_CURSOR)
        async with info.context.read() as session:
            page = await schedules.list_schedules(session, info.context.actor, req)
        return to_connection(page, ReportSchedule.of, lambda s: (s.id,))

    @strawberry.field(permission_classes=[Requires(READ)],
                      description="The runs of one of the caller's scheduled reports, newest first (an unknown or "
                                  "another's schedule: an empty list).")
    async def report_runs(self, info: Ctx, schedule_id: strawberry.ID, first: int | None = None,
                          after: str | None = None, last: int | None = None,
                          before: str | None = None) -> Connection[ReportRun]:
        req = page_request(info, first, after, last, before, decode=_ID_CURSOR)
        ctx = info.context
        try:
            key = _schedule_key(schedule_id, "scheduleId")
            async with ctx.read() as session:
                page = await schedules.list_runs(session, ctx.actor, key, req)
        except ReportScheduleNotFound:
            return empty_connection()
        return to_connection(page, ReportRun.of, lambda r: (r.id,))


@strawberry.type
class ReportScheduleMutations:
    @declares_errors(*_INPUT_ERRORS, "REPORT_SCHEDULE_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(READ)],
                         description="Schedule a report for the caller: the worker runs it at each interval and "
                                     "e-mails every recipient a download link.")
    async def create_report_schedule(self, info: Ctx, input: ReportScheduleInput) -> ReportSchedulePayload:
        ctx = info.context

        async def work() -> ReportSchedulePayload:
            data = _input(input)
            made = await ctx.transaction(lambda s: schedules.create(s, ctx.actor, data))
            return ReportSchedulePayload(schedule=ReportSchedule.of(made))

        return await payload_or_errors(work, lambda errors: ReportSchedulePayload(errors=errors))

    @declares_errors(*_INPUT_ERRORS, "REPORT_SCHEDULE_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(READ)],
                         description="Replace one of the caller's scheduled reports' settings (its desk scope becomes "
                                     "the caller's now).")
    async def update_report_schedule(self, info: Ctx, id: strawberry.ID,
                                     input: ReportScheduleInput) -> ReportSchedulePayload:
        ctx = info.context

        async def work() -> ReportSchedulePayload:
            key = _schedule_key(id)
            data = _input(input)
            done = await ctx.transaction(lambda s: schedules.update(s, ctx.actor, key, data))
            return ReportSchedulePayload(schedule=ReportSchedule.of(done))

        return await payload_or_errors(work, lambda errors: ReportSchedulePayload(errors=errors))

    @declares_errors("REPORT_SCHEDULE_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(READ)],
                         description="Pause (or resume) one of the caller's scheduled reports; resuming runs it at the "
                                     "next boundary from now (missed runs are not caught up).")
    async def pause_report_schedule(self, info: Ctx, id: strawberry.ID,
                                    paused: bool = True) -> ReportSchedulePayload:
        ctx = info.context

        async def work() -> ReportSchedulePayload:
            key = _schedule_key(id)
            done = await ctx.transaction(lambda s: schedules.set_paused(s, ctx.actor, key, paused))
            return ReportSchedulePayload(schedule=ReportSchedule.of(done))

        return await payload_or_errors(work, lambda errors: ReportSchedulePayload(errors=errors))

    @declares_errors("REPORT_SCHEDULE_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(READ)],
                         description="Run one of the caller's scheduled reports now (paused or not): its period ending "
                                     "today, kept, audited and e-mailed as a due run; the next due run is unchanged.")
    async def run_report_schedule_now(self, info: Ctx, id: strawberry.ID) -> RunReportScheduleNowPayload:
        ctx = info.context

        async def work() -> RunReportScheduleNowPayload:
            key = _schedule_key(id)

            async def run(s: AsyncSession) -> tuple[schedules.RunOutcome, schedules.Run]:
                done = await schedules.run_now(s, ctx.settings, ctx.actor, key, replica=ctx.services.replica)
                assert done.run_id is not None  # a fresh slot always makes a run
                return done, await schedules.get_run(s, done.run_id)

            outcome, made = await ctx.transaction(run)
            return RunReportScheduleNowPayload(
                run=ReportRun.of(made), source=ReportSource.of(outcome.source) if outcome.source else None)

        return await payload_or_errors(work, lambda errors: RunReportScheduleNowPayload(errors=errors))

    @declares_errors("REPORT_RUN_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(READ)],
                         description="A link (GET, about 60 s) to a finished run's file for the caller, one of its "
                                     "recipients (the one e-mailed to them lasts longer); issuing and the download "
                                     "are audited.")
    async def report_run_link(self, info: Ctx, run_id: strawberry.ID) -> ReportRunLinkPayload:
        ctx = info.context

        async def work() -> ReportRunLinkPayload:
            try:
                key = key_of(run_id, "ReportRun", field="runId")
            except DomainError:  # a malformed id names no run of the caller's
                raise ReportRunNotFound("no finished run of yours has this id", field="runId") from None
            issued = await ctx.transaction(lambda s: schedules.issue_run_link(s, ctx.settings, ctx.actor, key))
            expires = datetime.fromtimestamp(issued.expires_at, UTC)
            return ReportRunLinkPayload(link=DocumentViewLink(url=issued.url, expires_at=expires))

        return await payload_or_errors(work, lambda errors: ReportRunLinkPayload(errors=errors))

    @declares_errors("REPORT_SCHEDULE_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(READ)],
                         description="Delete one of the caller's scheduled reports: it stops and leaves the list; its "
                                     "runs are kept.")
    async def delete_report_schedule(self, info: Ctx, id: strawberry.ID) -> DeleteReportSchedulePayload:
        ctx = info.context

        async def work() -> DeleteReportSchedulePayload:
            key = _schedule_key(id)
            await ctx.transaction(lambda s: schedules.delete(s, ctx.actor, key))
            return DeleteReportSchedulePayload(deleted_id=global_id(SCHEDULE, key))

        return await payload_or_errors(work, lambda errors: DeleteReportSchedulePayload(errors=errors))
