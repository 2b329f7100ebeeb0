"""Records on request (domain/audit/record_exports.py): each export a staff member asks for (its kind,
filter and format) is a row that its signed download link names, and says when it was downloaded and
how many rows it held. The retail-client loss percentage (domain/audit/retail_loss.py) is kept per
quarter: the share of retail accounts that lost money over the 12 months before the quarter began.

Revision ID: 0052_regulator_records
Revises: 0048_aml_case_attachments (the head; descends from 0002_identity, whose users it references)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0052_regulator_records"
down_revision = "0048_aml_case_attachments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE regulator_record_exports (
            id bigserial PRIMARY KEY,
            kind varchar(24) NOT NULL CHECK (kind IN ('commission', 'ib_relationship', 'balance_adjustment',
                'leverage_change', 'communication')),
            format varchar(4) NOT NULL CHECK (format IN ('csv', 'xlsx')),
            client_id bigint,
            ib_id bigint,
            occurred_from timestamptz,
            occurred_to timestamptz,
            requested_by bigint NOT NULL REFERENCES users(id),
            created_at timestamptz NOT NULL DEFAULT now(),
            downloads integer NOT NULL DEFAULT 0,
            last_rows bigint
        );
        CREATE INDEX ix_regulator_record_exports_user ON regulator_record_exports (requested_by, created_at);

        CREATE TABLE retail_loss_quarters (
            quarter_start date PRIMARY KEY,
            period_from timestamptz NOT NULL,
            period_to timestamptz NOT NULL,
            retail_accounts integer NOT NULL CHECK (retail_accounts >= 0),
            losing_accounts integer NOT NULL CHECK (losing_accounts >= 0 AND losing_accounts <= retail_accounts),
            loss_percentage numeric(7, 4),
            computed_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ck_retail_loss_quarters_period CHECK (period_to > period_from)
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE retail_loss_quarters; DROP TABLE regulator_record_exports;")
