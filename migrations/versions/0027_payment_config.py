"""Payments configuration through the API: which client statuses may deposit and withdraw, per
jurisdiction ('*' is the default for jurisdictions without a row of their own); payment methods
remember when they were last changed.

Revision ID: 0027_payment_config
Revises: 0006_clients, 0009_payments
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0027_payment_config"
down_revision = ("0006_clients", "0009_payments")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE payment_status_gates (
            -- an ISO 3166 alpha-2 code, or '*' for every jurisdiction without a row of its own
            jurisdiction varchar(2) PRIMARY KEY,
            deposit_statuses varchar(24)[] NOT NULL,
            withdrawal_statuses varchar(24)[] NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        ALTER TABLE payment_methods ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
        """
    )


def downgrade() -> None:
    run_sql("ALTER TABLE payment_methods DROP COLUMN updated_at; DROP TABLE payment_status_gates;")
