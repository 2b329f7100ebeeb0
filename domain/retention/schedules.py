"""Retention schedules: how long each kind of record is kept, per jurisdiction.

A schedule is a number of years counted from the end of the client relationship (KYC documents and
identity data: 5 years under the AML directives) or from the record's own creation
(communications: 5 years under MiFID II; the audit trail: 7 years); AML records (cases, their notes,
files and reports, monitoring decisions) 5 years after the relationship ends (AMLD Art. 40(1)), a
period only the relationship's end starts. The '*' row of a kind applies in
jurisdictions without their own; staff change them with `setRetentionSchedule` (audited).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.retention import add_years
from domain.audit.service import record
from domain.clients.config import country_code
from domain.retention.errors import InvalidRetentionSchedule
from domain.shared.actor import Actor
from domain.shared.db import Reader, driver

KINDS = ("kyc_documents", "identity_data", "communications", "audit", "aml_records")
BASES = ("relationship_end", "created")
DEFAULT = "*"
MAX_YEARS = 100


@dataclass(frozen=True)
class Schedule:
    jurisdiction: str
    record_kind: str
    years: int
    basis: str
    updated_at: datetime

    def ends(self, *, relationship_end: date | None, created: date | None = None) -> date | None:
        """When a record's retention ends (None: not while the relationship lasts)."""
        start = relationship_end if self.basis == "relationship_end" else created
        return None if start is None else add_years(start, self.years)


_SELECT = "SELECT jurisdiction, record_kind, years, basis, updated_at FROM retention_schedules"


def _row(r: asyncpg.Record) -> Schedule:
    return Schedule(r["jurisdiction"], r["record_kind"], int(r["years"]), r["basis"], r["updated_at"])


async def list_schedules(session: Reader, jurisdiction: str | None = None) -> list[Schedule]:
    conn = await driver(session)
    if jurisdiction is None:
        rows = await conn.fetch(_SELECT + " ORDER BY jurisdiction, record_kind")
    else:
        rows = await conn.fetch(_SELECT + " WHERE jurisdiction = $1 ORDER BY record_kind", jurisdiction)
    return [_row(r) for r in rows]


async def effective(session: Reader, jurisdiction: str | None) -> dict[str, Schedule]:
    """The schedule of each kind for a jurisdiction: its own row, else the default ('*')."""
    conn = await driver(session)
    rows = await conn.fetch(_SELECT + " WHERE jurisdiction = ANY($1::varchar[]) ORDER BY jurisdiction = '*' DESC",
                            [DEFAULT, jurisdiction or DEFAULT])
    found: dict[str, Schedule] = {}
    for r in rows:  # the default first, a country's own row replaces it
        found[r["record_kind"]] = _row(r)
    return found


def _jurisdiction(value: str) -> str:
    value = value.strip().upper()
    if value == DEFAULT:
        return value
    return country_code(value, field="jurisdiction")


async def set_schedule(session: AsyncSession, actor: Actor, *, jurisdiction: str, record_kind: str, years: int,
                       basis: str) -> Schedule:
    code = _jurisdiction(jurisdiction)
    if record_kind not in KINDS:
        raise InvalidRetentionSchedule(f"the kind of record is one of {', '.join(KINDS)}", field="recordKind")
    if basis not in BASES:
        raise InvalidRetentionSchedule(f"the period counts from one of {', '.join(BASES)}", field="basis")
    if not 0 <= years <= MAX_YEARS:
        raise InvalidRetentionSchedule(f"a retention period is 0 to {MAX_YEARS} years", field="years")
    if record_kind == "audit" and basis != "created":
        raise InvalidRetentionSchedule("the audit trail's period counts from each event (created)", field="basis")
    if record_kind == "aml_records" and basis != "relationship_end":
        raise InvalidRetentionSchedule("AML records are kept for a period after the relationship ends "
                                       "(relationship_end)", field="basis")
    before = await session.execute(text(
        "SELECT years, basis FROM retention_schedules WHERE jurisdiction = :j AND record_kind = :k FOR UPDATE"),
        {"j": code, "k": record_kind})
    old = before.first()
    row = (await session.execute(text(
        "INSERT INTO retention_schedules (jurisdiction, record_kind, years, basis, updated_by) "
        "VALUES (:j, :k, :y, :b, :u) ON CONFLICT (jurisdiction, record_kind) DO UPDATE SET years = :y, basis = :b, "
        "updated_by = :u, updated_at = now() RETURNING updated_at"),
        {"j": code, "k": record_kind, "y": years, "b": basis, "u": actor.user_id})).one()
    await record(session, actor, action="retention_schedule.set", entity_type="retention_schedule",
                 entity_id=f"{code}:{record_kind}",
                 before=None if old is None else {"years": old.years, "basis": old.basis},
                 after={"years": years, "basis": basis}, category="general")
    return Schedule(code, record_kind, years, basis, row.updated_at)
