"""Risk: order requests pulled from the trading servers (filled, rejected, requoted) with their
slippage, requests per account and second (request floods), and the slippage and request counters
of the client metrics.

Revision ID: 0018_risk_requests
Revises: 0017_risk_hedge_pairs
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0018_risk_requests"
down_revision = "0017_risk_hedge_pairs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE risk_order_requests (
            server_id bigint NOT NULL,
            order_id bigint NOT NULL,
            time_ms bigint NOT NULL,
            login bigint NOT NULL,
            account_id bigint,
            symbol varchar(32) NOT NULL,
            side varchar(4) NOT NULL CHECK (side IN ('BUY', 'SELL')),
            volume numeric(20, 8) NOT NULL,
            requested_price numeric(20, 8),
            executed_price numeric(20, 8),
            state varchar(8) NOT NULL CHECK (state IN ('FILLED', 'REJECTED', 'CANCELED', 'OTHER')),
            position_id bigint NOT NULL DEFAULT 0,
            -- Points in the client's favour (negative: against); NULL when a price is unknown.
            slippage_points numeric(14, 2),
            comment varchar(64) NOT NULL DEFAULT '',
            PRIMARY KEY (server_id, order_id)
        );
        CREATE INDEX ix_risk_order_requests_account ON risk_order_requests (account_id, time_ms);

        CREATE TABLE risk_request_cursors (
            server_id bigint PRIMARY KEY,
            time_ms bigint NOT NULL DEFAULT 0,
            order_id bigint NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE risk_request_seconds (
            account_id bigint NOT NULL,
            second bigint NOT NULL,
            requests integer NOT NULL,
            PRIMARY KEY (account_id, second)
        );

        ALTER TABLE risk_account_metrics
            ADD COLUMN requests bigint NOT NULL DEFAULT 0,
            ADD COLUMN rejected_requests bigint NOT NULL DEFAULT 0,
            ADD COLUMN slip_fills bigint NOT NULL DEFAULT 0,
            ADD COLUMN slip_points_sum numeric(24, 2) NOT NULL DEFAULT 0,
            ADD COLUMN slip_favour bigint NOT NULL DEFAULT 0,
            ADD COLUMN slip_against bigint NOT NULL DEFAULT 0;
        """
    )


def downgrade() -> None:
    run_sql(
        """
        ALTER TABLE risk_account_metrics DROP COLUMN requests, DROP COLUMN rejected_requests,
            DROP COLUMN slip_fills, DROP COLUMN slip_points_sum, DROP COLUMN slip_favour, DROP COLUMN slip_against;
        DROP TABLE risk_request_seconds; DROP TABLE risk_request_cursors; DROP TABLE risk_order_requests;
        """
    )
