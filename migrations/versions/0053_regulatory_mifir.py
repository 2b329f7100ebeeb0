"""MiFIR transaction reports (auth.016.001.01) beside EMIR: which instruments are reportable, their
underlying's ISIN, one row per reported transaction with what the regulator's feedback (auth.031) said of it.

- trading_instruments.mifir_reportable: staff's choice; NULL means derived from the asset class (CFDs on
  shares and indices are reportable, on forex not: domain/regulatory/mifir/build.py).
- trading_instruments.underlying_isin: the ISIN of the share or index the CFD is on, when known.
- regulatory_report_files.regime: 'emir' or 'mifir' (one table of files, one supersede rule).
- regulatory_mifir_transactions: one row per transaction report in a file (its TxId, the deal). The feedback
  sets status accepted/rejected and error codes; a correction (a new file) sets corrected_by on the rejected
  rows it resubmits: the row and its file stay as they were.

Revision ID: 0053_regulatory_mifir
Revises: 0051_regulatory_emir (its files), 0052_regulator_records (the other head), 0004_trading (instruments)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0053_regulatory_mifir"
down_revision = ("0051_regulatory_emir", "0052_regulator_records")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE trading_instruments ADD COLUMN mifir_reportable boolean,
            ADD COLUMN underlying_isin char(12) CHECK (underlying_isin ~ '^[A-Z]{2}[A-Z0-9]{9}[0-9]$');

        ALTER TABLE regulatory_report_files DROP CONSTRAINT regulatory_report_files_regime_check;
        ALTER TABLE regulatory_report_files ADD CONSTRAINT regulatory_report_files_regime_check
            CHECK (regime IN ('emir', 'mifir'));

        CREATE TABLE regulatory_mifir_transactions (
            file_id bigint NOT NULL REFERENCES regulatory_report_files(id),
            seq integer NOT NULL,
            tx_ref varchar(52) NOT NULL,
            server_id bigint NOT NULL,
            deal_id bigint NOT NULL,
            business_date date NOT NULL,
            status varchar(10) NOT NULL DEFAULT 'built' CHECK (status IN ('built', 'accepted', 'rejected')),
            error_codes text[] NOT NULL DEFAULT '{}',
            feedback_at timestamptz,
            corrected_by bigint REFERENCES regulatory_report_files(id),
            PRIMARY KEY (file_id, seq)
        );
        CREATE INDEX ix_regulatory_mifir_transactions_ref ON regulatory_mifir_transactions (tx_ref, file_id);
        CREATE INDEX ix_regulatory_mifir_transactions_day ON regulatory_mifir_transactions (business_date, status);
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE regulatory_mifir_transactions; "
            "ALTER TABLE regulatory_report_files DROP CONSTRAINT regulatory_report_files_regime_check; "
            "ALTER TABLE regulatory_report_files ADD CONSTRAINT regulatory_report_files_regime_check "
            "CHECK (regime IN ('emir')); "
            "ALTER TABLE trading_instruments DROP COLUMN underlying_isin, DROP COLUMN mifir_reportable;")
