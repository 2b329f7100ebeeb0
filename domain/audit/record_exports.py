"""Exports of records on request, CSV or XLSX, through a signed download link like a KYC document's.

`issue` checks the filter (as the list does), stores the request as a row and signs a link naming
it, the staff member and their session (about a minute, `GET <api>/documents/records/<token>`).
Opening it (`open_export`) checks that the session is live and still holds audit.read and that the
client is still visible, and audits the download. The rows are then streamed from a server-side
cursor (`stream_rows`), so memory stays bounded whatever the volume: CSV is written a batch at a time
straight into the response; XLSX goes through XlsxWriter's constant_memory mode into a temporary
file (a zip is only complete when closed) that is then sent in chunks.

Cells: CSV text that a spreadsheet would run as a formula is neutralised with a leading quote; in
XLSX every text is written as a string (never parsed as a formula), amounts and other decimals as
text so every digit is kept (a spreadsheet number is a binary float), timestamps as ISO 8601 UTC.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

import asyncpg
import xlsxwriter  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import records
from domain.audit.service import record
from domain.clients import document_links
from domain.ib.reports import csv_cell
from domain.identity.sessions import load_principal
from domain.shared.actor import Actor, ActorKind
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.settings import Settings

PERMISSION = "audit.read"
LINK_INFO = b"forexcrm/record-export-links/v1"
FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
BATCH = 2000  # rows per cursor fetch and per CSV write
XLSX_MAX_ROWS = 1_048_575  # a sheet holds 2^20 rows, the header included
CHUNK = 64 * 1024


class RecordExportNotFound(NotFound):
    code = "RECORD_EXPORT_NOT_FOUND"


@dataclass(frozen=True)
class ExportRequest:
    id: int
    kind: records.RecordKind
    format: str
    filter: records.RecordFilter
    requested_by: int

    @property
    def filename(self) -> str:
        return f"{self.kind.value}-records-{self.id}.{self.format}"


async def issue(session: AsyncSession, settings: Settings, actor: Actor, kind: records.RecordKind,
                flt: records.RecordFilter, fmt: str) -> tuple[ExportRequest, document_links.IssuedLink]:
    """A download link for this staff member's live session; the filter refused as the list refuses it."""
    if fmt not in FORMATS:
        raise ValidationFailed("the format is csv or xlsx", field="format")
    if actor.kind is not ActorKind.STAFF or actor.user_id is None or actor.session_id is None:
        raise RecordExportNotFound("export not found", field="kind")
    await records.check_filter(session, actor, flt)
    export_id = int(await session.scalar(text(
        "INSERT INTO regulator_record_exports (kind, format, client_id, ib_id, occurred_from, occurred_to, "
        "requested_by) VALUES (:k, :f, :c, :i, :t0, :t1, :u) RETURNING id"),
        {"k": kind.value, "f": fmt, "c": flt.client_id, "i": flt.ib_id, "t0": flt.occurred_from,
         "t1": flt.occurred_to, "u": actor.user_id}))
    expires = int(time.time()) + document_links.LINK_TTL_S
    token = document_links.sign(settings, document_links.Claims(export_id, actor.user_id, actor.session_id, expires),
                                LINK_INFO)
    await record(session, actor, action="regulator_records.export_link_issued", entity_type="regulator_record_export",
                 entity_id=export_id, after={"kind": kind.value, "format": fmt, **_filter_json(flt),
                                             "expires_at": expires})
    return (ExportRequest(export_id, kind, fmt, flt, actor.user_id),
            document_links.IssuedLink(f"{settings.public_base_url.rstrip('/')}/documents/records/{token}", expires))


def _filter_json(flt: records.RecordFilter) -> dict[str, Any]:
    return {"client_id": flt.client_id, "ib_id": flt.ib_id,
            "from": flt.occurred_from.isoformat() if flt.occurred_from else None,
            "to": flt.occurred_to.isoformat() if flt.occurred_to else None}


