"""PSP settlement reports: our own import format (CSV now, a provider API later), stored in our own
tables so reconciliation never depends on the payments module's schema.

CSV columns (header required, any order, extra columns ignored):
`provider, reference, amount, currency, fee, settled_at, status` where `amount` is signed and gross
(> 0 collected for us, < 0 paid out), `fee` >= 0 is what the PSP kept, `settled_at` is ISO 8601
with an offset, `status` one of settled | pending | failed | reversed (only `settled` lines move
money and take part in matching).

A report is validated as a whole (one bad line refuses the file, nothing stored) and deduplicated
by content hash, so importing the same file twice is a no-op. Two distinct lines for the same
reference are kept: that is the duplicate the reconciliation must report.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.reconciliation.errors import InvalidSettlementReport
from domain.shared.actor import Actor
from domain.shared.errors import DomainError
from domain.shared.money import currency as currency_info
from domain.shared.money import parse_decimal, quantize_exact

COLUMNS = ("provider", "reference", "amount", "currency", "fee", "settled_at", "status")
STATUSES = frozenset({"settled", "pending", "failed", "reversed"})
MAX_LINES = 200_000
MAX_PROVIDER = 64
MAX_REFERENCE = 80


@dataclass(frozen=True)
class SettlementLine:
    provider: str
    reference: str
    amount: Decimal
    currency: str
    fee: Decimal
    settled_at: datetime
    status: str


@dataclass(frozen=True)
class ImportedReport:
    id: int
    provider: str
    line_count: int
    replayed: bool


class SettlementSource(Protocol):
    """A provider API that returns a day's settlement lines (to be implemented per provider)."""

    async def fetch(self, provider: str, day: date) -> Sequence[SettlementLine]: ...


def _bad(line_no: int, message: str) -> InvalidSettlementReport:
    return InvalidSettlementReport(f"line {line_no}: {message}", field="csv")


def _line(provider: str, line_no: int, row: dict[str, str]) -> SettlementLine:
    values = {k: (row.get(k) or "").strip() for k in COLUMNS}
    if values["provider"] != provider:
        raise _bad(line_no, f"provider {values['provider']!r} is not {provider!r}")
    if not values["reference"] or len(values["reference"]) > MAX_REFERENCE:
        raise _bad(line_no, f"reference must be 1 to {MAX_REFERENCE} characters")
    try:
        code = currency_info(values["currency"]).code
        amount = quantize_exact(parse_decimal(values["amount"]), code)
        fee = quantize_exact(parse_decimal(values["fee"] or "0"), code)
    except DomainError as exc:
        raise _bad(line_no, exc.message) from None
    if amount == 0 or fee < 0:
        raise _bad(line_no, "amount must not be zero and fee must not be negative")
    try:
        settled_at = datetime.fromisoformat(values["settled_at"].replace("Z", "+00:00"))
    except ValueError:
        raise _bad(line_no, f"settled_at {values['settled_at']!r} is not an ISO 8601 time") from None
    if settled_at.tzinfo is None:
        raise _bad(line_no, "settled_at needs a UTC offset")
    status = values["status"].lower()
    if status not in STATUSES:
        raise _bad(line_no, f"status must be one of {sorted(STATUSES)}")
    return SettlementLine(provider, values["reference"], amount, code, fee, settled_at, status)


def parse_csv(provider: str, content: str) -> list[SettlementLine]:
    provider = provider.strip()
    if not provider or len(provider) > MAX_PROVIDER:
        raise InvalidSettlementReport(f"provider must be 1 to {MAX_PROVIDER} characters", field="provider")
    reader = csv.DictReader(io.StringIO(content))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidSettlementReport(f"missing columns: {', '.join(missing)}", field="csv")
    lines: list[SettlementLine] = []
    for line_no, row in enumerate(reader, start=2):  # line 1 is the header
        if len(lines) >= MAX_LINES:
            raise InvalidSettlementReport(f"at most {MAX_LINES} lines per report", field="csv")
        lines.append(_line(provider, line_no, row))
    if not lines:
        raise InvalidSettlementReport("the report has no lines", field="csv")
    return lines


