"""Payments, more: crypto deposit addresses and chain transactions (credited after the configured
confirmations, once per transaction and address), and four-eyes staff balance adjustments.

Revision ID: 0015_payments_more
Revises: 0009_payments
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0015_payments_more"
down_revision = "0009_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE crypto_deposit_addresses (
            id bigserial PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES users(id),
            asset varchar(8) NOT NULL,
            provider varchar(64) NOT NULL,
            address varchar(200) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_crypto_deposit_addresses_client UNIQUE (user_id, asset, provider),
            CONSTRAINT uq_crypto_deposit_addresses_address UNIQUE (provider, asset, address)
        );

        -- One row per chain transaction output to one of our addresses; the payment it became.
        CREATE TABLE crypto_transactions (
            id bigserial PRIMARY KEY,
            provider varchar(64) NOT NULL,
            asset varchar(8) NOT NULL,
            txid varchar(200) NOT NULL,
            address varchar(200) NOT NULL,
            amount numeric(38, 18) NOT NULL CHECK (amount > 0),
            confirmations integer NOT NULL DEFAULT 0 CHECK (confirmations >= 0),
            dropped_at timestamptz,
            payment_id bigint NOT NULL UNIQUE REFERENCES payments(id),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_crypto_transactions_tx UNIQUE (provider, asset, txid, address)
        );

        CREATE TABLE balance_adjustment_requests (
            id bigserial PRIMARY KEY,
            wallet_id bigint NOT NULL REFERENCES ledger_accounts(id),
            amount numeric(28, 8) NOT NULL CHECK (amount <> 0),
            currency varchar(8) NOT NULL,
            reason text NOT NULL,
            allow_negative boolean NOT NULL DEFAULT false,
            idempotency_key varchar(200) NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
            requested_by bigint NOT NULL REFERENCES users(id),
            decided_by bigint REFERENCES users(id),
            decision_reason text,
            entry_id bigint REFERENCES ledger_entries(id),
            created_at timestamptz NOT NULL DEFAULT now(),
            decided_at timestamptz,
            CONSTRAINT uq_balance_adjustment_requests_key UNIQUE (requested_by, idempotency_key)
        );
        CREATE INDEX ix_balance_adjustment_requests_pending ON balance_adjustment_requests (created_at, id)
            WHERE status = 'pending';
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE balance_adjustment_requests; DROP TABLE crypto_transactions; "
            "DROP TABLE crypto_deposit_addresses;")
