"""Scheduled reports: a staff member's schedule of one report (revenue, money flow, funnel, client figures, cohorts
or IB return) with its filters,
a period relative to each run (last day, 7 or 30 days, last week or month), an interval (daily, weekly,
monthly), a file format (CSV or XLSX) and recipients; the worker produces each due run once and e-mails every
recipient a signed download link (`GET /documents/report-run/<token>`, valid `report_link_ttl_s`, 7 days by
default).

Scope (the safe choice): a schedule runs with its creator's desk scope, fixed when it is created or updated
(every desk for back-office staff, else their desk; staff with neither are refused). Every recipient must be
active staff holding `reports.read` (with 2FA enrolled, as a permission needs) whose own scope covers the
schedule's: a back-office
recipient covers any, a desk recipient only a schedule of their desk. So no recipient ever receives figures
they could not read through the API. Each run re-checks the owner and the recipients: a recipient who no
longer qualifies gets no e-mail, and an owner who no longer does fails the run; a download re-checks the
recipient again. A link names the run, the recipient and the expiry (HMAC under its own key label, like the
other download links, domain/clients/document_links.py); no session is bound (it is opened from an e-mail).

Runs: one per schedule and due instant (`slot`): the job claims a due schedule (FOR UPDATE SKIP LOCKED), and in
one transaction writes the run (its file, row count, SHA-256, or its error), queues the e-mails (outbox),
audits it and moves `next_run_at` past now; a retried or overlapping job finds the schedule no longer due, and
the (schedule, slot) unique key is the backstop. Missed slots are not caught up: the next run is the next
boundary after now. The owner may also run a schedule now (`run_now`: a run of its period ending today, slot
the instant asked, the schedule's next run unchanged). A schedule identical to one of the owner's live ones
(report, filters, interval, format, the same recipients, the same scope) is refused, nothing written.

A run reads its figures on the read replica when one is configured, up and current (domain/shared/replica.py),
else on the primary; where (and the lag) is in the run's audit record and in `run_now`'s answer.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import record_exports
from domain.audit.service import record
from domain.clients import document_links
from domain.clients.access import is_back_office
from domain.identity.links import send_email
from domain.reporting import clients, funnel, reports
from domain.reporting.errors import (
    ReportDimensionInvalid,
    ReportRecipientNotFound,
    ReportRecipientNotPermitted,
    ReportRecipientsRequired,
    ReportRunNotFound,
    ReportScheduleDuplicate,
    ReportScheduleInvalid,
    ReportScheduleNotFound,
)
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.errors import DomainError
from domain.shared.pagination import Page, PageRequest, sql_page
from domain.shared.replica import ReadReplica, ReadSource, prefer_replica
from domain.shared.settings import Settings

PERMISSION = "reports.read"
LINK_INFO = b"forexcrm/report-run-links/v1"
REPORTS = ("revenue", "money_flow", "funnel", "clients", "cohorts", "ib_return")
INTERVALS = ("daily", "weekly", "monthly")
PERIODS = ("last_day", "last_7_days", "last_30_days", "last_week", "last_month")
FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
MAX_RECIPIENTS = 50
_DIMENSIONS: dict[str, frozenset[str]] = {
    "revenue": frozenset(d.value for d in reports.RevenueDimension),
    "money_flow": frozenset(d.value for d in reports.MoneyDimension),
    "funnel": frozenset(d.value for d in funnel.FunnelDimension),
    "clients": frozenset(d.value for d in clients.ClientDimension),
    "cohorts": frozenset({"first_deposit_month"}), "ib_return": frozenset({"ib"}),
}

REVENUE_HEADER = ("kind", "key", "bucket", "deals", "volume_lots", "notional_usd", "spread_markup_usd",
                  "commission_usd", "fee_usd", "swap_usd", "client_pnl_usd", "b_book_pnl_usd", "net_revenue_usd",
                  "unpriced_deals", "lp_cost_usd")
MONEY_HEADER = ("kind", "key", "bucket", "deposits", "deposits_usd", "withdrawals", "withdrawals_usd",
                "net_deposits_usd", "first_deposits", "first_deposits_usd", "unpriced")
FUNNEL_HEADER = ("kind", "key", "leads", "converted_leads", "registered", "verified", "approved", "first_deposits",
                 "first_trades", "median_hours_to_verify", "median_hours_to_approve",
                 "median_hours_to_first_deposit", "median_hours_first_deposit_to_first_trade")
CLIENTS_HEADER = ("kind", "key", "registrations", "first_deposits", "first_deposits_usd", "first_trades",
                  "trading_clients", "depositing_clients", "deals", "volume_lots", "deposits_usd", "withdrawals_usd",
                  "net_deposits_usd", "net_revenue_usd")
COHORTS_HEADER = ("kind", "cohort_month", "months_since", "clients", "first_deposits_usd", "depositing_clients",
                  "trading_clients", "net_revenue_usd", "deposits_usd", "withdrawals_usd")
IB_RETURN_HEADER = ("kind", "ib_user_id", "clients", "new_clients", "trading_clients", "depositing_clients", "deals",
                    "volume_lots", "deposits_usd", "withdrawals_usd", "net_revenue_usd", "commissions_usd",
                    "return_usd")


@dataclass(frozen=True)
class ScheduleInput:
    report: str
    dimension: str
    bucket: str
    period: str
    top: int
    interval: str
    format: str
    recipients: Sequence[int]


@dataclass(frozen=True)
class Schedule:
    id: int
    owner_id: int
    report: str
    dimension: str
    bucket: str
    period: str
    top: int
    interval: str
    format: str
    recipients: list[int]
    scope_all: bool
    scope_desk: str | None
    scope_nothing: bool
    paused: bool
    next_run_at: datetime
    created_at: datetime
    updated_at: datetime

    @property
    def scope(self) -> reports.Scope:
        return reports.Scope(None if self.scope_all else self.scope_desk, nothing=self.scope_nothing)


@dataclass(frozen=True)
class Run:
    id: int
    schedule_id: int
    slot: datetime
    since: date
    until: date
    status: str
    format: str
    row_count: int
    sha256: str | None
    recipients: list[int]
    error: str | None
    link_expires_at: datetime | None
    created_at: datetime


_SCHEDULE_COLS = ("id, owner_id, report, dimension, bucket, period, top, interval, format, recipients, scope_all, "
                  "scope_desk, scope_nothing, paused, next_run_at, created_at, updated_at")
_RUN_COLS = ("id, schedule_id, slot, since, until, status, format, row_count, sha256, recipients, error, "
             "link_expires_at, created_at")


def _schedule(r: Any) -> Schedule:
    return Schedule(int(r.id), int(r.owner_id), r.report, r.dimension, r.bucket, r.period, int(r.top), r.interval,
                    r.format, [int(x) for x in r.recipients], bool(r.scope_all), r.scope_desk, bool(r.scope_nothing),
                    bool(r.paused), r.next_run_at, r.created_at, r.updated_at)


def _run(r: Any) -> Run:
    return Run(int(r.id), int(r.schedule_id), r.slot, r.since, r.until, r.status, r.format, int(r.row_count),
               r.sha256, [int(x) for x in r.recipients], r.error, r.link_expires_at, r.created_at)


# --- time -------------------------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def next_due(interval: str, after: datetime) -> datetime:
    """The first boundary of `interval` strictly after `after`: UTC midnight, Monday 00:00, the 1st 00:00."""
    day = after.astimezone(UTC).date()
    if interval == "daily":
        return _midnight(day + timedelta(days=1))
    if interval == "weekly":
        return _midnight(day + timedelta(days=7 - day.weekday()))
    return _midnight(_next_month(day))


def period_of(period: str, slot: datetime) -> tuple[date, date]:
    """Days [since, until) a run due at `slot` reports on: the period ending at the slot's day."""
    end = slot.astimezone(UTC).date()
    if period == "last_day":
        return end - timedelta(days=1), end
    if period == "last_7_days":
        return end - timedelta(days=7), end
    if period == "last_30_days":
        return end - timedelta(days=30), end
    if period == "last_week":
        monday = end - timedelta(days=end.weekday())
        return monday - timedelta(days=7), monday
    first = end.replace(day=1)
    return (first - timedelta(days=1)).replace(day=1), first


