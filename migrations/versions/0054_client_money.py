"""Client money (CASS 7 / CySEC style internal reconciliation), as a section of the existing
reconciliation run: staff record the segregated bank and PSP client-money balances per account,
currency and day; the run's `client_money` section compares them per currency with the client
money requirement and raises a `shortfall` or `excess` break; a named person signs off a run's
client-money result. Platform snapshots also keep equity now (the requirement counts client equity).

Revision ID: 0054_client_money
Revises: 0049_aml_retention, 0053_regulatory_mifir (the heads), 0012_reconciliation
(its breaks, runs and platform balances are touched), 0002_identity (users)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0054_client_money"
down_revision = ("0049_aml_retention", "0053_regulatory_mifir", "0012_reconciliation", "0002_identity")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE reconciliation_platform_balances ADD COLUMN equity numeric(28, 8);

        ALTER TABLE reconciliation_breaks DROP CONSTRAINT reconciliation_breaks_section_check;
        ALTER TABLE reconciliation_breaks ADD CONSTRAINT reconciliation_breaks_section_check
            CHECK (section IN ('trading', 'psp', 'integrity', 'balance', 'client_money'));
        ALTER TABLE reconciliation_breaks DROP CONSTRAINT reconciliation_breaks_kind_check;
        ALTER TABLE reconciliation_breaks ADD CONSTRAINT reconciliation_breaks_kind_check
            CHECK (kind IN ('missing_in_ledger', 'missing_on_platform', 'missing_at_psp', 'amount_mismatch',
                'account_mismatch', 'duplicate', 'timing', 'balance_drift', 'balance_mismatch',
                'shortfall', 'excess'));

        -- One balance per (day, kind, account, currency): recording it again replaces it (audited).
        CREATE TABLE client_money_resources (
            id bigserial PRIMARY KEY,
            as_of date NOT NULL,
            kind varchar(8) NOT NULL CHECK (kind IN ('bank', 'psp')),
            account varchar(80) NOT NULL CHECK (length(account) BETWEEN 1 AND 80),
            currency varchar(8) NOT NULL,
            balance numeric(28, 8) NOT NULL CHECK (balance >= 0),
            recorded_by bigint REFERENCES users(id),
            recorded_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_client_money_resources UNIQUE (as_of, kind, account, currency)
        );

        -- The sign-off of a run's client-money result: once per run, by a named staff member.
        CREATE TABLE client_money_signoffs (
            run_id bigint PRIMARY KEY REFERENCES reconciliation_runs(id),
            signed_by bigint NOT NULL REFERENCES users(id),
            signed_at timestamptz NOT NULL DEFAULT now(),
            note text CHECK (note IS NULL OR length(note) BETWEEN 1 AND 4000),
            lines jsonb NOT NULL,
            open_breaks integer NOT NULL
        );
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE client_money_signoffs; DROP TABLE client_money_resources; "
        "ALTER TABLE reconciliation_platform_balances DROP COLUMN equity;"
    )
