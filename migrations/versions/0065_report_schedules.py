"""Scheduled reports (issue 21): a staff member's schedule of one report (revenue, money flow or funnel) with its
filters, interval, file format and recipients; every run kept with its file, row count, hash and error.

- `reporting_schedules`: owned by its creator; the report runs with the creator's desk scope at creation
  (`scope_desk`, or every desk when `scope_all`); `next_run_at` is the next due instant (UTC midnight of the
  next day, Monday or first of month); a deleted schedule is kept (deleted_at) with its runs.
- `reporting_runs`: one per schedule and due instant (`slot`, unique: a retried job makes no second run),
  the file itself (`content`, small: a report is at most 51 lines per bucket), its SHA-256 and row count.

Revision ID: 0065_report_schedules
Revises: 0062_webhooks (the head), 0061_reporting, 0002_identity
"""

from __future__ import annotations

from migrations.sql import run_sql

revision = "0065_report_schedules"
down_revision = "0062_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE reporting_schedules (
            id bigserial PRIMARY KEY,
            owner_id bigint NOT NULL REFERENCES users (id),
            report varchar(16) NOT NULL CHECK (report IN ('revenue', 'money_flow', 'funnel')),
            dimension varchar(32) NOT NULL,
            bucket varchar(8) NOT NULL CHECK (bucket IN ('day', 'week', 'month')),
            period varchar(16) NOT NULL,
            top int NOT NULL CHECK (top BETWEEN 1 AND 50),
            interval varchar(8) NOT NULL CHECK (interval IN ('daily', 'weekly', 'monthly')),
            format varchar(4) NOT NULL CHECK (format IN ('csv', 'xlsx')),
            recipients bigint[] NOT NULL CHECK (cardinality(recipients) BETWEEN 1 AND 50),
            scope_all boolean NOT NULL,
            scope_desk varchar(64),
            scope_nothing boolean NOT NULL DEFAULT false,
            paused boolean NOT NULL DEFAULT false,
            deleted_at timestamptz,
            next_run_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX reporting_schedules_owner ON reporting_schedules (owner_id, id);
        CREATE INDEX reporting_schedules_due ON reporting_schedules (next_run_at) WHERE NOT paused AND deleted_at IS NULL;

        CREATE TABLE reporting_runs (
            id bigserial PRIMARY KEY,
            schedule_id bigint NOT NULL REFERENCES reporting_schedules (id),
            slot timestamptz NOT NULL,
            since date NOT NULL,
            until date NOT NULL,
            status varchar(8) NOT NULL CHECK (status IN ('done', 'failed')),
            format varchar(4) NOT NULL,
            row_count int NOT NULL DEFAULT 0,
            sha256 char(64),
            content bytea,
            recipients bigint[] NOT NULL DEFAULT '{}',
            error text,
            link_expires_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (schedule_id, slot)
        );
        CREATE INDEX reporting_runs_schedule ON reporting_runs (schedule_id, id);
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP TABLE reporting_runs;
        DROP TABLE reporting_schedules;
        """
    )
