"""Enforcing the schedules: for one client, erase what no duty keeps any more.

What keeps a record (a "duty"): its retention period under the client's jurisdiction's schedule
(schedules.py) not yet over; a legal hold (holds.py), which keeps everything; money the ledger still
holds for the client (a wallet with a balance or a hold: the relationship is not over, whatever the
status says). The ledger itself is never touched: its entries carry account ids and amounts, no
personal data, so balances and the posting checks stay as they were. The audit trail is never
touched either: it holds personal values only sealed under the client's key (identity.py), so
destroying the key erases them and the hash chain still verifies.

Erasing, per kind:
- communications: the rows whose period is over are deleted;
- KYC documents: each blob is deleted from storage (the local folder or the S3 bucket) and the row
  marked erased (its checksum, kind and dates stay: proof that a document existed and was erased);
- AML records (aml_records.py): files deleted from storage, the personal content of cases, notes,
  reports and decisions blanked, once their own period is over and no case or report is in progress;
  they are not sealed under the client's key, so shredding it does not erase them;
- identity data: the working columns (names, date of birth, profile, attribution) are blanked, the
  search text with them (triggers), the login's e-mail replaced by a placeholder, the user disabled
  and their sessions revoked; once the documents are erased too the client's data key is destroyed
  (crypto-shredding: the sealed identity, the sealed audit values and any copy of a document blob
  become unreadable).

Each client is one transaction (`enforce_client`): a failure never undoes the others, and running it
twice erases nothing twice (every step only touches what is not erased yet; deleting a blob already
gone is not an error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.retention import add_years
from domain.audit.service import record
from domain.clients.storage import BlobStore
from domain.retention import aml_records, keys
from domain.retention.schedules import Schedule, effective
from domain.shared.actor import Actor
from domain.shared.db import driver

ENDED = ("closed", "rejected")
ERASED_EMAIL_DOMAIN = "erased.invalid"


@dataclass
class KindOutcome:
    """What happened to one kind of record: erased now, scheduled (retention ends on `until`, or an
    unknown date while the relationship lasts), or retained by a legal hold or another duty."""

    kind: str
    outcome: str  # erased | scheduled | retained
    until: date | None = None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "outcome": self.outcome, "until": self.until.isoformat() if self.until else None,
                "note": self.note}


@dataclass
class ClientOutcome:
    client_id: int
    held: bool = False
    documents_deleted: int = 0
    communications_deleted: int = 0
    identity_erased: bool = False
    key_destroyed: bool = False
    aml: aml_records.AmlErased = field(default_factory=aml_records.AmlErased)
    kinds: list[KindOutcome] = field(default_factory=list)

    @property
    def erased_anything(self) -> bool:
        return bool(self.documents_deleted or self.communications_deleted or self.identity_erased
                    or self.key_destroyed or self.aml.anything)


async def erase_documents(session: AsyncSession, store: BlobStore, client_id: int) -> int:
    conn = await driver(session)
    rows = await conn.fetch("SELECT id, storage_key FROM client_documents WHERE client_id = $1 AND erased_at IS NULL "
                            "ORDER BY id FOR UPDATE", client_id)
    for r in rows:
        await store.delete(r["storage_key"])
    if rows:
        await conn.execute("UPDATE client_documents SET erased_at = now() WHERE id = ANY($1::bigint[])",
                           [r["id"] for r in rows])
    return len(rows)


async def erase_identity(session: AsyncSession, client_id: int, user_id: int) -> None:
    """One statement: the client's columns blanked, the login anonymised and disabled, its sessions
    revoked, the lead's personal fields blanked."""
    await (await driver(session)).execute(
        """
        WITH c AS (
            UPDATE clients SET first_name = '', last_name = '', date_of_birth = NULL, profile = '{}'::jsonb,
                   attribution = '{}'::jsonb, sealed_identity = NULL, erased_at = now(), updated_at = now()
            WHERE id = $1
        ), u AS (
            UPDATE users SET email = $3, email_normalized = $3, display_name = '', password_hash = NULL,
                   totp_secret_enc = NULL, status = 'disabled', updated_at = now() WHERE id = $2
        ), s AS (
            UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'personal data erased'
            WHERE user_id = $2 AND revoked_at IS NULL
        )
        UPDATE leads SET email = $4, email_normalized = $4, first_name = '', last_name = '', first_touch = '{}'::jsonb
        WHERE client_id = $1
        """, client_id, user_id, f"erased-{user_id}@{ERASED_EMAIL_DOMAIN}",
        f"erased-lead-{client_id}@{ERASED_EMAIL_DOMAIN}")


async def erase_marketing(session: AsyncSession, client_id: int) -> None:
    """What no retention duty ever keeps: how the client was acquired (attribution, the lead)."""
    conn = await driver(session)
    await conn.execute("UPDATE clients SET attribution = '{}'::jsonb WHERE id = $1", client_id)
    await conn.execute("UPDATE leads SET first_touch = '{}'::jsonb, first_name = '', last_name = '', "
                       "email = $2, email_normalized = $2 WHERE client_id = $1", client_id,
                       f"erased-lead-{client_id}@{ERASED_EMAIL_DOMAIN}")


def _due(schedule: Schedule, ended: date | None, as_of: date) -> tuple[bool, date | None]:
    until = schedule.ends(relationship_end=ended)
    return until is not None and until <= as_of, until


