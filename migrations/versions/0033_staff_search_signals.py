"""Staff client search (trigram indexes) and the review of suspicious-transaction signals.

Search: pg_trgm GIN indexes on what staff type (a client's name, the account's e-mail, the phone
as digits), so `LIKE '%...%'` on any of them is an index scan at any number of clients; without
fastupdate, so a search never reads through a list of pending entries (clients are written far
less often than searched); and trading logins on their own (the unique key leads with the server). pg_trgm is
a trusted extension: the owner running migrations may create it; the runtime role creates nothing
and only calls its functions and operators.

Signals: a review state (open -> escalated -> dismissed / confirmed), who reviewed and why.

Revision ID: 0033_staff_search_signals
Revises: 0009_payments, 0006_clients (and so 0004_trading)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0033_staff_search_signals"
down_revision = ("0009_payments", "0006_clients")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        r"""
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX ix_clients_name_trgm ON clients
            USING gin (lower(first_name || ' ' || last_name) gin_trgm_ops) WITH (fastupdate = off);
        CREATE INDEX ix_clients_phone_trgm ON clients
            USING gin (regexp_replace(coalesce(profile->>'phone', ''), '[^0-9]', '', 'g') gin_trgm_ops)
            WITH (fastupdate = off);
        CREATE INDEX ix_users_email_trgm ON users USING gin (email_normalized gin_trgm_ops) WITH (fastupdate = off);
        CREATE INDEX ix_trading_accounts_login ON trading_accounts (login);

        ALTER TABLE payment_signals
            ADD COLUMN status varchar(16) NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'escalated', 'dismissed', 'confirmed')),
            ADD COLUMN reviewed_by bigint REFERENCES users(id),
            ADD COLUMN review_note text;
        CREATE INDEX ix_payment_signals_newest ON payment_signals (created_at, id);
        CREATE INDEX ix_payment_signals_status ON payment_signals (status, created_at, id);
        CREATE INDEX ix_payment_signals_user ON payment_signals (user_id, created_at, id);
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP INDEX ix_payment_signals_user; DROP INDEX ix_payment_signals_status; DROP INDEX ix_payment_signals_newest;
        ALTER TABLE payment_signals DROP COLUMN review_note, DROP COLUMN reviewed_by, DROP COLUMN status;
        DROP INDEX ix_trading_accounts_login; DROP INDEX ix_users_email_trgm; DROP INDEX ix_clients_phone_trgm; DROP INDEX ix_clients_name_trgm;
        """
    )