# --- who may receive --------------------------------------------------------------------------------

_PEOPLE = text(
    """
    SELECT u.id, u.email, u.is_staff, u.status, u.desk, u.totp_enabled_at IS NOT NULL AS mfa,
           COALESCE((SELECT array_agg(DISTINCT p) FROM user_roles ur JOIN roles r ON r.id = ur.role_id,
                     unnest(r.permissions) p WHERE ur.user_id = u.id), '{}') AS perms
    FROM users u WHERE u.id = ANY(CAST(:ids AS bigint[]))
    """
)


@dataclass(frozen=True)
class _Person:
    id: int
    email: str
    actor: Actor | None  # None: not active staff


async def _people(session: AsyncSession, ids: Sequence[int]) -> dict[int, _Person]:
    out = {}
    for r in (await session.execute(_PEOPLE, {"ids": list(ids)})).all():
        actor = None
        if r.is_staff and r.status == "active":
            # Staff permissions apply only once 2FA is enrolled (as for a session, domain/identity/sessions.py).
            perms = frozenset(r.perms) if r.mfa else frozenset()
            actor = Actor(ActorKind.STAFF, user_id=int(r.id), permissions=perms, desk=r.desk, mfa_enrolled=r.mfa)
        out[int(r.id)] = _Person(int(r.id), r.email, actor)
    return out


