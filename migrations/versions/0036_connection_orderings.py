"""Indexes for the lists that became Relay connections (issue #17): each list's filter followed by its
sort key, so a keyset page (first/after or last/before) is an index walk that stops after the page,
however long the list grows. Lists of one user's few rows (applications, tokens, payment disputes)
ride the user index they already had; the review queue rides ix_clients_status and pending screening
hits ix_screening_results_pending.

ix_trading_positions_login gains the position id (the positions list's order) in place.

Revision ID: 0036_connection_orderings
Revises: 0002_identity, 0004_trading, 0006_clients, 0010_risk, 0016_ib_more (and so 0007_ib)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0036_connection_orderings"
down_revision = ("0002_identity", "0004_trading", "0006_clients", "0010_risk", "0016_ib_more")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE INDEX ix_users_staff_created ON users (created_at, id) WHERE is_staff;
        CREATE INDEX ix_auth_sessions_user_created ON auth_sessions (user_id, created_at, id)
            WHERE revoked_at IS NULL;
        CREATE INDEX ix_trading_accounts_user_created ON trading_accounts (user_id, created_at, id)
            WHERE user_id IS NOT NULL;
        DROP INDEX ix_trading_positions_login;
        CREATE INDEX ix_trading_positions_login ON trading_positions (server_id, login, position_id);
        CREATE INDEX ix_screening_results_status ON screening_results (status, created_at, id);
        CREATE INDEX ix_client_communications_client_created ON client_communications (client_id, created_at, id);
        CREATE INDEX ix_risk_alerts_opened ON risk_alerts (opened_at, id);
        CREATE INDEX ix_risk_account_links_created ON risk_account_links (created_at, account_a, account_b, kind);
        CREATE INDEX ix_ib_payouts_ib_created ON ib_payouts (ib_id, created_at, id);
        CREATE INDEX ix_ib_referral_links_ib_created ON ib_referral_links (ib_id, created_at, id);
        CREATE INDEX ix_ib_disputes_created ON ib_disputes (created_at, id);
        CREATE INDEX ix_ib_disputes_ib_created ON ib_disputes (ib_id, created_at, id);
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP INDEX ix_ib_disputes_ib_created;
        DROP INDEX ix_ib_disputes_created;
        DROP INDEX ix_ib_referral_links_ib_created;
        DROP INDEX ix_ib_payouts_ib_created;
        DROP INDEX ix_risk_account_links_created;
        DROP INDEX ix_risk_alerts_opened;
        DROP INDEX ix_client_communications_client_created;
        DROP INDEX ix_screening_results_status;
        DROP INDEX ix_trading_positions_login;
        CREATE INDEX ix_trading_positions_login ON trading_positions (server_id, login);
        DROP INDEX ix_trading_accounts_user_created;
        DROP INDEX ix_auth_sessions_user_created;
        DROP INDEX ix_users_staff_created;
        """
    )
