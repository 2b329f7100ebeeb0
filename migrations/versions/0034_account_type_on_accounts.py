"""The account type a client chose (brokerage_account_types.code) kept on the request and the account,
so clients and staff see "standard" or "raw" on the account, not only the group.

Revision ID: 0034_account_type_on_accounts
Revises: 0030_fx_platforms (client_account_requests from 0006_clients, trading_accounts from 0004_trading)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0034_account_type_on_accounts"
down_revision = "0030_fx_platforms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
        ALTER TABLE client_account_requests ADD COLUMN account_type_code varchar(32);
        ALTER TABLE trading_accounts ADD COLUMN account_type_code varchar(32);
    """)


def downgrade() -> None:
    run_sql("""
        ALTER TABLE trading_accounts DROP COLUMN account_type_code;
        ALTER TABLE client_account_requests DROP COLUMN account_type_code;
    """)