def covers(actor: Actor, scope: reports.Scope) -> bool:
    """Whether `actor` may read every figure of a report run with `scope`."""
    if not actor.has(PERMISSION):
        return False
    if scope.nothing:
        return True
    if is_back_office(actor):
        return True
    return scope.desk is not None and actor.desk == scope.desk


def _scope_columns(actor: Actor) -> dict[str, Any]:
    scope = reports.scope_of(actor)
    return {"scope_all": scope.desk is None and not scope.nothing, "scope_desk": scope.desk,
            "scope_nothing": scope.nothing}


def _owner(actor: Actor) -> int:
    if actor.kind is not ActorKind.STAFF or actor.user_id is None:
        raise ReportScheduleNotFound("scheduled reports are staff members' own", field="id")
    return actor.user_id


async def _check(session: AsyncSession, actor: Actor, data: ScheduleInput) -> dict[str, Any]:
    """The columns of a valid input, else the first typed error (nothing written)."""
    if data.report not in REPORTS:
        raise ReportScheduleInvalid(f"the report is one of {', '.join(REPORTS)}", field="report")
    if data.dimension not in _DIMENSIONS[data.report]:
        raise ReportDimensionInvalid(f"not a dimension of the {data.report} report", field="filters.dimension")
    if data.bucket not in ("day", "week", "month"):
        raise ReportScheduleInvalid("the bucket is day, week or month", field="filters.bucket")
    if data.period not in PERIODS:
        raise ReportScheduleInvalid("unknown period", field="filters.period")
    if not 1 <= data.top <= reports.MAX_TOP:
        raise ReportDimensionInvalid(f"top is between 1 and {reports.MAX_TOP}", field="filters.top")
    if data.interval not in INTERVALS:
        raise ReportScheduleInvalid("the interval is daily, weekly or monthly", field="interval")
    if data.format not in FORMATS:
        raise ReportScheduleInvalid("the format is csv or xlsx", field="format")
    recipients = list(dict.fromkeys(int(r) for r in data.recipients))
    if not recipients:
        raise ReportRecipientsRequired("at least one recipient", field="recipients")
    if len(recipients) > MAX_RECIPIENTS:
        raise ReportScheduleInvalid(f"at most {MAX_RECIPIENTS} recipients", field="recipients")
    scope_cols = _scope_columns(actor)
    if scope_cols["scope_nothing"]:  # staff with no desk outside the back office read no figure
        raise ReportScheduleInvalid("you read no desk's figures: a schedule would report nothing", field="report")
    scope = reports.Scope(scope_cols["scope_desk"], nothing=scope_cols["scope_nothing"])
    people = await _people(session, recipients)
    for i, uid in enumerate(recipients):
        person = people.get(uid)
        if person is None or person.actor is None:
            raise ReportRecipientNotFound("no such staff member", field=f"recipients.{i}")
        if not covers(person.actor, scope):
            raise ReportRecipientNotPermitted(
                "this staff member may not read this report (reports.read over the schedule's desks)",
                field=f"recipients.{i}")
    return {"report": data.report, "dimension": data.dimension, "bucket": data.bucket, "period": data.period,
            "top": data.top, "interval": data.interval, "format": data.format, "recipients": recipients,
            **scope_cols}


