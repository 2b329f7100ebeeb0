"""Transaction monitoring beyond payments (domain/compliance/aml): decisions on transfers, exchanges,
trade batches, profile changes, sign-ins from a new country and the schedule.

- aml_decisions.subject: what a decision is about ("payment:7", "transfer:12", "deal_batch:<uuid>:<user>",
  "schedule:2026-12-04"); a held transfer's decisions are found by it.
- ledger_transfers: a transfer to a trading account that monitoring holds is `held` (its wallet hold
  kept, the platform not called, recovery leaves it alone) until a case releases or declines it.
- auth_sessions.country: the country a sign-in came from (the trusted proxy's country header), so a
  sign-in from a country the client has not signed in from before can be told.
- Indexes the sharing and mirror-trading aggregates read: other clients' sessions by IP and device,
  payments by instrument and payer, opening deals by symbol and time.

Revision ID: 0044_aml_triggers
Revises: 0041_aml
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0044_aml_triggers"
down_revision = ("0041_aml", "0009_payments")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE aml_decisions ADD COLUMN subject varchar(120);
        UPDATE aml_decisions SET subject = 'payment:' || payment_id WHERE payment_id IS NOT NULL;
        CREATE INDEX ix_aml_decisions_subject ON aml_decisions (subject);

        ALTER TABLE ledger_transfers DROP CONSTRAINT IF EXISTS ledger_transfers_status_check;
        ALTER TABLE ledger_transfers ADD CONSTRAINT ledger_transfers_status_check
            CHECK (status IN ('pending', 'unknown', 'done', 'failed', 'held'));

        ALTER TABLE auth_sessions ADD COLUMN country varchar(2);
        CREATE INDEX ix_auth_sessions_user_country ON auth_sessions (user_id, country) WHERE country IS NOT NULL;

        CREATE INDEX ix_auth_sessions_ip ON auth_sessions (ip, created_at) WHERE ip IS NOT NULL;
        CREATE INDEX ix_auth_sessions_device ON auth_sessions (device, created_at) WHERE device <> '';
        CREATE INDEX ix_payments_instrument ON payments (instrument, created_at) WHERE instrument IS NOT NULL;
        CREATE INDEX ix_payments_payer ON payments (payer_name, created_at) WHERE payer_name IS NOT NULL;
        CREATE INDEX ix_trading_deals_opening ON trading_deals (symbol, time) WHERE entry = 0;
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP INDEX ix_trading_deals_opening; DROP INDEX ix_payments_payer; DROP INDEX ix_payments_instrument;
        DROP INDEX ix_auth_sessions_device; DROP INDEX ix_auth_sessions_ip; DROP INDEX ix_auth_sessions_user_country;
        ALTER TABLE auth_sessions DROP COLUMN country;
        UPDATE ledger_transfers SET status = 'pending' WHERE status = 'held';
        ALTER TABLE ledger_transfers DROP CONSTRAINT ledger_transfers_status_check;
        ALTER TABLE ledger_transfers ADD CONSTRAINT ledger_transfers_status_check
            CHECK (status IN ('pending', 'unknown', 'done', 'failed'));
        DROP INDEX ix_aml_decisions_subject; ALTER TABLE aml_decisions DROP COLUMN subject;
        """
    )
