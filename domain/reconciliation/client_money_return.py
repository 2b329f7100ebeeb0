"""The monthly client money return (CMAR-like): for one calendar month, per currency, what the daily client-money
reconciliations found, as CSV or XLSX through a short-lived signed link (like the records exports).

A month's days are the close dates of its runs (`runs.close_date`); when a close was run more than once (re-runs,
ad-hoc cutoffs), its last cutoff is the day's result. Per currency:

* requirement and resource at month end: the line of the last close of the month that has the currency;
* highest and lowest requirement in the month, with the close date of each (the earliest on a tie);
* days reconciled, and how many of them were shortfalls;
* breaks of those closes in the currency (client-money and bank sections): how many, how many shortfalls, how many
  resolved or explained, still open, and the first and last resolution time;
* sign-offs: how many of the closes were signed off, and the last sign-off's time and signer.

Figures are the run summaries' lines as signed (fixed to the currency's scale), never recomputed here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients import document_links
from domain.identity.sessions import load_principal
from domain.reconciliation.errors import InvalidReturnPeriod
from domain.shared.actor import Actor, ActorKind
from domain.shared.errors import NotFound
from domain.shared.settings import Settings

PERMISSION = "reconciliation.manage"
LINK_INFO = b"forexcrm/client-money-return-links/v1"
FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
HEADER = ("month", "currency", "month_end_close", "requirement", "resource", "difference", "highest_requirement",
          "highest_on", "lowest_requirement", "lowest_on", "days_reconciled", "shortfall_days", "breaks",
          "shortfall_breaks", "resolved_breaks", "open_breaks", "first_resolved_at", "last_resolved_at",
          "signed_off_days", "last_signed_off_at", "last_signed_off_by")


class ReturnExportNotFound(NotFound):
    code = "CLIENT_MONEY_RETURN_NOT_FOUND"


@dataclass(frozen=True)
class ReturnLine:
    month: str
    currency: str
    month_end_close: date
    requirement: Decimal
    resource: Decimal
    difference: Decimal
    highest_requirement: Decimal
    highest_on: date
    lowest_requirement: Decimal
    lowest_on: date
    days_reconciled: int
    shortfall_days: int
    breaks: int
    shortfall_breaks: int
    resolved_breaks: int
    open_breaks: int
    first_resolved_at: datetime | None
    last_resolved_at: datetime | None
    signed_off_days: int
    last_signed_off_at: datetime | None
    last_signed_off_by: int | None

    def cells(self) -> list[Any]:
        return [getattr(self, name) for name in HEADER]


def month_bounds(month: str) -> tuple[date, date]:
    """`YYYY-MM` -> (its first day, the next month's first day)."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        first = date(year, mon, 1)
    except (ValueError, TypeError):
        raise InvalidReturnPeriod(f"{month!r} is not a month: write YYYY-MM (e.g. 2026-11)", field="month") from None
    if len(month) != 7 or first > datetime.now(UTC).date():
        raise InvalidReturnPeriod("the month is YYYY-MM, not in the future", field="month")
    return first, date(year + mon // 12, mon % 12 + 1, 1)


_LINES = text(
    """
    WITH r AS (
        SELECT DISTINCT ON (d) id, d, summary FROM (
            SELECT id, summary, cutoff,
                   CAST(((cutoff - interval '1 microsecond') AT TIME ZONE 'UTC') AS date) AS d
            FROM reconciliation_runs
            WHERE status = 'done' AND cutoff > CAST(:first AS date)::timestamp AT TIME ZONE 'UTC'
              AND cutoff <= CAST(:next AS date)::timestamp AT TIME ZONE 'UTC') x
        ORDER BY d, cutoff DESC
    ), l AS (
        SELECT r.id AS run_id, r.d, line->>'currency' AS currency, line->>'kind' AS kind,
               CAST(line->>'requirement' AS numeric) AS requirement, CAST(line->>'resource' AS numeric) AS resource,
               CAST(line->>'difference' AS numeric) AS difference
        FROM r CROSS JOIN LATERAL jsonb_array_elements(coalesce(r.summary->'clientMoney', '[]')) AS line
    ), agg AS (
        SELECT currency, count(*) AS days, count(*) FILTER (WHERE kind = 'shortfall') AS shortfall_days,
               (array_agg(requirement ORDER BY d DESC))[1] AS requirement,
               (array_agg(resource ORDER BY d DESC))[1] AS resource,
               (array_agg(difference ORDER BY d DESC))[1] AS difference, max(d) AS month_end,
               (array_agg(requirement ORDER BY requirement DESC, d))[1] AS highest,
               (array_agg(d ORDER BY requirement DESC, d))[1] AS highest_on,
               (array_agg(requirement ORDER BY requirement, d))[1] AS lowest,
               (array_agg(d ORDER BY requirement, d))[1] AS lowest_on
        FROM l GROUP BY 1
    ), brk AS (
        SELECT b.currency, count(*) AS n, count(*) FILTER (WHERE b.kind = 'shortfall') AS shortfalls,
               count(*) FILTER (WHERE b.status IN ('resolved', 'explained')) AS resolved,
               count(*) FILTER (WHERE b.status = 'open') AS still_open,
               min(b.resolved_at) AS first_resolved, max(b.resolved_at) AS last_resolved
        FROM reconciliation_breaks b JOIN r ON r.id = b.run_id
        WHERE b.section IN ('client_money', 'bank') AND b.currency IS NOT NULL
        GROUP BY 1
    ), so AS (
        SELECT l.currency, count(*) AS n, max(s.signed_at) AS last_at,
               (array_agg(s.signed_by ORDER BY s.signed_at DESC))[1] AS last_by
        FROM l JOIN client_money_signoffs s ON s.run_id = l.run_id GROUP BY 1
    )
    SELECT a.*, coalesce(b.n, 0) AS breaks, coalesce(b.shortfalls, 0) AS shortfall_breaks,
           coalesce(b.resolved, 0) AS resolved_breaks, coalesce(b.still_open, 0) AS open_breaks,
           b.first_resolved, b.last_resolved, coalesce(so.n, 0) AS signed, so.last_at, so.last_by
    FROM agg a LEFT JOIN brk b ON b.currency = a.currency LEFT JOIN so ON so.currency = a.currency
    ORDER BY a.currency
    """
)


async def return_lines(session: AsyncSession, month: str) -> list[ReturnLine]:
    first, following = month_bounds(month)
    rows = (await session.execute(_LINES, {"first": first, "next": following})).all()
    return [ReturnLine(
        month, r.currency, r.month_end, Decimal(r.requirement), Decimal(r.resource), Decimal(r.difference),
        Decimal(r.highest), r.highest_on, Decimal(r.lowest), r.lowest_on, int(r.days), int(r.shortfall_days),
        int(r.breaks), int(r.shortfall_breaks), int(r.resolved_breaks), int(r.open_breaks), r.first_resolved,
        r.last_resolved, int(r.signed), r.last_at, r.last_by) for r in rows]


def _link_id(month: str, fmt: str) -> int:
    first, _ = month_bounds(month)
    return (first.year * 100 + first.month) * 10 + FORMATS.index(fmt)


def _from_link_id(value: int) -> tuple[str, str]:
    period, fmt = divmod(value, 10)
    year, mon = divmod(period, 100)
    if fmt >= len(FORMATS) or not 1 <= mon <= 12:
        raise ReturnExportNotFound("export not found")
    return f"{year:04d}-{mon:02d}", FORMATS[fmt]


async def issue(session: AsyncSession, settings: Settings, actor: Actor, month: str,
                fmt: str) -> document_links.IssuedLink:
    """A download link (about a minute, this staff member's live session) for one month's return."""
    if fmt not in FORMATS:
        raise InvalidReturnPeriod("the format is csv or xlsx", field="format")
    link_id = _link_id(month, fmt)  # INVALID_CLIENT_MONEY_RETURN_PERIOD
    if actor.kind is not ActorKind.STAFF or actor.user_id is None or actor.session_id is None:
        raise ReturnExportNotFound("export not found", field="month")
    expires = int(time.time()) + document_links.LINK_TTL_S
    token = document_links.sign(settings, document_links.Claims(link_id, actor.user_id, actor.session_id, expires),
                                LINK_INFO)
    await record(session, actor, action="reconciliation.client_money_return.link_issued",
                 entity_type="client_money_return", entity_id=month, after={"format": fmt, "expires_at": expires})
    return document_links.IssuedLink(
        f"{settings.public_base_url.rstrip('/')}/documents/client-money-return/{token}", expires)


async def open_export(session: AsyncSession, claims: document_links.Claims, *, ip: str | None,
                      user_agent: str | None) -> tuple[str, str, list[ReturnLine]]:
    """(month, format, lines) for a verified link whose staff session is live and still holds the permission; the
    download is audited in this transaction."""
    principal = await load_principal(session, claims.user_id, claims.session_id)
    if principal is None or principal.kind is not ActorKind.STAFF or PERMISSION not in principal.permissions:
        raise ReturnExportNotFound("export not found")
    actor = Actor(ActorKind.STAFF, user_id=principal.user_id, permissions=principal.permissions, ip=ip,
                  user_agent=user_agent, session_id=principal.session_id, desk=principal.desk,
                  mfa_enrolled=principal.mfa_enrolled)
    month, fmt = _from_link_id(claims.document_id)
    lines = await return_lines(session, month)
    await record(session, actor, action="reconciliation.client_money_return.exported",
                 entity_type="client_money_return", entity_id=month, after={"format": fmt, "lines": len(lines)})
    return month, fmt, lines