async def _refuse_duplicate(session: AsyncSession, owner: int, cols: dict[str, Any], *, but: int | None = None) -> None:
    """ReportScheduleDuplicate when the owner has a live schedule with these settings (recipients as a set).
    The owner's schedules are serialized here (a transaction-scoped lock), so two racing requests cannot both
    write the same schedule."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('reporting_schedules:' || :o, 0))"),
                          {"o": str(owner)})
    same = await session.scalar(text(
        "SELECT id FROM reporting_schedules WHERE owner_id = :owner AND deleted_at IS NULL AND id <> :but "
        "AND report = :report AND dimension = :dimension AND bucket = :bucket AND period = :period AND top = :top "
        "AND interval = :interval AND format = :format AND scope_all = :scope_all "
        "AND scope_desk IS NOT DISTINCT FROM :scope_desk AND scope_nothing = :scope_nothing "
        "AND (SELECT array_agg(DISTINCT x ORDER BY x) FROM unnest(recipients) x) = CAST(:sorted AS bigint[]) LIMIT 1"),
        {"owner": owner, "but": but or 0, "sorted": sorted(cols["recipients"]), **cols})
    if same is not None:
        raise ReportScheduleDuplicate(f"you already have this schedule (id {same})", field="input")


def _audit_view(cols: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cols.items() if k != "next_run_at"}


async def create(session: AsyncSession, actor: Actor, data: ScheduleInput, *, now: datetime | None = None) -> Schedule:
    owner = _owner(actor)
    cols = await _check(session, actor, data)
    await _refuse_duplicate(session, owner, cols)
    cols["next_run_at"] = next_due(data.interval, now or datetime.now(UTC))
    row = (await session.execute(text(
        "INSERT INTO reporting_schedules (owner_id, report, dimension, bucket, period, top, interval, format, "  # noqa: S608
        "recipients, scope_all, scope_desk, scope_nothing, next_run_at) VALUES (:owner, :report, :dimension, "
        ":bucket, :period, :top, :interval, :format, CAST(:recipients AS bigint[]), :scope_all, :scope_desk, "
        f":scope_nothing, :next_run_at) RETURNING {_SCHEDULE_COLS}"), {"owner": owner, **cols})).one()
    schedule = _schedule(row)
    await record(session, actor, action="reporting.schedule_created", entity_type="reporting_schedule",
                 entity_id=schedule.id, after=_audit_view(cols), category="reporting")
    return schedule


async def _own(session: AsyncSession, actor: Actor, schedule_id: int) -> Schedule:
    owner = _owner(actor)
    row = (await session.execute(text(
        f"SELECT {_SCHEDULE_COLS} FROM reporting_schedules WHERE id = :id AND owner_id = :o "  # noqa: S608
        "AND deleted_at IS NULL FOR UPDATE"), {"id": schedule_id, "o": owner})).one_or_none()
    if row is None:
        raise ReportScheduleNotFound("report schedule not found", field="id")
    return _schedule(row)


async def update(session: AsyncSession, actor: Actor, schedule_id: int, data: ScheduleInput, *,
                 now: datetime | None = None) -> Schedule:
    before = await _own(session, actor, schedule_id)
    cols = await _check(session, actor, data)
    await _refuse_duplicate(session, before.owner_id, cols, but=schedule_id)
    next_run = before.next_run_at if data.interval == before.interval else next_due(data.interval,
                                                                                     now or datetime.now(UTC))
    row = (await session.execute(text(
        "UPDATE reporting_schedules SET report = :report, dimension = :dimension, bucket = :bucket, "  # noqa: S608
        "period = :period, top = :top, interval = :interval, format = :format, "
        "recipients = CAST(:recipients AS bigint[]), scope_all = :scope_all, scope_desk = :scope_desk, "
        "scope_nothing = :scope_nothing, next_run_at = :next_run_at, updated_at = now() "
        f"WHERE id = :id RETURNING {_SCHEDULE_COLS}"),
        {"id": schedule_id, "next_run_at": next_run, **cols})).one()
    await record(session, actor, action="reporting.schedule_updated", entity_type="reporting_schedule",
                 entity_id=schedule_id, before=_snapshot(before), after=_audit_view(cols), category="reporting")
    return _schedule(row)


def _snapshot(s: Schedule) -> dict[str, Any]:
    return {"report": s.report, "dimension": s.dimension, "bucket": s.bucket, "period": s.period, "top": s.top,
            "interval": s.interval, "format": s.format, "recipients": s.recipients, "paused": s.paused}


async def set_paused(session: AsyncSession, actor: Actor, schedule_id: int, paused: bool, *,
                     now: datetime | None = None) -> Schedule:
    before = await _own(session, actor, schedule_id)
    # Resuming does not catch up: the next run is the next boundary from now.
    next_run = before.next_run_at if paused else next_due(before.interval, now or datetime.now(UTC))
    row = (await session.execute(text(
        "UPDATE reporting_schedules SET paused = :p, next_run_at = :n, updated_at = now() "  # noqa: S608
        f"WHERE id = :id RETURNING {_SCHEDULE_COLS}"), {"id": schedule_id, "p": paused, "n": next_run})).one()
    await record(session, actor, action="reporting.schedule_paused" if paused else "reporting.schedule_resumed",
                 entity_type="reporting_schedule", entity_id=schedule_id, before={"paused": before.paused},
                 after={"paused": paused}, category="reporting")
    return _schedule(row)


async def delete(session: AsyncSession, actor: Actor, schedule_id: int) -> int:
    """The schedule stops and disappears from lists; it and its runs are kept (audit)."""
    before = await _own(session, actor, schedule_id)
    await session.execute(text("UPDATE reporting_schedules SET deleted_at = now(), paused = true, "
                               "updated_at = now() WHERE id = :id"), {"id": schedule_id})
    await record(session, actor, action="reporting.schedule_deleted", entity_type="reporting_schedule",
                 entity_id=schedule_id, before=_snapshot(before), category="reporting")
    return schedule_id


async def list_schedules(session: AsyncSession, actor: Actor, page: PageRequest) -> Page[Schedule]:
    owner = _owner(actor)
    return await sql_page(session, page, columns=_SCHEDULE_COLS, source="reporting_schedules",
                          where=["owner_id = :o", "deleted_at IS NULL"], params={"o": owner},
                          key=("id",), descending=True, convert=_schedule)


async def list_runs(session: AsyncSession, actor: Actor, schedule_id: int, page: PageRequest) -> Page[Run]:
    owner = _owner(actor)
    found = await session.scalar(text("SELECT 1 FROM reporting_schedules WHERE id = :id AND owner_id = :o"),
                                 {"id": schedule_id, "o": owner})
    if found is None:
        raise ReportScheduleNotFound("report schedule not found", field="scheduleId")
    return await sql_page(session, page, columns=_RUN_COLS, source="reporting_runs",
                          where=["schedule_id = :s"], params={"s": schedule_id}, key=("id",), descending=True,
                          convert=_run)


# --- producing a run --------------------------------------------------------------------------------


def _cells(kind: str, key: str | None, bucket: date | None, values: Sequence[Any]) -> list[Any]:
    return [kind, key or "", bucket, *values]


def _revenue_values(f: reports.RevenueFigures) -> list[Any]:
    return [f.deals, f.volume_lots, f.notional_usd, f.markup_usd, f.commission_usd, f.fee_usd, f.swap_usd,
            f.client_pnl_usd, f.bbook_pnl_usd, f.net_revenue_usd, f.unpriced, f.lp_cost_usd]


def _money_values(f: reports.MoneyFigures) -> list[Any]:
    return [f.deposits, f.deposits_usd, f.withdrawals, f.withdrawals_usd, f.net_deposits_usd, f.first_deposits,
            f.first_deposits_usd, f.unpriced]


def _funnel_values(line: funnel.FunnelLine) -> list[Any]:
    return [line.leads, line.converted_leads, line.registered, line.verified, line.approved, line.first_deposits,
            line.first_trades, line.median_hours_to_verify, line.median_hours_to_approve,
            line.median_hours_to_first_deposit, line.median_hours_first_deposit_to_first_trade]


async def report_rows(session: AsyncSession, schedule: Schedule, since: date,
                      until: date) -> tuple[tuple[str, ...], list[list[Any]]]:
    """The header and rows of a schedule's report over [since, until): one row per line and time bucket
    (kind `line`, or `other` for the keys past the top N), then one `total` row per line and the report's."""
    scope, bucket = schedule.scope, reports.Bucket(schedule.bucket)
    if schedule.report in ("clients", "cohorts", "ib_return"):
        return await _client_report_rows(session, schedule, since, until)
    if schedule.report == "funnel":
        found = await funnel.funnel(session, scope, since, until, funnel.FunnelDimension(schedule.dimension))
        rows = [["line", line.key or "", *_funnel_values(line)] for line in found.lines]
        rows.append(["total", "", *_funnel_values(found.total)])
        return FUNNEL_HEADER, rows
    if schedule.report == "revenue":
        report = await reports.revenue(session, scope, since, until, reports.RevenueDimension(schedule.dimension),
                                       bucket, schedule.top)
        values: Any = _revenue_values
        header: tuple[str, ...] = REVENUE_HEADER
    else:
        report = await reports.money_flow(session, scope, since, until, reports.MoneyDimension(schedule.dimension),
                                          bucket, schedule.top)
        values, header = _money_values, MONEY_HEADER
    out = []
    for line in report.lines:
        kind = "line" if line.key is not None else "other"
        out += [_cells(kind, line.key, b, values(f)) for b, f in line.points]
    for line in report.lines:
        out.append(_cells("line_total" if line.key is not None else "other_total", line.key, None, values(line.total)))
    out.append(_cells("total", None, None, values(report.total)))
    return header, out


