"""Economic calendar, imported from CSV or iCalendar (.ics) by staff; the news detector reads it.
Samples of both formats: data/calendar_sample.csv, data/calendar_sample.ics.

CSV: a header `time_utc,currency,impact,title`, then one release a line (e.g. data/calendar_sample.csv):
`time_utc` ISO 8601 with a UTC offset (`2024-01-05T13:30:00Z`), `currency` a currency code, `impact`
low, medium or high, `title` 1-200 characters.

iCalendar (RFC 5545): every VEVENT is a release. DTSTART (UTC, or with a TZID; floating times and
all-day dates are refused), SUMMARY the title. The currency comes from X-CURRENCY, else a category
that is a three-letter code, else the summary (`USD: Non-Farm Payrolls`, `[USD] CPI`, `CPI (USD)`);
the impact from X-IMPACT, else a category (`High`, `High Impact`, `impact:high`), else the summary
(`... - High Impact`, `(High)`), else PRIORITY (1-4 high, 5 medium, 6-9 low).

A file with any bad line is refused as a whole, each bad line reported with its number and a typed
error: a half-imported calendar would silently weaken the news detector. Importing the same releases
again adds nothing (unique on time, currency and title).
"""

from __future__ import annotations

import csv
import enum
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.risk.errors import (
    CalendarCurrencyInvalid,
    CalendarEventNotFound,
    CalendarImpactInvalid,
    CalendarInvalid,
    CalendarTimeInvalid,
    CalendarTitleInvalid,
)
from domain.shared.actor import Actor
from domain.shared.errors import DomainError, InvalidFields
from domain.shared.pagination import CursorKey, Page, PageRequest, sql_page

COLUMNS = ("time_utc", "currency", "impact", "title")
IMPACTS = ("low", "medium", "high")
MAX_EVENTS = 20_000
MAX_REPORTED = 50  # bad lines listed one by one; the rest are counted
MAX_PAGE = 500
FIELD = "content"


class CalendarFormat(enum.Enum):
    CSV = "csv"
    ICS = "ics"


@dataclass(frozen=True)
class CalendarEvent:
    at: datetime
    currency: str
    impact: str
    title: str


@dataclass(frozen=True)
class StoredEvent:
    id: int
    at: datetime
    currency: str
    impact: str
    title: str


@dataclass(frozen=True)
class ImportResult:
    events: int  # releases in the file
    added: int  # new ones stored
    duplicates: int  # already known (or repeated in the file)


class _Lines:
    """Collects each bad line's typed error; refuses the whole file at the end if there is any."""

    def __init__(self) -> None:
        self.errors: list[DomainError] = []
        self.count = 0

    def add(self, error: type[DomainError], where: str, message: str) -> None:
        self.count += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(error(f"{where}: {message}", field=FIELD))

    def raise_if_any(self) -> None:
        if not self.count:
            return
        if self.count > MAX_REPORTED:
            self.errors.append(CalendarInvalid(f"{self.count - MAX_REPORTED} more bad lines not listed", field=FIELD))
        raise InvalidFields(self.errors)


def _currency(raw: str) -> str | None:
    currency = raw.strip().upper()
    return currency if 2 < len(currency) <= 8 and currency.isascii() and currency.isalnum() else None


def _title(raw: str) -> str | None:
    title = " ".join(raw.split())
    return title if 0 < len(title) <= 200 else None


def parse_csv(content: str) -> list[CalendarEvent]:
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    header = tuple((name or "").strip().lower() for name in reader.fieldnames or ())
    if header != COLUMNS:
        raise CalendarInvalid(f"line 1: the header must be {','.join(COLUMNS)}", field=FIELD)
    reader.fieldnames = list(COLUMNS)
    events: list[CalendarEvent] = []
    bad = _Lines()
    for row in reader:
        where = f"line {reader.line_num}"
        if None in row or any(row.get(c) is None for c in COLUMNS):
            bad.add(CalendarInvalid, where, f"expected {len(COLUMNS)} columns")
            continue
        ok = True
        try:
            at = datetime.fromisoformat(row["time_utc"].strip().replace("Z", "+00:00"))
            if at.tzinfo is None:
                raise ValueError
        except ValueError:
            bad.add(CalendarTimeInvalid, where,
                    "time_utc must be ISO 8601 with a UTC offset, e.g. 2024-01-05T13:30:00Z")
            ok = False
        currency = _currency(row["currency"])
        if currency is None:
            bad.add(CalendarCurrencyInvalid, where, "currency must be a currency code, e.g. USD")
            ok = False
        impact = row["impact"].strip().lower()
        if impact not in IMPACTS:
            bad.add(CalendarImpactInvalid, where, f"impact must be one of {', '.join(IMPACTS)}")
            ok = False
        title = _title(row["title"])
        if title is None:
            bad.add(CalendarTitleInvalid, where, "title must be 1-200 characters")
            ok = False
        if ok and currency is not None and title is not None:
            events.append(CalendarEvent(at.astimezone(UTC), currency, impact, title))
    bad.raise_if_any()
    return events


