"""Report files as staff see them: the list (per day, newest first), each file's submission status as the
trade repository answered, the rebuild of a day (enqueued: the worker builds it, build.py), and a short-lived
signed link to download one (the pattern of domain/clients/document_links.py, under its own label)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.clients import document_links
from domain.clients.storage import BlobStore, decrypt
from domain.events.outbox import emit
from domain.identity.sessions import load_principal
from domain.regulatory import settings as config
from domain.regulatory.errors import ReportFileNotFound, ReportFileWrongStatus
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import utcnow
from domain.shared.errors import FieldErrors, ValidationFailed
from domain.shared.pagination import Page, PageRequest, sql_page
from domain.shared.settings import Settings

PERMISSION = "regulatory.reports"
LINK_INFO = b"forexcrm/regulatory-report-links/v1"
STATUSES = ("submitted", "accepted", "rejected")
REBUILD_TOPIC = "regulatory.rebuild"
REGIMES = ("emir", "mifir")
_C = ("id, regime, business_date, part, parts, message_id, status, superseded_by, records, size_bytes, sha256, "
      "storage_key, header_xml, built_by, reason, status_note, status_at, created_at")


@dataclass(frozen=True)
class ReportFile:
    id: int
    regime: str
    business_date: date
    part: int
    parts: int
    message_id: str
    status: str
    superseded_by: int | None
    records: int
    size_bytes: int
    sha256: str
    storage_key: str
    header_xml: str
    built_by: int | None
    reason: str
    status_note: str
    status_at: datetime | None
    created_at: datetime

    @property
    def filename(self) -> str:
        return f"{self.message_id}.xml"

    content_type = "application/xml"


def _file(r: Any) -> ReportFile:
    return ReportFile(*r)


async def list_files(session: AsyncSession, page: PageRequest, *, day: date | None = None,
                     current_only: bool = False) -> Page[ReportFile]:
    where: list[str] = []
    params: dict[str, Any] = {}
    if day is not None:
        where.append("business_date = :d")
        params["d"] = day
    if current_only:
        where.append("status <> 'superseded'")
    return await sql_page(session, page, columns=_C, source="regulatory_report_files", where=where, params=params,
                          key=("created_at", "id"), descending=True, convert=_file)


async def files_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, ReportFile]:
    rows = await session.execute(text(f"SELECT {_C} FROM regulatory_report_files WHERE id = ANY(:i)"),  # noqa: S608
                                 {"i": ids})
    return {r.id: _file(r) for r in rows}


async def _get(session: AsyncSession, file_id: int, *, lock: bool = False) -> ReportFile:
    row = (await session.execute(text(
        f"SELECT {_C} FROM regulatory_report_files WHERE id = :i{' FOR UPDATE' if lock else ''}"),  # noqa: S608
        {"i": file_id})).first()
    if row is None:
        raise ReportFileNotFound("no such report file", field="fileId")
    return _file(row)


async def record_status(session: AsyncSession, actor: Actor, file_id: int, *, status: str,
                        note: str = "") -> ReportFile:
    """What the trade repository said of a file: submitted, accepted, rejected (with its note). A superseded
    file's status no longer changes; a rejected one is corrected by rebuilding its day."""
    form = FieldErrors()
    if status not in STATUSES:
        form.add(ValidationFailed(f"one of {', '.join(STATUSES)}", field="status"))
    text_note = note.strip()
    if len(text_note) > 2000:
        form.add(ValidationFailed("at most 2,000 characters", field="note"))
    form.raise_if_any()
    found = await _get(session, file_id, lock=True)
    if found.status == "superseded":
        raise ReportFileWrongStatus("this file was superseded by a rebuild of its day", field="fileId")
    row = (await session.execute(text(
        f"UPDATE regulatory_report_files SET status = :s, status_note = :n, status_at = now() WHERE id = :i "  # noqa: S608
        f"RETURNING {_C}"), {"s": status, "n": text_note, "i": file_id})).one()
    await audit.record(session, actor, action="regulatory.report_file_status", entity_type="regulatory_report_file",
                       entity_id=file_id, before={"status": found.status, "note": found.status_note},
                       after={"status": status, "note": text_note}, category="compliance")
    return _file(row)