def _client_values(f: clients.ClientFigures) -> list[Any]:
    return [f.registrations, f.first_deposits, f.first_deposits_usd, f.first_trades, f.trading_clients,
            f.depositing_clients, f.deals, f.volume_lots, f.deposits_usd, f.withdrawals_usd, f.net_deposits_usd,
            f.net_revenue_usd]


def _ib_values(f: clients.IbFigures) -> list[Any]:
    return [f.clients, f.new_clients, f.trading_clients, f.depositing_clients, f.deals, f.volume_lots,
            f.deposits_usd, f.withdrawals_usd, f.net_revenue_usd, f.commissions_usd, f.return_usd]


async def _client_report_rows(session: AsyncSession, schedule: Schedule, since: date,
                              until: date) -> tuple[tuple[str, ...], list[list[Any]]]:
    """Client figures: a `line` row per key then the `total`; cohorts: a `month` row per cohort and month since,
    then a `cohort` row with its lifetime figures; IB return: a `direct` and a `subtree` row per IB (top N),
    then the `total` of every IB's direct figures."""
    scope = schedule.scope
    if schedule.report == "clients":
        found = await clients.breakdown(session, scope, since, until, clients.ClientDimension(schedule.dimension))
        rows = [["line", x.key, *_client_values(x.figures)] for x in found.lines]
        return CLIENTS_HEADER, [*rows, ["total", "", *_client_values(found.total)]]
    if schedule.report == "cohorts":
        out: list[list[Any]] = []
        for c in await clients.cohorts(session, scope, since, until):
            out += [["month", c.month, m.months_since, c.clients, c.first_deposits_usd, m.depositing_clients,
                     m.trading_clients, m.net_revenue_usd, m.deposits_usd, m.withdrawals_usd] for m in c.months]
            out.append(["cohort", c.month, None, c.clients, c.first_deposits_usd, None, None,
                        c.lifetime_net_revenue_usd, sum((m.deposits_usd for m in c.months), reports.ZERO),
                        sum((m.withdrawals_usd for m in c.months), reports.ZERO)])
        return COHORTS_HEADER, out
    ibs = await clients.ib_return(session, scope, since, until, top=schedule.top)
    rows = []
    for line in ibs.lines:
        rows += [["direct", line.ib_id, *_ib_values(line.direct)], ["subtree", line.ib_id, *_ib_values(line.subtree)]]
    return IB_RETURN_HEADER, [*rows, ["total", "", *_ib_values(ibs.total)]]