_PREFIX = re.compile(r"^\s*[\[(]?([A-Z]{3})[\])]?\s*[:\-–|]\s*|^\s*\[([A-Z]{3})\]\s*")
_SUFFIX = re.compile(r"\s*\(([A-Z]{3})\)\s*$")
_IMPACT_WORD = re.compile(r"\b(high|medium|low)\b(?:[ -]impact)?|\bimpact\s*[:=]?\s*(high|medium|low)\b", re.I)
_IMPACT_TAIL = re.compile(r"\s*(?:[-–|]\s*(?:high|medium|low)[ -]impact|\((?:high|medium|low)(?: impact)?\))\s*$",
                          re.I)


def _categories(component: Any) -> list[str]:
    raw = component.get("CATEGORIES")
    out: list[str] = []
    for item in raw if isinstance(raw, list) else [raw] if raw is not None else []:
        out += [str(c).strip() for c in getattr(item, "cats", [item])]
    return [c for c in out if c]


def _impact_of(word: str) -> str | None:
    m = _IMPACT_WORD.search(word)
    if m is None:
        return None
    return (m.group(1) or m.group(2)).lower()


def _ics_event(component: Any) -> tuple[CalendarEvent | None, list[tuple[type[DomainError], str]]]:
    problems: list[tuple[type[DomainError], str]] = []
    start = component.get("DTSTART")
    at: datetime | None = None
    value = getattr(start, "dt", None)
    if isinstance(value, datetime) and value.tzinfo is not None:
        at = value.astimezone(UTC)
    elif isinstance(value, datetime):
        problems.append((CalendarTimeInvalid, "DTSTART must be UTC (…Z) or carry a TZID, not a floating time"))
    elif isinstance(value, date):
        problems.append((CalendarTimeInvalid, "DTSTART must be a date-time, not an all-day date"))
    else:
        problems.append((CalendarTimeInvalid, "the event has no DTSTART"))
    summary = str(component.get("SUMMARY", "")).strip()
    categories = _categories(component)
    impact = _impact_of(str(component.get("X-IMPACT", ""))) if component.get("X-IMPACT") else None
    for source in categories:
        if impact is None and (source.lower() in IMPACTS or "impact" in source.lower()):
            impact = _impact_of(source)
    tail = _IMPACT_TAIL.search(summary)
    if impact is None and tail is not None:
        impact = _impact_of(tail.group(0))
    summary = _IMPACT_TAIL.sub("", summary).strip()
    if impact is None and component.get("PRIORITY") is not None:
        try:
            priority = int(component.get("PRIORITY"))
        except (TypeError, ValueError):
            priority = 0
        impact = "high" if 1 <= priority <= 4 else "medium" if priority == 5 else "low" if 6 <= priority <= 9 else None
    currency = _currency(str(component.get("X-CURRENCY", ""))) if component.get("X-CURRENCY") else None
    if currency is None:
        currency = next((c.upper() for c in categories if re.fullmatch(r"[A-Za-z]{3}", c)
                         and c.lower() not in IMPACTS), None)  # fmt: skip
    if currency is None:
        prefix = _PREFIX.match(summary)
        suffix = _SUFFIX.search(summary)
        if prefix is not None:
            currency, summary = prefix.group(1) or prefix.group(2), summary[prefix.end():].strip()
        elif suffix is not None:
            currency, summary = suffix.group(1), summary[:suffix.start()].strip()
    if currency is None:
        problems.append((CalendarCurrencyInvalid, "no currency: give X-CURRENCY, a category such as USD, or a "
                                                  "summary such as 'USD: Non-Farm Payrolls'"))
    if impact is None:
        problems.append((CalendarImpactInvalid, "no impact: give X-IMPACT, a category such as 'High Impact', "
                                                "or PRIORITY"))
    title = _title(summary)
    if title is None:
        problems.append((CalendarTitleInvalid, "SUMMARY must be 1-200 characters"))
    if problems or at is None or currency is None or impact is None or title is None:
        return None, problems
    return CalendarEvent(at, currency, impact, title), []


