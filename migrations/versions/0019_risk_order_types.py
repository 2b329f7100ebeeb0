"""Risk: the kind of each pulled order (market, limit, stop...) and when a pending order ended, so the
news detector can find pending-order straddles placed just before a release.

Rows stored before this revision were all market requests: the defaults describe them.

Revision ID: 0019_risk_order_types
Revises: 0018_risk_requests
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0019_risk_order_types"
down_revision = "0018_risk_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE risk_order_requests
            ADD COLUMN order_kind varchar(10) NOT NULL DEFAULT 'MARKET'
                CHECK (order_kind IN ('MARKET', 'LIMIT', 'STOP', 'STOP_LIMIT', 'OTHER')),
            -- When a pending order was filled, cancelled or rejected (time_ms is when it was placed).
            ADD COLUMN done_ms bigint;
        -- Straddle search: an account's stop orders by placement time.
        CREATE INDEX ix_risk_order_requests_stops ON risk_order_requests (account_id, time_ms)
            WHERE order_kind = 'STOP';
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP INDEX ix_risk_order_requests_stops;
        ALTER TABLE risk_order_requests DROP COLUMN order_kind, DROP COLUMN done_ms;
        """
    )