async def open_export(session: AsyncSession, claims: document_links.Claims, *, ip: str | None,
                      user_agent: str | None) -> tuple[ExportRequest, records.Resolved]:
    """The export a verified link names, for its own staff member's live session that still holds
    audit.read and still sees the client; the download is audited in this transaction."""
    principal = await load_principal(session, claims.user_id, claims.session_id)
    if principal is None or principal.kind is not ActorKind.STAFF or PERMISSION not in principal.permissions:
        raise RecordExportNotFound("export not found")
    actor = Actor(ActorKind.STAFF, user_id=principal.user_id, permissions=principal.permissions, ip=ip,
                  user_agent=user_agent, session_id=principal.session_id, desk=principal.desk,
                  mfa_enrolled=principal.mfa_enrolled)
    row = (await session.execute(text(
        "UPDATE regulator_record_exports SET downloads = downloads + 1 WHERE id = :id AND requested_by = :u "
        "RETURNING id, kind, format, client_id, ib_id, occurred_from, occurred_to, requested_by"),
        {"id": claims.document_id, "u": claims.user_id})).first()
    if row is None:
        raise RecordExportNotFound("export not found")
    flt = records.RecordFilter(row.client_id, row.ib_id, row.occurred_from, row.occurred_to)
    resolved = await records.check_filter(session, actor, flt)
    export = ExportRequest(row.id, records.RecordKind(row.kind), row.format, flt, row.requested_by)
    await record(session, actor, action="regulator_records.exported", entity_type="regulator_record_export",
                 entity_id=export.id, after={"kind": export.kind.value, "format": export.format, **_filter_json(flt)})
    return export, resolved


_NAMED = re.compile(r"(?<!:):(?!:)([a-z_][a-z0-9_]*)")


def positional(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """Text SQL with :name parameters as asyncpg's $n (casts such as ::text are left alone)."""
    order: list[str] = []

    def number(m: re.Match[str]) -> str:
        if m[1] not in order:
            order.append(m[1])
        return f"${order.index(m[1]) + 1}"

    return _NAMED.sub(number, sql), [params[n] for n in order]


async def stream_rows(conn: asyncpg.Connection, kind: records.RecordKind,
                      flt: records.Resolved) -> AsyncIterator[list[list[Any]]]:
    """The selection oldest first in batches, through a server-side cursor (the caller holds a
    transaction on `conn`)."""
    sql, params = positional(*records.export_sql(kind, flt))
    cursor = await conn.cursor(sql, *params)
    while batch := await cursor.fetch(BATCH):
        yield [records.export_cells(kind, row) for row in batch]


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _csv_value(v: Any) -> Any:
    """Text neutralised against formulas (csv_cell); numbers as they are, so a negative amount stays a
    number ("-12.50", not "'-12.50"); instants ISO 8601; null empty."""
    kind = type(v)
    if kind is str:
        return csv_cell(v)
    if kind is int or kind is Decimal:
        return v
    return _text(v)


def csv_lines(rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header is not None:
        w.writerow(header)
    w.writerows([_csv_value(v) for v in row] for row in rows)
    return buf.getvalue()


class XlsxSheet:
    """One sheet written row by row in constant memory into a temporary file."""

    def __init__(self, header: Sequence[str]) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()/chunks()
        self.book = xlsxwriter.Workbook(self.file, {"constant_memory": True, "in_memory": False,
                                                    "strings_to_formulas": False, "strings_to_numbers": False})
        self.sheet = self.book.add_worksheet("records")
        self.row = 0
        self.append([*header])

    def append(self, values: Sequence[Any]) -> None:
        if self.row > XLSX_MAX_ROWS:
            raise ValidationFailed("more rows than a spreadsheet holds: narrow the period or export CSV",
                                   field="format")
        for col, v in enumerate(values):
            if v is None:
                continue
            if isinstance(v, bool):
                self.sheet.write_boolean(self.row, col, v)
            elif isinstance(v, int):
                self.sheet.write_number(self.row, col, v)
            else:  # text, decimals and instants as text: no formula, no float
                self.sheet.write_string(self.row, col, _text(v))
        self.row += 1

    def finish(self) -> None:
        self.book.close()
        self.file.seek(0)

    def chunks(self) -> Iterable[bytes]:
        try:
            while data := self.file.read(CHUNK):
                yield data
        finally:
            self.file.close()

    def discard(self) -> None:
        self.file.close()