def render(fmt: str, header: Sequence[str], rows: list[list[Any]]) -> bytes:
    """The file: CSV (text neutralised against formulas) or XLSX, as the records exports write them."""
    if fmt == "csv":
        return record_exports.csv_lines(rows, header).encode()
    sheet = record_exports.XlsxSheet(header)
    try:
        for row in rows:
            sheet.append(row)
        sheet.finish()
    except BaseException:
        sheet.discard()
        raise
    return b"".join(sheet.chunks())


@dataclass(frozen=True)
class RunOutcome:
    run_id: int | None  # None: the slot already had its run (a retry)
    schedule_id: int
    status: str
    rows: int
    source: ReadSource | None = None  # where the figures were read (None: no run made)


_DUE = text(
    f"SELECT {_SCHEDULE_COLS} FROM reporting_schedules WHERE NOT paused AND deleted_at IS NULL "  # noqa: S608
    "AND next_run_at <= :now ORDER BY next_run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED")


def link_url(settings: Settings, run_id: int, user_id: int, expires_at: int) -> str:
    token = document_links.sign(settings, document_links.Claims(run_id, user_id, 0, expires_at), LINK_INFO)
    return f"{settings.public_base_url.rstrip('/')}/documents/report-run/{token}"


_TITLES = {"revenue": "Revenue", "money_flow": "Money flow", "funnel": "Funnel", "clients": "Client",
           "cohorts": "Cohort", "ib_return": "IB return"}