def _fingerprint(lines: Sequence[SettlementLine]) -> str:
    h = hashlib.sha256()
    for ln in lines:
        h.update(f"{ln.reference}|{ln.amount}|{ln.currency}|{ln.fee}|{ln.settled_at.isoformat()}|{ln.status}\n"
                 .encode())
    return h.hexdigest()


_INSERT_REPORT = text(
    "INSERT INTO reconciliation_settlement_reports (provider, sha256, source, line_count, imported_by) "
    "VALUES (:provider, :sha, :source, :n, :by) ON CONFLICT (provider, sha256) DO NOTHING RETURNING id"
)
_INSERT_LINES = text(
    """
    INSERT INTO reconciliation_settlement_lines
        (report_id, line_no, provider, reference, amount, currency, fee, settled_at, status)
    SELECT :report, l.no, :provider, l.ref, l.amount, l.cur, l.fee, l.at, l.status
    FROM unnest(CAST(:no AS int[]), CAST(:ref AS text[]), CAST(:amount AS numeric[]), CAST(:cur AS text[]),
                CAST(:fee AS numeric[]), CAST(:at AS timestamptz[]), CAST(:status AS text[]))
        AS l(no, ref, amount, cur, fee, at, status)
    """
)


async def reports_by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, ImportedReport]:
    """Stored reports by id (one statement), as a later import of the same file would answer them."""
    rows = (await session.execute(text(
        "SELECT id, provider, line_count FROM reconciliation_settlement_reports WHERE id = ANY(:ids)"),
        {"ids": list(ids)})).all()
    return {int(r.id): ImportedReport(int(r.id), r.provider, int(r.line_count), replayed=False) for r in rows}


async def store_report(
    session: AsyncSession, actor: Actor, provider: str, lines: Sequence[SettlementLine], *, source: str = "csv"
) -> ImportedReport:
    """Store validated lines as one report; the same content again returns the stored report."""
    sha = _fingerprint(lines)
    # Serialises concurrent imports of the same content, so both callers see one report.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('recon.report'), hashtext(:k))"),
                          {"k": f"{provider}:{sha}"})
    report_id = await session.scalar(_INSERT_REPORT, {"provider": provider, "sha": sha, "source": source,
                                                      "n": len(lines), "by": actor.label[:80]})
    if report_id is None:
        row = (await session.execute(text(
            "SELECT id, line_count FROM reconciliation_settlement_reports WHERE provider = :p AND sha256 = :s"),
            {"p": provider, "s": sha})).one()
        return ImportedReport(int(row.id), provider, int(row.line_count), replayed=True)
    await session.execute(_INSERT_LINES, {
        "report": report_id, "provider": provider, "no": list(range(1, len(lines) + 1)),
        "ref": [ln.reference for ln in lines], "amount": [ln.amount for ln in lines],
        "cur": [ln.currency for ln in lines], "fee": [ln.fee for ln in lines],
        "at": [ln.settled_at for ln in lines], "status": [ln.status for ln in lines],
    })
    await audit.record(session, actor, action="reconciliation.settlement_import", entity_type="settlement_report",
                       entity_id=int(report_id), after={"provider": provider, "lines": len(lines), "sha256": sha})
    return ImportedReport(int(report_id), provider, len(lines), replayed=False)


async def import_csv(session: AsyncSession, actor: Actor, provider: str, content: str) -> ImportedReport:
    lines = parse_csv(provider, content)
    return await store_report(session, actor, provider.strip(), lines)


async def import_from_source(
    session: AsyncSession, actor: Actor, source: SettlementSource, provider: str, day: date
) -> ImportedReport:
    """Fetch a day's lines from a provider API (when one is configured) and store them like a CSV."""
    lines = list(await source.fetch(provider, day))
    if not lines:
        raise InvalidSettlementReport("the provider returned no lines", field="provider")
    if any(ln.provider != provider or ln.status not in STATUSES for ln in lines):
        raise InvalidSettlementReport("the provider returned lines for another provider or status", field="provider")
    return await store_report(session, actor, provider, lines, source="api")
