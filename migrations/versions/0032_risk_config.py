"""Risk configuration through the API: exposure limits per region and book as well as symbol and
asset class; account links declared as the same person.

Revision ID: 0032_risk_config
Revises: 0010_risk
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0032_risk_config"
down_revision = "0010_risk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE risk_limits DROP CONSTRAINT risk_limits_scope_check;
        ALTER TABLE risk_limits ADD CONSTRAINT risk_limits_scope_check
            CHECK (scope IN ('symbol', 'asset_class', 'region', 'book'));
        ALTER TABLE risk_account_links DROP CONSTRAINT risk_account_links_kind_check;
        ALTER TABLE risk_account_links ADD CONSTRAINT risk_account_links_kind_check
            CHECK (kind IN ('ip', 'device', 'payment', 'kyc', 'manual', 'person'));
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DELETE FROM risk_account_links WHERE kind = 'person';
        ALTER TABLE risk_account_links DROP CONSTRAINT risk_account_links_kind_check;
        ALTER TABLE risk_account_links ADD CONSTRAINT risk_account_links_kind_check
            CHECK (kind IN ('ip', 'device', 'payment', 'kyc', 'manual'));
        DELETE FROM risk_limits WHERE scope IN ('region', 'book');
        ALTER TABLE risk_limits DROP CONSTRAINT risk_limits_scope_check;
        ALTER TABLE risk_limits ADD CONSTRAINT risk_limits_scope_check CHECK (scope IN ('symbol', 'asset_class'));
        """
    )