async def _aml_records(session: AsyncSession, store: BlobStore, schedule: Schedule, user_id: int,
                       ended: date | None, owed: bool, as_of: date, out: ClientOutcome) -> KindOutcome:
    """The AML records' own duty: their period (AMLD Art. 40), money held, an investigation in progress."""
    due, until = _due(schedule, ended, as_of)
    if not due:
        return KindOutcome("aml_records", "scheduled", until,
                           note=f"{schedule.years} years after the relationship ends (AML record-keeping duty)")
    if owed:
        return KindOutcome("aml_records", "retained", until, note="the ledger still holds money for the client")
    busy = await aml_records.in_progress(session, user_id)
    if busy is not None:
        return KindOutcome("aml_records", "retained", until, note=busy)
    out.aml = await aml_records.erase(session, store, user_id)
    return KindOutcome("aml_records", "erased", until)


async def enforce_client(session: AsyncSession, actor: Actor, store: BlobStore, client_id: int, as_of: date, *,
                         on_request: bool = False) -> ClientOutcome:
    """Erase what is past its retention for one client, in the caller's transaction (the client row
    locked first). `on_request`: an approved erasure request, which also erases the marketing data
    no duty keeps. Returns what happened per kind of record."""
    conn = await driver(session)
    # The client row locked, with what decides everything else: a legal hold, when the relationship
    # ended (the last move into closed or rejected), money the ledger holds for them.
    client = await conn.fetchrow(
        """
        SELECT c.id, c.user_id, c.status, c.country, c.erased_at,
               EXISTS (SELECT 1 FROM legal_holds h WHERE h.client_id = c.id AND h.released_at IS NULL) AS held,
               (SELECT max(created_at) FROM client_status_history WHERE client_id = c.id
                  AND to_status = ANY($2::text[])) AS ended_at,
               EXISTS (SELECT 1 FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
                       WHERE a.owner_id = c.user_id AND (b.balance <> 0 OR b.held <> 0)) AS owed
        FROM clients c WHERE c.id = $1 FOR UPDATE OF c
        """, client_id, list(ENDED))
    out = ClientOutcome(client_id)
    if client is None:
        return out
    schedules = await effective(session, client["country"])
    if client["held"]:
        out.held = True
        out.kinds = [KindOutcome(kind, "retained", note="legal hold") for kind in sorted(schedules)]
        return out
    ended = client["ended_at"].date() if client["status"] in ENDED and client["ended_at"] is not None else None
    owed = bool(client["owed"])

    # Communications: each row's own period (or the relationship's, when so configured).
    comm = schedules["communications"]
    if comm.basis == "created":
        cutoff = add_years(as_of, -comm.years)
        found = await conn.fetchrow(
            "WITH d AS (DELETE FROM client_communications WHERE client_id = $1 AND created_at < $2 RETURNING 1) "
            "SELECT (SELECT count(*) FROM d) AS deleted, (SELECT min(created_at) FROM client_communications "
            "WHERE client_id = $1 AND created_at >= $2) AS remaining",
            client_id, datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC))
        out.communications_deleted = int(found["deleted"])
        remaining = found["remaining"]
        out.kinds.append(KindOutcome("communications", "scheduled" if remaining else "erased",
                                     add_years(remaining.date(), comm.years) if remaining else None,
                                     note=f"{comm.years} years from each record"))
    else:
        due, until = _due(comm, ended, as_of)
        if due:
            deleted = await conn.execute("DELETE FROM client_communications WHERE client_id = $1", client_id)
            out.communications_deleted = int(deleted.split()[-1])
        out.kinds.append(KindOutcome("communications", "erased" if due else "scheduled", until,
                                     note=f"{comm.years} years after the relationship ends"))

    docs_due, docs_until = _due(schedules["kyc_documents"], ended, as_of)
    id_due, id_until = _due(schedules["identity_data"], ended, as_of)
    docs_left = True
    for kind, due, until in (("kyc_documents", docs_due, docs_until), ("identity_data", id_due, id_until)):
        years = schedules[kind].years
        if due and owed:
            out.kinds.append(KindOutcome(kind, "retained", until, note="the ledger still holds money for the client"))
            continue
        if not due:
            out.kinds.append(KindOutcome(kind, "scheduled", until, note=f"{years} years after the relationship ends"))
            continue
        if kind == "kyc_documents":
            out.documents_deleted = await erase_documents(session, store, client_id)
            docs_left = False
        elif client["erased_at"] is None:
            await erase_identity(session, client_id, client["user_id"])
            out.identity_erased = True
        out.kinds.append(KindOutcome(kind, "erased", until))
    if "aml_records" in schedules:
        out.kinds.append(await _aml_records(session, store, schedules["aml_records"], client["user_id"], ended, owed,
                                            as_of, out))
    if id_due and not owed and not docs_left:
        out.key_destroyed = await keys.destroy(session, client_id)
    audit_schedule = schedules["audit"]
    out.kinds.append(KindOutcome("audit", "retained", None,
                                 note=f"kept {audit_schedule.years} years from each event; its personal values are "
                                      "sealed under the client's key"))
    if on_request:
        await erase_marketing(session, client_id)
        out.kinds.append(KindOutcome("marketing", "erased", None, note="no retention duty"))
    if out.erased_anything or on_request:
        await record(session, actor, action="client.retention_enforced", entity_type="client", entity_id=client_id,
                     after={"documents_deleted": out.documents_deleted,
                            "communications_deleted": out.communications_deleted,
                            "identity_erased": out.identity_erased, "key_destroyed": out.key_destroyed,
                            "aml_cases_erased": out.aml.cases, "aml_files_deleted": out.aml.files,
                            "aml_decisions_erased": out.aml.decisions,
                            "on_request": on_request, "as_of": as_of.isoformat()},
                     category="general")
    return out