async def run_next_due(session: AsyncSession, settings: Settings, *, now: datetime | None = None,
                       replica: ReadReplica | None = None) -> RunOutcome | None:
    """Claim one due schedule and run it (in the caller's transaction); None when nothing is due."""
    at = now or datetime.now(UTC)
    row = (await session.execute(_DUE, {"now": at})).one_or_none()
    if row is None:
        return None
    schedule = _schedule(row)
    slot = schedule.next_run_at
    await session.execute(text("UPDATE reporting_schedules SET next_run_at = :n WHERE id = :id"),
                          {"id": schedule.id, "n": next_due(schedule.interval, max(at, slot))})
    if await session.scalar(text("SELECT 1 FROM reporting_runs WHERE schedule_id = :s AND slot = :t"),
                            {"s": schedule.id, "t": slot}) is not None:
        return RunOutcome(None, schedule.id, "done", 0)
    return await _produce(session, settings, schedule, slot, replica)


async def run_now(session: AsyncSession, settings: Settings, actor: Actor, schedule_id: int, *,
                  now: datetime | None = None, replica: ReadReplica | None = None) -> RunOutcome:
    """One of the caller's schedules run now (paused or not): its period ending today, e-mailed as a due run
    is; its next due run unchanged. Audited as asked by the caller, and produced as every run is."""
    schedule = await _own(session, actor, schedule_id)
    slot = now or datetime.now(UTC)
    await record(session, actor, action="reporting.report_run_requested", entity_type="reporting_schedule",
                 entity_id=schedule.id, after={"slot": slot.isoformat()}, category="reporting")
    return await _produce(session, settings, schedule, slot, replica)


async def get_run(session: AsyncSession, run_id: int) -> Run:
    return _run((await session.execute(text(f"SELECT {_RUN_COLS} FROM reporting_runs WHERE id = :id"),  # noqa: S608
                                       {"id": run_id})).one())


async def _produce(session: AsyncSession, settings: Settings, schedule: Schedule, slot: datetime,
                   replica: ReadReplica | None) -> RunOutcome:
    since, until = period_of(schedule.period, slot)
    people = await _people(session, [schedule.owner_id, *schedule.recipients])
    owner = people.get(schedule.owner_id)
    receivers = [p for uid in schedule.recipients if (p := people.get(uid)) is not None and p.actor is not None
                 and covers(p.actor, schedule.scope)]
    status, error, content, digest, count = "done", None, None, None, 0
    source: ReadSource | None = None

    async def on_primary(read: Any) -> tuple[tuple[str, ...], list[list[Any]]]:
        async with session.begin_nested():
            return await read(session)  # type: ignore[no-any-return]

    try:
        if owner is None or owner.actor is None or not covers(owner.actor, schedule.scope):
            raise ReportRecipientNotPermitted("the schedule's owner may no longer read this report")
        if not receivers:
            raise ReportRecipientNotPermitted("no recipient may still read this report")
        (header, rows), source = await prefer_replica(
            replica, lambda s: report_rows(s, schedule, since, until), on_primary)
        content = render(schedule.format, header, rows)
        digest, count = hashlib.sha256(content).hexdigest(), len(rows)
    except DomainError as failure:
        status, error, content, receivers = "failed", f"{failure.code}: {failure}", None, []
    except Exception as failure:
        status, error, content, receivers = "failed", f"{type(failure).__name__}: {failure}"[:1000], None, []
    expires = int(time.time()) + settings.report_link_ttl_s
    run_id = int((await session.execute(text(
        "INSERT INTO reporting_runs (schedule_id, slot, since, until, status, format, row_count, sha256, content, "
        "recipients, error, link_expires_at) VALUES (:s, :slot, :since, :until, :status, :fmt, :n, :h, :c, "
        "CAST(:r AS bigint[]), :e, :x) ON CONFLICT (schedule_id, slot) DO NOTHING RETURNING id"),
        {"s": schedule.id, "slot": slot, "since": since, "until": until, "status": status, "fmt": schedule.format,
         "n": count, "h": digest, "c": content, "r": [p.id for p in receivers], "e": error,
         "x": datetime.fromtimestamp(expires, UTC) if status == "done" else None})).scalar_one())
    title = f"{_TITLES[schedule.report]} report by {schedule.dimension}, {since:%Y-%m-%d} to " \
            f"{until - timedelta(days=1):%Y-%m-%d}"
    for person in receivers:
        url = link_url(settings, run_id, person.id, expires)
        body = (f"Your scheduled {title} is ready ({count} rows, {schedule.format.upper()}).\n\n"
                f"Download it (valid until {datetime.fromtimestamp(expires, UTC):%Y-%m-%d %H:%M} UTC):\n{url}\n")
        await send_email(session, to=person.email, subject=f"Scheduled report: {title}", body=body,
                         user_id=person.id)
    await record(session, system_actor("report_schedules"), action="reporting.report_run_produced",
                 entity_type="reporting_run", entity_id=run_id,
                 after={"schedule_id": schedule.id, "slot": slot.isoformat(), "since": since.isoformat(),
                        "until": until.isoformat(), "status": status, "rows": count, "sha256": digest,
                        "recipients": [p.id for p in receivers], "error": error,
                        "source": None if source is None else {
                            "replica": source.replica, "lag_seconds": source.lag_seconds,
                            "reason": source.reason.value if source.reason else None}}, category="reporting")
    return RunOutcome(run_id, schedule.id, status, count, source)


