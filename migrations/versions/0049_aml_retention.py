"""Retention of AML records (domain/retention/enforcement.py): cases with their notes, attachments and
goAML reports, and the monitoring decisions (alerts) of a client, kept 5 years after the relationship
ends (AMLD Art. 40(1)) and then erased like the other kinds.

- retention_schedules: the kind `aml_records`, its default row ('*', 5 years from relationship_end).
- aml_cases.erased_at: the case's personal content (closing note, notes, its reports' narrative and
  XML) was blanked; the case's skeleton (team, dates, outcome, alert count) stays as proof that it
  existed and was erased.
- aml_case_attachments.erased_at: the file was deleted from storage; name and description blanked,
  the checksum kept (as client_documents.erased_at).
- aml_decisions.erased_at: the event and the explanation were blanked (score, outcome, scenario kept).
- ix_aml_cases_user: a client's cases (the enforcement job and the candidates query look them up).
- retention_runs: what a run erased of AML records.
- ix_aml_decisions_scheduled: a client's latest scheduled alert by a scenario version, which the nightly
  scan compares its evidence with (engine._seen_before: a persisting pattern is not raised again); partial,
  so the decisions written on the money paths do not maintain it.

Revision ID: 0049_aml_retention
Revises: 0048_aml_case_attachments (its attachments; 0041_aml before it), 0040_retention (schedules, runs)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0049_aml_retention"
down_revision = ("0048_aml_case_attachments", "0040_retention")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE retention_schedules DROP CONSTRAINT retention_schedules_record_kind_check;
        ALTER TABLE retention_schedules ADD CONSTRAINT retention_schedules_record_kind_check
            CHECK (record_kind IN ('kyc_documents', 'identity_data', 'communications', 'audit', 'aml_records'));
        INSERT INTO retention_schedules (jurisdiction, record_kind, years, basis)
            VALUES ('*', 'aml_records', 5, 'relationship_end') ON CONFLICT DO NOTHING;

        ALTER TABLE aml_cases ADD COLUMN erased_at timestamptz;
        ALTER TABLE aml_case_attachments ADD COLUMN erased_at timestamptz;
        ALTER TABLE aml_decisions ADD COLUMN erased_at timestamptz;
        CREATE INDEX ix_aml_cases_user ON aml_cases (user_id);
        CREATE INDEX ix_aml_decisions_scheduled ON aml_decisions (user_id, version_id, created_at, id)
            WHERE trigger = 'schedule' AND outcome <> 'allow';

        ALTER TABLE retention_runs ADD COLUMN aml_cases_erased integer NOT NULL DEFAULT 0,
            ADD COLUMN aml_files_deleted integer NOT NULL DEFAULT 0;
        """
    )


def downgrade() -> None:
    run_sql(
        """
        ALTER TABLE retention_runs DROP COLUMN aml_files_deleted, DROP COLUMN aml_cases_erased;
        DROP INDEX ix_aml_decisions_scheduled; DROP INDEX ix_aml_cases_user;
        ALTER TABLE aml_decisions DROP COLUMN erased_at;
        ALTER TABLE aml_case_attachments DROP COLUMN erased_at;
        ALTER TABLE aml_cases DROP COLUMN erased_at;
        DELETE FROM retention_schedules WHERE record_kind = 'aml_records';
        ALTER TABLE retention_schedules DROP CONSTRAINT retention_schedules_record_kind_check;
        ALTER TABLE retention_schedules ADD CONSTRAINT retention_schedules_record_kind_check
            CHECK (record_kind IN ('kyc_documents', 'identity_data', 'communications', 'audit'));
        """
    )
