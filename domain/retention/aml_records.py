"""AML records under the retention schedule (`aml_records`): a client's cases with their notes,
attached files and goAML reports, and every monitoring decision (alert or not) about them.

The duty (AMLD Art. 40(1)): kept 5 years after the business relationship ends, a period a member
state may set longer (up to 10 years) — so the kind has a schedule row per jurisdiction like the
others and counts only from the relationship's end. Until then an erasure request does not touch
them (enforcement.enforce_client records the decision), nor while a case is still open or a report
of it is not yet filed with the FIU: those are an investigation in progress, a duty of its own.

These records are not sealed under the client's data key (a case file is encrypted under the
process-wide document key, attachments.py), so destroying that key does not erase them: they are
erased here, explicitly, when their own period is over.
- attachments: each file deleted from the BlobStore (local folder or S3), the row marked erased with
  its name and description blanked; its checksum, size and dates stay (proof a file existed);
- cases: the closing note and every note's body blanked, the reports' narrative (reason, action) and
  approved XML blanked (kept as '' where approved, the FIU reference and status kept: proof of filing);
- decisions: the event and the explanation blanked (they hold amounts, countries, IPs, counterparty
  names); the scenario, version, score and outcome stay, so the scenarios' statistics still add up.
The audit trail is left alone (its own schedule): its hash chain still verifies.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.clients.storage import BlobStore
from domain.shared.db import Reader, driver

UNFILED = ("draft", "pending_approval", "approved")


@dataclass(frozen=True)
class AmlErased:
    cases: int = 0
    files: int = 0
    decisions: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.cases or self.files or self.decisions)


async def in_progress(session: Reader, user_id: int) -> str | None:
    """Why the client's AML records are still needed whatever the schedule says, or None."""
    row = await (await driver(session)).fetchrow(
        "SELECT EXISTS (SELECT 1 FROM aml_cases WHERE user_id = $1 AND status <> 'closed') AS open, "
        "EXISTS (SELECT 1 FROM aml_reports WHERE user_id = $1 AND status = ANY($2::varchar[])) AS unfiled",
        user_id, list(UNFILED))
    if row["open"]:
        return "an AML case of the client is still open"
    if row["unfiled"]:
        return "a suspicious transaction report of the client is not filed yet"
    return None


async def erase(session: Reader, store: BlobStore, user_id: int) -> AmlErased:
    """Erase the client's AML records not erased yet (the caller's transaction, the client row locked).
    Files go from storage first: a failure there rolls back the rows, and a repeat deletes nothing twice
    (a blob already gone is not an error)."""
    conn = await driver(session)
    files = await conn.fetch(
        "SELECT a.id, a.storage_key FROM aml_case_attachments a JOIN aml_cases c ON c.id = a.case_id "
        "WHERE c.user_id = $1 AND a.erased_at IS NULL ORDER BY a.id FOR UPDATE OF a", user_id)
    for f in files:
        await store.delete(f["storage_key"])
    if files:
        await conn.execute("UPDATE aml_case_attachments SET filename = '', description = '', erased_at = now() "
                           "WHERE id = ANY($1::bigint[])", [f["id"] for f in files])
    cases = await conn.fetchval(
        """
        WITH c AS (
            UPDATE aml_cases SET closing_note = CASE WHEN closing_note IS NULL THEN NULL ELSE '' END,
                   erased_at = now()
            WHERE user_id = $1 AND erased_at IS NULL RETURNING id
        ), n AS (
            UPDATE aml_case_notes SET body = '' WHERE case_id IN (SELECT id FROM c)
        ), r AS (
            UPDATE aml_reports SET reason = '', action = '', xml = CASE WHEN xml IS NULL THEN NULL ELSE '' END,
                   updated_at = now()
            WHERE case_id IN (SELECT id FROM c)
        )
        SELECT count(*) FROM c
        """, user_id)
    decisions = await conn.execute(
        "UPDATE aml_decisions SET event = '{}'::jsonb, explain = '[]'::jsonb, erased_at = now() "
        "WHERE user_id = $1 AND erased_at IS NULL", user_id)
    return AmlErased(int(cases), len(files), int(decisions.split()[-1]))
