"""Payments: methods (fees, limits), payments with a status machine, gateway logs, parked
webhooks, withdrawal approvals, chargebacks/refunds, bank statement lines and compliance signals.

Revision ID: 0009_payments
Revises: 0005_ledger, 0008_webhooks
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0009_payments"
down_revision = ("0005_ledger", "0008_webhooks")
branch_labels = None
depends_on = None

STATUSES = "'created', 'pending', 'succeeded', 'failed', 'cancelled', 'refunded', 'charged_back'"


def upgrade() -> None:
    run_sql(
        f"""
        CREATE TABLE payment_methods (
            id bigserial PRIMARY KEY,
            code varchar(32) NOT NULL,
            kind varchar(16) NOT NULL CHECK (kind IN ('card', 'wire', 'crypto', 'local')),
            provider varchar(64) NOT NULL,
            display_name varchar(100) NOT NULL DEFAULT '',
            base_url varchar(300) NOT NULL DEFAULT '',
            currency varchar(8) NOT NULL,
            -- '*' is the default row; a row for a country overrides it.
            country varchar(2) NOT NULL DEFAULT '*',
            min_amount numeric(38, 18) NOT NULL DEFAULT 0,
            max_amount numeric(38, 18) NOT NULL,
            fee_fixed numeric(38, 18) NOT NULL DEFAULT 0,
            fee_percent numeric(9, 6) NOT NULL DEFAULT 0,
            first_deposit_min numeric(38, 18) NOT NULL DEFAULT 0,
            deposits boolean NOT NULL DEFAULT true,
            withdrawals boolean NOT NULL DEFAULT true,
            enabled boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_payment_methods_rule UNIQUE (code, currency, country),
            CONSTRAINT ck_payment_methods_amounts CHECK (min_amount >= 0 AND max_amount >= min_amount
                AND fee_fixed >= 0 AND fee_percent >= 0 AND fee_percent < 100)
        );

        CREATE TABLE payments (
            id bigserial PRIMARY KEY,
            reference varchar(20) NOT NULL UNIQUE,
            user_id bigint NOT NULL REFERENCES users(id),
            direction varchar(12) NOT NULL CHECK (direction IN ('deposit', 'withdrawal')),
            method_code varchar(32) NOT NULL,
            method_kind varchar(16) NOT NULL,
            provider varchar(64) NOT NULL,
            provider_payment_id varchar(200),
            currency varchar(8) NOT NULL,
            amount numeric(38, 18) NOT NULL CHECK (amount > 0),
            fee numeric(38, 18) NOT NULL DEFAULT 0 CHECK (fee >= 0),
            country varchar(2),
            status varchar(16) NOT NULL DEFAULT 'created' CHECK (status IN ({STATUSES})),
            approval varchar(16) CHECK (approval IN ('awaiting', 'approved', 'rejected')),
            redirect_url text,
            hold_id bigint REFERENCES ledger_holds(id),
            entry_id bigint REFERENCES ledger_entries(id),
            payer_name varchar(200),
            card_bin_country varchar(2),
            instrument varchar(100),
            destination jsonb NOT NULL DEFAULT '{{}}',
            failure_reason text,
            correlation_id uuid NOT NULL,
            requested_by bigint REFERENCES users(id),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_payments_provider_id UNIQUE (provider, provider_payment_id)
        );
        CREATE INDEX ix_payments_user ON payments (user_id, created_at DESC, id DESC);
        CREATE INDEX ix_payments_awaiting ON payments (created_at, id) WHERE approval = 'awaiting';

        CREATE TABLE payment_gateway_logs (
            id bigserial PRIMARY KEY,
            payment_id bigint REFERENCES payments(id),
            correlation_id uuid,
            provider varchar(64) NOT NULL,
            direction varchar(8) NOT NULL CHECK (direction IN ('outbound', 'inbound')),
            endpoint varchar(300) NOT NULL,
            status_code integer,
            request jsonb NOT NULL DEFAULT '{{}}',
            response jsonb NOT NULL DEFAULT '{{}}',
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_payment_gateway_logs_correlation ON payment_gateway_logs (correlation_id, id);

        -- Webhooks that named a provider payment we had not stored yet; applied when it appears.
        CREATE TABLE payment_parked_webhooks (
            id bigserial PRIMARY KEY,
            provider varchar(64) NOT NULL,
            provider_payment_id varchar(200) NOT NULL,
            event_id varchar(200) NOT NULL,
            payload jsonb NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            applied_at timestamptz,
            CONSTRAINT uq_payment_parked_webhooks_event UNIQUE (provider, event_id)
        );
        CREATE INDEX ix_payment_parked_open ON payment_parked_webhooks (provider, provider_payment_id)
            WHERE applied_at IS NULL;

        CREATE TABLE payment_approvals (
            payment_id bigint NOT NULL REFERENCES payments(id),
            approver_id bigint NOT NULL REFERENCES users(id),
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (payment_id, approver_id)
        );

        CREATE TABLE payment_disputes (
            id bigserial PRIMARY KEY,
            payment_id bigint NOT NULL REFERENCES payments(id),
            user_id bigint NOT NULL REFERENCES users(id),
            kind varchar(16) NOT NULL CHECK (kind IN ('chargeback', 'refund')),
            case_id varchar(200) NOT NULL,
            amount numeric(38, 18) NOT NULL CHECK (amount > 0),
            currency varchar(8) NOT NULL,
            reason text NOT NULL DEFAULT '',
            entry_id bigint NOT NULL REFERENCES ledger_entries(id),
            negative_balance boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_payment_disputes_case UNIQUE (payment_id, kind, case_id)
        );
        CREATE INDEX ix_payment_disputes_user ON payment_disputes (user_id, created_at DESC);

        CREATE TABLE bank_statement_lines (
            id bigserial PRIMARY KEY,
            account varchar(64) NOT NULL,
            line_ref varchar(200) NOT NULL,
            booked_on date,
            amount numeric(38, 18) NOT NULL,
            currency varchar(8) NOT NULL,
            payer_name varchar(200) NOT NULL DEFAULT '',
            remittance text NOT NULL DEFAULT '',
            reference varchar(20),
            status varchar(16) NOT NULL CHECK (status IN ('matched', 'unmatched', 'amount_mismatch', 'duplicate')),
            payment_id bigint REFERENCES payments(id),
            imported_by bigint REFERENCES users(id),
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_bank_statement_lines_ref UNIQUE (account, line_ref)
        );

        CREATE TABLE payment_signals (
            id bigserial PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES users(id),
            payment_id bigint REFERENCES payments(id),
            kind varchar(40) NOT NULL,
            details jsonb NOT NULL DEFAULT '{{}}',
            reviewed_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX uq_payment_signals_once ON payment_signals (user_id, kind, payment_id) NULLS NOT DISTINCT;
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE payment_signals; DROP TABLE bank_statement_lines; DROP TABLE payment_disputes; "
        "DROP TABLE payment_approvals; DROP TABLE payment_parked_webhooks; DROP TABLE payment_gateway_logs; "
        "DROP TABLE payments; DROP TABLE payment_methods;"
    )
