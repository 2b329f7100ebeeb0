"""IB: CPA qualifications (once per client), revenue-share periods (per IB and period, with
carry-forward), disputes; commission lines may be manual adjustments and per-IB (client-less) lines.

Revision ID: 0016_ib_more
Revises: 0007_ib
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0016_ib_more"
down_revision = "0007_ib"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE ib_commission_lines DROP CONSTRAINT ib_commission_lines_source_check;
        ALTER TABLE ib_commission_lines ADD CONSTRAINT ib_commission_lines_source_check
            CHECK (source IN ('deal', 'cpa', 'revshare', 'manual'));
        -- revenue share lines are per IB and period; manual adjustments may concern a whole period
        ALTER TABLE ib_commission_lines ALTER COLUMN client_id DROP NOT NULL;
        ALTER TABLE ib_commission_lines ALTER COLUMN plan_id DROP NOT NULL;
        ALTER TABLE ib_commission_lines ALTER COLUMN plan_version_id DROP NOT NULL;
        ALTER TABLE ib_commission_lines ALTER COLUMN clause_no DROP NOT NULL;
        ALTER TABLE ib_commission_lines ADD COLUMN period_key varchar(16);
        CREATE UNIQUE INDEX uq_ib_commission_lines_revshare ON ib_commission_lines (ib_id, currency, period_key, seq)
            WHERE source = 'revshare';

        -- One row per client that ever qualified for CPA: the claim that makes CPA once per client.
        CREATE TABLE ib_cpa_qualifications (
            client_id bigint PRIMARY KEY REFERENCES users(id),
            direct_ib_id bigint NOT NULL REFERENCES ib_partners(user_id),
            plan_id bigint NOT NULL,
            plan_version_id bigint NOT NULL,
            clause_no smallint NOT NULL,
            first_deposit_at timestamptz NOT NULL,
            deposits numeric(20, 8) NOT NULL,
            lots numeric(20, 8) NOT NULL,
            qualified_at timestamptz NOT NULL,
            run_id uuid NOT NULL,
            status varchar(12) NOT NULL DEFAULT 'paid' CHECK (status IN ('paid', 'clawed_back')),
            clawback_reason text,
            clawed_back_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_ib_cpa_qualifications_ib ON ib_cpa_qualifications (direct_ib_id);

        -- One row per (IB, currency, period): the idempotency record of revenue share and its carry.
        CREATE TABLE ib_revshare_periods (
            ib_id bigint NOT NULL REFERENCES ib_partners(user_id),
            currency varchar(8) NOT NULL,
            period_key varchar(16) NOT NULL,
            period_from timestamptz NOT NULL,
            period_to timestamptz NOT NULL,
            gross numeric(20, 8) NOT NULL,
            carry_in numeric(20, 8) NOT NULL,
            amount numeric(20, 8) NOT NULL,
            carry_out numeric(20, 8) NOT NULL CHECK (carry_out <= 0),
            run_id uuid NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (ib_id, currency, period_key)
        );
        CREATE INDEX ix_ib_revshare_periods_ib ON ib_revshare_periods (ib_id, currency, period_to);

        CREATE TABLE ib_disputes (
            id bigserial PRIMARY KEY,
            ib_id bigint NOT NULL REFERENCES ib_partners(user_id),
            line_id bigint REFERENCES ib_commission_lines(id),
            period_from timestamptz,
            period_to timestamptz,
            reason text NOT NULL,
            explanation jsonb NOT NULL,
            status varchar(10) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'rejected')),
            resolution text,
            adjustment_line_id bigint REFERENCES ib_commission_lines(id),
            opened_by bigint REFERENCES users(id),
            resolved_by bigint REFERENCES users(id),
            created_at timestamptz NOT NULL DEFAULT now(),
            resolved_at timestamptz,
            CONSTRAINT ck_ib_disputes_subject CHECK ((line_id IS NULL) <> (period_from IS NULL AND period_to IS NULL))
        );
        CREATE INDEX ix_ib_disputes_ib ON ib_disputes (ib_id, id);
        CREATE INDEX ix_ib_disputes_open ON ib_disputes (id) WHERE status = 'open';
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE ib_disputes; DROP TABLE ib_revshare_periods; DROP TABLE ib_cpa_qualifications; "
        "DROP INDEX uq_ib_commission_lines_revshare; ALTER TABLE ib_commission_lines DROP COLUMN period_key; "
        "ALTER TABLE ib_commission_lines DROP CONSTRAINT ib_commission_lines_source_check; "
        "ALTER TABLE ib_commission_lines ADD CONSTRAINT ib_commission_lines_source_check "
        "CHECK (source IN ('deal', 'cpa', 'revshare'));"
    )
