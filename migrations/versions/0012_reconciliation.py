"""Reconciliation: runs (one per cutoff), matched items, breaks with their workflow and comments,
imported PSP settlement reports, and platform balance snapshots.

Revision ID: 0012_reconciliation
Revises: 0004_trading, 0005_ledger
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0012_reconciliation"
down_revision = ("0004_trading", "0005_ledger")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        -- One report per provider and content hash: importing the same file again is a no-op.
        CREATE TABLE reconciliation_settlement_reports (
            id bigserial PRIMARY KEY,
            provider varchar(64) NOT NULL,
            sha256 char(64) NOT NULL,
            source varchar(16) NOT NULL DEFAULT 'csv' CHECK (source IN ('csv', 'api')),
            line_count integer NOT NULL,
            imported_by varchar(80) NOT NULL,
            imported_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_reconciliation_reports_content UNIQUE (provider, sha256)
        );

        -- amount > 0: money the PSP collected for us (deposit); < 0: paid out. Gross of fee.
        CREATE TABLE reconciliation_settlement_lines (
            id bigserial PRIMARY KEY,
            report_id bigint NOT NULL REFERENCES reconciliation_settlement_reports(id),
            line_no integer NOT NULL,
            provider varchar(64) NOT NULL,
            reference varchar(80) NOT NULL,
            amount numeric(28, 8) NOT NULL,
            currency varchar(8) NOT NULL,
            fee numeric(28, 8) NOT NULL DEFAULT 0 CHECK (fee >= 0),
            settled_at timestamptz NOT NULL,
            status varchar(16) NOT NULL CHECK (status IN ('settled', 'pending', 'failed', 'reversed')),
            CONSTRAINT uq_reconciliation_lines_line UNIQUE (report_id, line_no)
        );
        CREATE INDEX ix_reconciliation_lines_settled ON reconciliation_settlement_lines (settled_at);
        CREATE INDEX ix_reconciliation_lines_ref ON reconciliation_settlement_lines (provider, reference);

        -- Platform balances captured by a job, so a run compares 100k accounts without 100k calls.
        CREATE TABLE reconciliation_platform_balances (
            server_id varchar(64) NOT NULL,
            login bigint NOT NULL,
            captured_at timestamptz(3) NOT NULL,
            currency varchar(8) NOT NULL,
            balance numeric(28, 8) NOT NULL,
            PRIMARY KEY (server_id, login, captured_at)
        );
        CREATE INDEX ix_reconciliation_balances_time ON reconciliation_platform_balances (captured_at);

        CREATE TABLE reconciliation_runs (
            id bigserial PRIMARY KEY,
            cutoff timestamptz NOT NULL UNIQUE,
            window_start timestamptz NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done')),
            summary jsonb NOT NULL DEFAULT '{}',
            attempts integer NOT NULL DEFAULT 0,
            duration_ms integer,
            started_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ck_reconciliation_runs_window CHECK (window_start < cutoff)
        );
        CREATE INDEX ix_reconciliation_runs_page ON reconciliation_runs (created_at DESC, id DESC);

        -- Matched items: compact, replaced on each re-run of the cutoff.
        CREATE TABLE reconciliation_matches (
            run_id bigint NOT NULL REFERENCES reconciliation_runs(id),
            section varchar(16) NOT NULL,
            key varchar(200) NOT NULL,
            ledger_ref varchar(200),
            other_ref varchar(200),
            amount numeric(28, 8),
            PRIMARY KEY (run_id, section, key)
        );

        -- A break is keyed by (run, section, key) so a re-run updates it in place and keeps its
        -- workflow (assignee, comments, resolution); one no longer found is `cleared`, not deleted.
        CREATE TABLE reconciliation_breaks (
            id bigserial PRIMARY KEY,
            run_id bigint NOT NULL REFERENCES reconciliation_runs(id),
            section varchar(16) NOT NULL CHECK (section IN ('trading', 'psp', 'integrity', 'balance')),
            kind varchar(32) NOT NULL CHECK (kind IN ('missing_in_ledger', 'missing_on_platform', 'missing_at_psp',
                'amount_mismatch', 'account_mismatch', 'duplicate', 'timing', 'balance_drift', 'balance_mismatch')),
            key varchar(200) NOT NULL,
            currency varchar(8),
            amount_diff numeric(28, 8),
            evidence jsonb NOT NULL,
            suggested_cause text NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'explained', 'cleared')),
            assignee_id bigint REFERENCES users(id),
            adjustment_entry_id bigint REFERENCES ledger_entries(id),
            explanation text,
            resolved_by bigint REFERENCES users(id),
            resolved_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_reconciliation_breaks_key UNIQUE (run_id, section, key),
            CONSTRAINT ck_reconciliation_breaks_resolution CHECK (
                (status = 'resolved') = (adjustment_entry_id IS NOT NULL)
                AND (status = 'explained') = (explanation IS NOT NULL))
        );
        CREATE INDEX ix_reconciliation_breaks_page ON reconciliation_breaks (created_at DESC, id DESC);
        CREATE INDEX ix_reconciliation_breaks_open ON reconciliation_breaks (status, kind) WHERE status = 'open';

        CREATE TABLE reconciliation_break_comments (
            id bigserial PRIMARY KEY,
            break_id bigint NOT NULL REFERENCES reconciliation_breaks(id),
            author_id bigint REFERENCES users(id),
            text text NOT NULL CHECK (length(text) BETWEEN 1 AND 4000),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_reconciliation_comments_break ON reconciliation_break_comments (break_id, id);
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE reconciliation_break_comments; DROP TABLE reconciliation_breaks; "
        "DROP TABLE reconciliation_matches; DROP TABLE reconciliation_runs; "
        "DROP TABLE reconciliation_platform_balances; DROP TABLE reconciliation_settlement_lines; "
        "DROP TABLE reconciliation_settlement_reports;"
    )
