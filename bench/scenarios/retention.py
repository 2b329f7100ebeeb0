"""Retention enforcement over a population of clients: a run (domain/retention/runs.py, as the
worker executes it: candidates found in batches, one transaction per client, blobs deleted from the
store, identity blanked, key destroyed, audited) against an anchor measured in the same run on the
same database: the same erasure of an equal cohort as plain set-based SQL (a handful of UPDATEs over
the cohort's ids, no per-client transaction, no audit) plus unlinking the cohort's blob files.

Population: `clients` clients, most active; two cohorts of `due` clients closed 6 years ago with one
document each (one erased by the run, the other by the anchor first, so the run does not see it), and
`due` clients closed a year ago (examined by the run, nothing erased yet). Every closed client also has
AML records (domain/retention/aml_records.py): a closed case with a note and an attached file, and a
monitoring decision, erased by the run and the anchor with the rest.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.harness import bench_services
from domain.clients.storage import LocalStore, encrypt, encrypt_with
from domain.retention import keys, runs
from domain.shared.actor import system_actor
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory, in_transaction
from domain.shared.settings import Settings

ACTOR = system_actor("bench-retention")
BLOB = b"%PDF-1.4\n" + b"x" * 1000


async def _populate(conn: asyncpg.Connection, settings: Settings, store: LocalStore, clients: int,
                    due: int) -> tuple[list[int], list[int]]:
    """(run cohort, anchor cohort) client ids."""
    await conn.execute("""
        INSERT INTO users (email, email_normalized, is_client)
        SELECT 'c' || g || '@bench.example', 'c' || g || '@bench.example', true FROM generate_series(1, $1) g
        ORDER BY g""", clients)
    await conn.execute("""
        INSERT INTO clients (user_id, status, first_name, last_name, profile, country, attribution, blocked_products)
        SELECT id, 'active', 'First' || id, 'Last' || id, '{"phone": "+49 30 901820"}'::jsonb, 'DE', '{}'::jsonb, '{}'
        FROM users ORDER BY id""")
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM clients ORDER BY id")]
    step = max(1, len(ids) // (3 * due))
    spread = ids[::step][: 3 * due]
    run_cohort, anchor_cohort, recent = spread[0::3], spread[1::3], spread[2::3]
    await conn.execute("UPDATE clients SET status = 'closed' WHERE id = ANY($1::bigint[])", spread)
    await conn.execute("""
        INSERT INTO client_status_history (client_id, from_status, to_status, actor_kind, reason, created_at)
        SELECT c, 'active', 'closed', 'system', 'bench', now() - make_interval(years => y)
        FROM unnest($1::bigint[], $2::int[]) AS t(c, y)""",
        spread, [6 if c not in set(recent) else 1 for c in spread])
    keys_rows, doc_rows = [], []
    for cid in spread:
        data_key = os.urandom(32)
        keys_rows.append((cid, keys.wrap(settings, cid, data_key)))
        storage_key = f"{cid}/{uuid.uuid4().hex}"
        await store.put(storage_key, encrypt_with(data_key, storage_key, BLOB))
        doc_rows.append((cid, "proof_of_address", "accepted", "bill.pdf", "application/pdf", len(BLOB),
                         hashlib.sha256(BLOB).hexdigest(), storage_key, "client"))
    await conn.copy_records_to_table("client_keys", records=keys_rows, columns=["client_id", "wrapped"])
    await conn.copy_records_to_table("client_documents", records=doc_rows, columns=[
        "client_id", "kind", "status", "filename", "content_type", "size_bytes", "sha256", "storage_key", "key_scheme"])
    await _aml_records(conn, settings, store, spread)
    await conn.execute("ANALYZE")
    return run_cohort, anchor_cohort


async def _aml_records(conn: asyncpg.Connection, settings: Settings, store: LocalStore, client_ids: list[int]) -> None:
    """Per client: a closed case with a note and a file (its blob in the store), a decision on it."""
    officer = await conn.fetchval("INSERT INTO users (email, email_normalized, is_staff) "
                                  "VALUES ('officer@bench.example', 'officer@bench.example', true) RETURNING id")
    scenario = await conn.fetchval("INSERT INTO aml_scenarios (name) VALUES ('bench-retention') RETURNING id")
    version = await conn.fetchval("INSERT INTO aml_scenario_versions (scenario_id, status, document, triggers) "
                                  "VALUES ($1, 'draft', '{}'::jsonb, '{deposit}') RETURNING id", scenario)
    cases = await conn.fetch("""
        INSERT INTO aml_cases (user_id, team, status, outcome, closing_note, alert_count, sla_due_at, closed_at)
        SELECT user_id, 'compliance', 'closed', 'false_positive', 'payer named ' || first_name, 1, now(), now()
        FROM clients WHERE id = ANY($1::bigint[]) RETURNING id, user_id""", client_ids)
    await conn.execute("""
        INSERT INTO aml_case_notes (case_id, author_id, body) SELECT c, $2, 'called the client about the payer'
        FROM unnest($1::bigint[]) c""", [r["id"] for r in cases], officer)
    await conn.execute("""
        INSERT INTO aml_decisions (scenario_id, version_id, user_id, trigger, event, score, outcome, explain, case_id)
        SELECT $1, $2, u, 'deposit', '{"payer_name": "A Payer"}'::jsonb, 20, 'review', '[]'::jsonb, c
        FROM unnest($3::bigint[], $4::bigint[]) AS t(c, u)""",
        scenario, version, [r["id"] for r in cases], [r["user_id"] for r in cases])
    files = []
    for r in cases:
        storage_key = f"aml-cases/{r['id']}/{uuid.uuid4().hex}"
        await store.put(storage_key, encrypt(settings, storage_key, BLOB))
        files.append((r["id"], "statement.pdf", "application/pdf", len(BLOB), hashlib.sha256(BLOB).hexdigest(),
                      storage_key, "bank statement", officer))
    await conn.copy_records_to_table("aml_case_attachments", records=files, columns=[
        "case_id", "filename", "content_type", "size_bytes", "sha256", "storage_key", "description", "uploaded_by"])


async def _anchor(conn: asyncpg.Connection, store: LocalStore, cohort: list[int]) -> None:
    """The same erasure as plain set-based SQL in one transaction, and the blobs unlinked."""
    async with conn.transaction():
        blobs = await conn.fetch("UPDATE client_documents SET erased_at = now() WHERE client_id = ANY($1::bigint[]) "
                                 "AND erased_at IS NULL RETURNING storage_key", cohort)
        for r in blobs:
            await store.delete(r["storage_key"])
        await conn.execute("UPDATE clients SET first_name = '', last_name = '', date_of_birth = NULL, "
                           "profile = '{}'::jsonb, attribution = '{}'::jsonb, sealed_identity = NULL, "
                           "erased_at = now() WHERE id = ANY($1::bigint[])", cohort)
        await conn.execute("UPDATE users u SET email = 'erased-' || u.id || '@erased.invalid', "
                           "email_normalized = 'erased-' || u.id || '@erased.invalid', status = 'disabled', "
                           "password_hash = NULL FROM clients c WHERE c.user_id = u.id AND c.id = ANY($1::bigint[])",
                           cohort)
        await conn.execute("UPDATE client_keys SET wrapped = NULL, destroyed_at = now() "
                           "WHERE client_id = ANY($1::bigint[])", cohort)
        users = [r["user_id"] for r in await conn.fetch("SELECT user_id FROM clients WHERE id = ANY($1::bigint[])",
                                                         cohort)]
        files = await conn.fetch(
            "UPDATE aml_case_attachments a SET filename = '', description = '', erased_at = now() FROM aml_cases c "
            "WHERE c.id = a.case_id AND c.user_id = ANY($1::bigint[]) AND a.erased_at IS NULL RETURNING a.storage_key",
            users)
        for r in files:
            await store.delete(r["storage_key"])
        await conn.execute("""
            WITH c AS (UPDATE aml_cases SET closing_note = '', erased_at = now()
                       WHERE user_id = ANY($1::bigint[]) AND erased_at IS NULL RETURNING id),
                 n AS (UPDATE aml_case_notes SET body = '' WHERE case_id IN (SELECT id FROM c))
            UPDATE aml_reports SET reason = '', action = '' WHERE case_id IN (SELECT id FROM c)""", users)
        await conn.execute("UPDATE aml_decisions SET event = '{}'::jsonb, explain = '[]'::jsonb, erased_at = now() "
                           "WHERE user_id = ANY($1::bigint[]) AND erased_at IS NULL", users)


async def run(*, quick: bool = False) -> dict[str, Any]:
    clients, due = (5_000, 200) if quick else (100_000, 3_000)
    settings = Settings(secret_key=secrets.token_hex(32))
    async with bench_services("retention") as (db_url, _redis_url):
        dsn = asyncpg_dsn(db_url)
        with tempfile.TemporaryDirectory() as folder:
            store = LocalStore(Path(folder) / "documents")
            conn = await asyncpg.connect(dsn)
            try:
                started = time.perf_counter()
                run_cohort, anchor_cohort = await _populate(conn, settings, store, clients, due)
                populate_s = time.perf_counter() - started
                started = time.perf_counter()
                await _anchor(conn, store, anchor_cohort)
                anchor_s = time.perf_counter() - started
            finally:
                await conn.close()
            engine = create_engine(db_url, settings, pool_size=2)
            factory = create_session_factory(engine)
            try:
                async def queue(session: Any) -> runs.RetentionRun:
                    return await runs.request_run(session, ACTOR, datetime.now(UTC).date())

                queued = await in_transaction(factory, queue)
                started = time.perf_counter()
                done = await runs.execute(factory, store, ACTOR, queued.id)
                run_s = time.perf_counter() - started
            finally:
                await engine.dispose()
            left = sum(1 for _ in (store.root).rglob("*") if _.is_file())
    assert done is not None and done.status == "completed"
    assert done.keys_destroyed == len(run_cohort) and done.documents_deleted == len(run_cohort), done
    assert done.aml_cases_erased == len(run_cohort) and done.aml_files_deleted == len(run_cohort), done
    assert left == 2 * due, f"{left} blobs left, the recent cohort's {2 * due} (a document and a case file) expected"
    return {
        "clients": clients, "erased_per_cohort": len(run_cohort), "examined": done.clients_examined,
        "populate_s": round(populate_s, 1),
        "aml_cases_erased": done.aml_cases_erased,
        "run": {"seconds": round(run_s, 2), "erased_clients_per_s": round(len(run_cohort) / run_s, 1),
                "examined_clients_per_s": round(done.clients_examined / run_s, 1)},
        "anchor": {"seconds": round(anchor_s, 3), "erased_clients_per_s": round(len(anchor_cohort) / anchor_s, 1),
                   "what": "set-based UPDATEs of the same columns and rows (AML records included), blobs "
                           "unlinked, one transaction"},
        "ratio": round(anchor_s / run_s, 4),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
