"""The bank account a wire payment method's deposits are paid into, one per method rule
(domain/payments/bank_details.py); shown to a client with a wire deposit's reference.

Revision ID: 0046_wire_bank_details
Revises: 0041_aml (and so the payment methods of 0005_payments)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0046_wire_bank_details"
down_revision = ("0041_aml", "0009_payments")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE payment_method_bank_details (
            method_id bigint PRIMARY KEY REFERENCES payment_methods(id),
            iban varchar(34) NOT NULL,
            bic varchar(11) NOT NULL,
            beneficiary_name varchar(140) NOT NULL,
            beneficiary_address varchar(300) NOT NULL,
            bank_name varchar(140) NOT NULL,
            updated_by bigint REFERENCES users(id),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE payment_method_bank_details;")