async def request_rebuild(session: AsyncSession, actor: Actor, day: date, reason: str, *, regime: str = "emir",
                          corrections: bool = False) -> date:
    """Ask the worker to rebuild a day of one regime (its files superseded by the new ones, never overwritten),
    or for MiFIR the corrections of its rejected transactions only. The settings must exist now; the build itself
    may still refuse (e.g. an unidentifiable client), which the worker logs."""
    why = " ".join(reason.split())
    form = FieldErrors()
    if not 1 <= len(why) <= 500:
        form.add(ValidationFailed("why the day is rebuilt (1 to 500 characters)", field="reason"))
    if day >= utcnow().date():
        form.add(ValidationFailed("a past day (a day is reported once it has ended)", field="day"))
    if regime not in REGIMES:
        form.add(ValidationFailed(f"one of {', '.join(REGIMES)}", field="regime"))
    elif corrections and regime != "mifir":
        form.add(ValidationFailed("corrections of rejected transactions are MiFIR's", field="correctionsOnly"))
    form.raise_if_any()
    await config.required(session)
    await emit(session, REBUILD_TOPIC, {"day": day.isoformat(), "reason": why, "regime": regime,
                                        "corrections": corrections}, job="rebuild_regulatory_reports")
    await audit.record(session, actor, action=f"regulatory.{regime}_rebuild_requested",
                       entity_type="regulatory_report_day", entity_id=f"{regime}:{day.isoformat()}", reason=why,
                       after={"corrections": corrections}, category="compliance")
    return day


async def issue_link(session: AsyncSession, settings: Settings, actor: Actor, file_id: int,
                     ) -> document_links.IssuedLink:
    if actor.kind is not ActorKind.STAFF or actor.user_id is None or actor.session_id is None:
        raise ReportFileNotFound("no such report file", field="fileId")
    found = await _get(session, file_id)
    expires = int(time.time()) + document_links.LINK_TTL_S
    token = document_links.sign(settings, document_links.Claims(found.id, actor.user_id, actor.session_id, expires),
                                LINK_INFO)
    await audit.record(session, actor, action="regulatory.report_file_link_issued",
                       entity_type="regulatory_report_file", entity_id=found.id, after={"expires_at": expires},
                       category="compliance")
    return document_links.IssuedLink(
        f"{settings.public_base_url.rstrip('/')}/documents/regulatory/{token}", expires)


async def open_view(session: AsyncSession, settings: Settings, store: BlobStore, claims: document_links.Claims, *,
                    ip: str | None, user_agent: str | None) -> tuple[ReportFile, bytes]:
    """The file's XML for a verified link whose staff session is still live and still holds the permission;
    the download is audited, and the bytes are checked against the stored SHA-256."""
    principal = await load_principal(session, claims.user_id, claims.session_id)
    if principal is None or principal.kind is not ActorKind.STAFF or PERMISSION not in principal.permissions:
        raise ReportFileNotFound("no such report file", field="fileId")
    found = await _get(session, claims.document_id)
    data = decrypt(settings, found.storage_key, await store.get(found.storage_key))
    if hashlib.sha256(data).hexdigest() != found.sha256:
        raise ReportFileNotFound("the stored file does not match its hash", field="fileId")
    actor = Actor(ActorKind.STAFF, user_id=principal.user_id, permissions=principal.permissions, ip=ip,
                  user_agent=user_agent, session_id=principal.session_id)
    await audit.record(session, actor, action="regulatory.report_file_downloaded",
                       entity_type="regulatory_report_file", entity_id=found.id, after={"sha256": found.sha256},
                       category="compliance")
    return found, data


@dataclass(frozen=True)
class MifirTransaction:
    """One transaction report in a MiFIR file, with what the regulator's feedback said of it."""

    file_id: int
    seq: int
    tx_ref: str
    server_id: int
    deal_id: int
    status: str
    error_codes: list[str]
    feedback_at: datetime | None
    corrected_by: int | None


_T = "file_id, seq, tx_ref, server_id, deal_id, status, error_codes, feedback_at, corrected_by"


async def list_transactions(session: AsyncSession, page: PageRequest, file_id: int, *,
                            status: str | None = None) -> Page[MifirTransaction]:
    where = ["file_id = :f"]
    params: dict[str, Any] = {"f": file_id}
    if status is not None:
        where.append("status = :s")
        params["s"] = status
    return await sql_page(session, page, columns=_T, source="regulatory_mifir_transactions", where=where,
                          params=params, key=("seq",), descending=False,
                          convert=lambda r: MifirTransaction(r.file_id, r.seq, r.tx_ref, r.server_id, r.deal_id,
                                                             r.status, list(r.error_codes), r.feedback_at,
                                                             r.corrected_by))
