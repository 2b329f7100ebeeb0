"""Economic calendar imported from CSV (`time_utc,currency,impact,title`), e.g. data/calendar_sample.csv.

A file that does not parse is refused as a whole with the line numbers at fault: a half-imported
calendar would silently weaken the news detector.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.risk.errors import CalendarInvalid
from domain.shared.actor import Actor

COLUMNS = ("time_utc", "currency", "impact", "title")
IMPACTS = ("low", "medium", "high")


@dataclass(frozen=True)
class CalendarEvent:
    at: datetime
    currency: str
    impact: str
    title: str


def parse(content: str) -> list[CalendarEvent]:
    reader = csv.DictReader(io.StringIO(content))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise CalendarInvalid(f"header must be {','.join(COLUMNS)}", field="file")
    events: list[CalendarEvent] = []
    problems: list[str] = []
    for line, row in enumerate(reader, start=2):
        try:
            at = datetime.fromisoformat((row["time_utc"] or "").replace("Z", "+00:00"))
            if at.tzinfo is None:
                raise ValueError("time must carry a UTC offset")
            impact = (row["impact"] or "").strip().lower()
            if impact not in IMPACTS:
                raise ValueError(f"impact must be one of {', '.join(IMPACTS)}")
            currency = (row["currency"] or "").strip().upper()
            if not (2 < len(currency) <= 8 and currency.isalnum()):
                raise ValueError("currency must be a currency code")
            title = (row["title"] or "").strip()
            if not title or len(title) > 200:
                raise ValueError("title must be 1-200 characters")
            events.append(CalendarEvent(at.astimezone(UTC), currency, impact, title))
        except (ValueError, TypeError, AttributeError) as exc:
            problems.append(f"line {line}: {exc}")
    if problems:
        raise CalendarInvalid("calendar not imported: " + "; ".join(problems[:10]), field="file")
    if not events:
        raise CalendarInvalid("calendar not imported: no events", field="file")
    return events


async def import_calendar(session: AsyncSession, actor: Actor, content: str) -> int:
    """Parse and store (idempotent on time, currency and title); returns the number of new events."""
    events = parse(content)
    result = await session.execute(
        text("INSERT INTO risk_calendar (at, currency, impact, title) SELECT * FROM unnest("
             "CAST(:at AS timestamptz[]), CAST(:cur AS text[]), CAST(:imp AS text[]), CAST(:title AS text[])) "
             "ON CONFLICT DO NOTHING"),
        {"at": [e.at for e in events], "cur": [e.currency for e in events],
         "imp": [e.impact for e in events], "title": [e.title for e in events]},
    )  # fmt: skip
    added = int(getattr(result, "rowcount", 0) or 0)
    await record(session, actor, action="risk.calendar_imported", entity_type="risk_calendar", entity_id=None,
                 after={"events": len(events), "added": added})
    return added
