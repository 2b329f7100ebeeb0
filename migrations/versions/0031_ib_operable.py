"""IB applications (one open at a time per user) and managed referral links (name, target, UTM
fields, updated_at); link clicks stay one counter per link (no visitor data is stored).

Revision ID: 0031_ib_operable
Revises: 0026_ib_filters_wire_returns
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0031_ib_operable"
down_revision = "0026_ib_filters_wire_returns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE ib_applications (
            id bigserial PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES users(id),
            status varchar(16) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
            website varchar(300) NOT NULL DEFAULT '',
            channels text[] NOT NULL DEFAULT '{}',
            expected_clients integer NOT NULL CHECK (expected_clients >= 0),
            message text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL DEFAULT now(),
            decided_at timestamptz,
            decided_by bigint REFERENCES users(id),
            decision_reason text,
            parent_id bigint REFERENCES users(id),
            plan_id bigint REFERENCES ib_plans(id)
        );
        -- One open application per user at a time (a rejected applicant may apply again).
        CREATE UNIQUE INDEX uq_ib_applications_open ON ib_applications (user_id) WHERE status = 'pending';
        CREATE INDEX ix_ib_applications_status ON ib_applications (status, id);
        CREATE INDEX ix_ib_applications_user ON ib_applications (user_id, id);

        ALTER TABLE ib_referral_links ADD COLUMN name varchar(80) NOT NULL DEFAULT '';
        ALTER TABLE ib_referral_links ADD COLUMN target varchar(16) NOT NULL DEFAULT 'registration'
            CHECK (target IN ('registration', 'home'));
        ALTER TABLE ib_referral_links ADD COLUMN utm_source varchar(100) NOT NULL DEFAULT '';
        ALTER TABLE ib_referral_links ADD COLUMN utm_medium varchar(100) NOT NULL DEFAULT '';
        ALTER TABLE ib_referral_links ADD COLUMN utm_campaign varchar(100) NOT NULL DEFAULT '';
        ALTER TABLE ib_referral_links ADD COLUMN utm_content varchar(100) NOT NULL DEFAULT '';
        ALTER TABLE ib_referral_links ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
        """
    )


def downgrade() -> None:
    run_sql(
        """
        ALTER TABLE ib_referral_links DROP COLUMN name, DROP COLUMN target, DROP COLUMN utm_source,
            DROP COLUMN utm_medium, DROP COLUMN utm_campaign, DROP COLUMN utm_content, DROP COLUMN updated_at;
        DROP TABLE ib_applications;
        """
    )