async def issue_run_link(session: AsyncSession, settings: Settings, actor: Actor,
                         run_id: int) -> document_links.IssuedLink:
    """A short-lived link (about a minute) to a finished run's file for the signed-in staff member, who must be one
    of its recipients (as the e-mailed link's, the download re-checks them); issuing is audited."""
    user = actor.user_id if actor.kind is ActorKind.STAFF else None
    found = await session.scalar(text(
        "SELECT r.id FROM reporting_runs r WHERE r.id = :id AND r.status = 'done' AND r.content IS NOT NULL "
        "AND CAST(:u AS bigint) = ANY(r.recipients)"), {"id": run_id, "u": user})
    if user is None or found is None:
        raise ReportRunNotFound("no finished run of yours has this id", field="runId")
    expires = int(time.time()) + document_links.LINK_TTL_S
    await record(session, actor, action="reporting.report_run_link_issued", entity_type="reporting_run",
                 entity_id=run_id, after={"expires_at": expires}, category="reporting")
    return document_links.IssuedLink(link_url(settings, run_id, user, expires), expires)


async def open_download(session: AsyncSession, claims: document_links.Claims, *, ip: str | None,
                        user_agent: str | None) -> tuple[str, str, bytes]:
    """(filename, format, content) of a verified link whose recipient still may read the run; audited here."""
    row = (await session.execute(text(
        "SELECT r.id, r.status, r.format, r.content, r.recipients, r.since, r.until, s.report, s.dimension, "
        "s.scope_all, s.scope_desk, s.scope_nothing FROM reporting_runs r "
        "JOIN reporting_schedules s ON s.id = r.schedule_id WHERE r.id = :id"),
        {"id": claims.document_id})).one_or_none()
    if row is None or row.status != "done" or row.content is None or claims.user_id not in row.recipients:
        raise ReportRunNotFound("report not found")
    person = (await _people(session, [claims.user_id])).get(claims.user_id)
    scope = reports.Scope(None if row.scope_all else row.scope_desk, nothing=row.scope_nothing)
    if person is None or person.actor is None or not covers(person.actor, scope):
        raise ReportRunNotFound("report not found")
    actor = Actor(ActorKind.STAFF, user_id=person.id, permissions=person.actor.permissions, ip=ip,
                  user_agent=user_agent, desk=person.actor.desk)
    await record(session, actor, action="reporting.report_run_downloaded", entity_type="reporting_run",
                 entity_id=row.id, after={"format": row.format}, category="reporting")
    name = f"{row.report}-{row.dimension}-{row.since:%Y%m%d}-{row.until:%Y%m%d}.{row.format}"
    return name, row.format, bytes(row.content)
