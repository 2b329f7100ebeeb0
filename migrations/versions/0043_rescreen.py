"""Ongoing screening (issue 19): re-screening runs with persistent progress, the delta of a list import,
idempotent hits linked to the AML case they opened or joined.

- `screening_entities.content_hash`: what an entity said when it was loaded (names, dates, countries,
  topics, schema); a reload compares it to tell changed entities from unchanged ones. NULL on rows
  loaded before this migration: they count as changed on the next load (screened once more).
- `screening_runs`: a delta run (the added and changed entities of one list version; the removed ones'
  pending hits are delisted) or a full run (one list, or every list when `list_id` is NULL). Clients are
  screened in id order; `last_client_id` is committed with each batch's hits, so a run carried on after a
  crash or a repeat delivery starts after the last client done.
- `screening_results`: one row per client, list and entity at most (a run inserting it twice changes
  nothing); `case_id` the AML case the hit opened or joined; 'delisted' for a pending hit whose entity
  left the list (resolved by the system, reason in `review_reason`).

Revision ID: 0043_rescreen
Revises: 0041_aml, 0006_clients
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0043_rescreen"
down_revision = ("0041_aml", "0006_clients")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE screening_entities ADD COLUMN content_hash varchar(32);

        CREATE TABLE screening_runs (
            id bigserial PRIMARY KEY,
            kind varchar(8) NOT NULL CHECK (kind IN ('delta', 'full')),
            list_id bigint REFERENCES screening_lists(id) ON DELETE CASCADE,
            list_name varchar(80),
            list_version varchar(80),
            entity_ids text[] NOT NULL DEFAULT '{}',
            removed_ids text[] NOT NULL DEFAULT '{}',
            status varchar(12) NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'completed', 'failed')),
            requested_by bigint,
            trigger varchar(12) NOT NULL CHECK (trigger IN ('import', 'manual', 'schedule')),
            matcher_version varchar(32) NOT NULL,
            threshold numeric(5, 4) NOT NULL,
            clients_total integer NOT NULL DEFAULT 0,
            clients_done integer NOT NULL DEFAULT 0,
            last_client_id bigint NOT NULL DEFAULT 0,
            upto_client_id bigint,
            hits_found integer NOT NULL DEFAULT 0,
            hits_delisted integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            error text,
            CHECK ((kind = 'delta') <= (list_id IS NOT NULL))
        );
        CREATE INDEX ix_screening_runs_open ON screening_runs (updated_at) WHERE status IN ('queued', 'running');
        CREATE INDEX ix_screening_runs_full ON screening_runs (created_at) WHERE kind = 'full';

        ALTER TABLE screening_results ADD COLUMN case_id bigint REFERENCES aml_cases(id);
        ALTER TABLE screening_results ADD COLUMN run_id bigint REFERENCES screening_runs(id) ON DELETE SET NULL;
        ALTER TABLE screening_results DROP CONSTRAINT screening_results_status_check;
        ALTER TABLE screening_results ADD CONSTRAINT screening_results_status_check
            CHECK (status IN ('clear', 'pending', 'confirmed', 'dismissed', 'delisted'));
        CREATE UNIQUE INDEX ux_screening_results_entity ON screening_results (client_id, list_name, entity_id)
            WHERE entity_id IS NOT NULL;
        CREATE INDEX ix_screening_results_listed ON screening_results (list_name, entity_id)
            WHERE status = 'pending';
        CREATE INDEX ix_screening_results_case ON screening_results (case_id, id) WHERE case_id IS NOT NULL;
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP INDEX ix_screening_results_case; DROP INDEX ix_screening_results_listed;
        DROP INDEX ux_screening_results_entity;
        UPDATE screening_results SET status = 'dismissed' WHERE status = 'delisted';
        ALTER TABLE screening_results DROP CONSTRAINT screening_results_status_check;
        ALTER TABLE screening_results ADD CONSTRAINT screening_results_status_check
            CHECK (status IN ('clear', 'pending', 'confirmed', 'dismissed'));
        ALTER TABLE screening_results DROP COLUMN run_id, DROP COLUMN case_id;
        DROP TABLE screening_runs;
        ALTER TABLE screening_entities DROP COLUMN content_hash;
        """
    )
