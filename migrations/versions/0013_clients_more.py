"""Clients, continued: the KYC provider's verdict on its applicant, and leverage-change requests.

Revision ID: 0013_clients_more
Revises: 0006_clients
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0013_clients_more"
down_revision = "0006_clients"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        -- verdict_at is the provider's time of the applied verdict: an older event never overrides it.
        ALTER TABLE kyc_applicants
            ADD COLUMN reject_type varchar(16),
            ADD COLUMN reason text,
            ADD COLUMN verdict_at timestamptz,
            ADD COLUMN event_id varchar(200),
            ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
            ADD CONSTRAINT ck_kyc_applicants_verdict CHECK (verdict IS NULL OR verdict IN ('green', 'red'));

        CREATE TABLE leverage_requests (
            id bigserial PRIMARY KEY,
            client_id bigint NOT NULL REFERENCES clients(id),
            trading_account_id bigint NOT NULL REFERENCES trading_accounts(id),
            from_leverage integer NOT NULL,
            to_leverage integer NOT NULL CHECK (to_leverage > 0),
            cap integer,
            status varchar(16) NOT NULL CHECK (status IN ('pending', 'approved', 'applied', 'rejected')),
            auto_approved boolean NOT NULL DEFAULT false,
            decided_by bigint REFERENCES users(id),
            reason text NOT NULL DEFAULT '',
            error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            applied_at timestamptz
        );
        CREATE INDEX ix_leverage_requests_client ON leverage_requests (client_id, created_at, id);
        CREATE INDEX ix_leverage_requests_open ON leverage_requests (status, created_at, id)
            WHERE status IN ('pending', 'approved');
        -- One open request per account, so an older approval can never be applied over a newer one.
        CREATE UNIQUE INDEX uq_leverage_requests_open_account ON leverage_requests (trading_account_id)
            WHERE status IN ('pending', 'approved');
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE leverage_requests; "
        "ALTER TABLE kyc_applicants DROP CONSTRAINT ck_kyc_applicants_verdict, DROP COLUMN reject_type, "
        "DROP COLUMN reason, DROP COLUMN verdict_at, DROP COLUMN event_id, DROP COLUMN created_at;"
    )