def parse_ics(content: str) -> list[CalendarEvent]:
    from icalendar import Calendar

    try:
        calendar = Calendar.from_ical(content.lstrip("\ufeff"))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise CalendarInvalid(f"not an iCalendar file: {str(exc)[:200]}", field=FIELD) from exc
    if getattr(calendar, "name", "") != "VCALENDAR":
        raise CalendarInvalid("not an iCalendar file: it must begin with BEGIN:VCALENDAR", field=FIELD)
    # Line of each VEVENT's BEGIN, in document order (the order walk() returns them in).
    starts = [n for n, line in enumerate(content.splitlines(), start=1) if line.strip().upper() == "BEGIN:VEVENT"]
    events: list[CalendarEvent] = []
    bad = _Lines()
    for i, component in enumerate(calendar.walk("VEVENT")):
        where = f"line {starts[i]}" if i < len(starts) else f"event {i + 1}"
        event, problems = _ics_event(component)
        for error, message in problems:
            bad.add(error, where, message)
        if event is not None:
            events.append(event)
    bad.raise_if_any()
    return events


def parse(content: str, fmt: CalendarFormat = CalendarFormat.CSV) -> list[CalendarEvent]:
    events = parse_csv(content) if fmt is CalendarFormat.CSV else parse_ics(content)
    if not events:
        raise CalendarInvalid("calendar not imported: no events", field=FIELD)
    if len(events) > MAX_EVENTS:
        raise CalendarInvalid(f"calendar not imported: at most {MAX_EVENTS} events a file", field=FIELD)
    return events


async def import_calendar(
    session: AsyncSession, actor: Actor, content: str, fmt: CalendarFormat = CalendarFormat.CSV
) -> ImportResult:
    """Parse and store (idempotent on time, currency and title)."""
    events = parse(content, fmt)
    result = await session.execute(
        text("INSERT INTO risk_calendar (at, currency, impact, title) SELECT * FROM unnest("
             "CAST(:at AS timestamptz[]), CAST(:cur AS text[]), CAST(:imp AS text[]), CAST(:title AS text[])) "
             "ON CONFLICT DO NOTHING"),
        {"at": [e.at for e in events], "cur": [e.currency for e in events],
         "imp": [e.impact for e in events], "title": [e.title for e in events]},
    )  # fmt: skip
    added = int(getattr(result, "rowcount", 0) or 0)
    await record(session, actor, action="risk.calendar_imported", entity_type="risk_calendar", entity_id=None,
                 after={"format": fmt.value, "events": len(events), "added": added})
    return ImportResult(len(events), added, len(events) - added)


def _stored(r: Any) -> StoredEvent:
    return StoredEvent(int(r.id), r.at, r.currency, r.impact, r.title)


def event_key(e: StoredEvent) -> CursorKey:
    return e.at, e.id


async def list_events(
    session: AsyncSession, *, since: datetime | None = None, until: datetime | None = None,
    currency: str | None = None, impact: str | None = None, page: PageRequest = PageRequest(),
) -> Page[StoredEvent]:  # fmt: skip
    """Releases in time order over [since, until) (keyset on at, id)."""
    if impact is not None and impact not in IMPACTS:
        raise CalendarImpactInvalid(f"impact must be one of {', '.join(IMPACTS)}", field="impact")
    where = ["true"]
    params: dict[str, Any] = {}
    for clause, name, value in (("at >= :since", "since", since), ("at < :until", "until", until),
                                ("currency = :cur", "cur", None if currency is None else currency.strip().upper()),
                                ("impact = :imp", "imp", impact)):  # fmt: skip
        if value is not None:
            where.append(clause)
            params[name] = value
    return await sql_page(session, page, columns="id, at, currency, impact, title", source="risk_calendar",
                          where=where, params=params, key=("at", "id"), descending=False, convert=_stored)


async def events_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, StoredEvent]:
    rows = await session.execute(text(
        "SELECT id, at, currency, impact, title FROM risk_calendar WHERE id = ANY(:ids)"), {"ids": ids})
    return {e.id: e for e in (_stored(r) for r in rows)}


async def delete_event(session: AsyncSession, actor: Actor, event_id: int) -> StoredEvent:
    row = (await session.execute(text(
        "DELETE FROM risk_calendar WHERE id = :i RETURNING id, at, currency, impact, title"), {"i": event_id})).first()
    if row is None:
        raise CalendarEventNotFound("not found", field="id")
    gone = _stored(row)
    await record(session, actor, action="risk.calendar_event_deleted", entity_type="risk_calendar",
                 entity_id=gone.id, before={"at": gone.at.isoformat(), "currency": gone.currency,
                                            "impact": gone.impact, "title": gone.title}, after=None)
    return gone
