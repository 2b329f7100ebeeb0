"""Risk: matched hedge pairs kept incrementally (one row per direction), so the hedging detector
reads the pairs of the accounts a batch touched instead of self-joining their whole trade log.

`risk_hedge_params` holds the matching window and size tolerance the pairs were built with; a
change of those thresholds rebuilds the pairs (domain/risk/hedging.py). The trade log and the
metrics leave room on their pages for in-place (HOT) updates.

Revision ID: 0017_risk_hedge_pairs
Revises: 0010_risk
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0017_risk_hedge_pairs"
down_revision = "0010_risk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE risk_hedge_pairs (
            server_id bigint NOT NULL,
            position_id bigint NOT NULL,
            other_position bigint NOT NULL,
            account_id bigint NOT NULL,
            other_account bigint NOT NULL,
            symbol varchar(32) NOT NULL,
            open_ms bigint NOT NULL,
            open_deal bigint,
            other_deal bigint,
            PRIMARY KEY (server_id, position_id, other_position)
        );
        CREATE INDEX ix_risk_hedge_pairs_account ON risk_hedge_pairs (account_id, other_account);

        CREATE TABLE risk_hedge_params (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            window_ms numeric NOT NULL,
            size_tolerance numeric NOT NULL
        );

        -- Every batch updates trade-log and metrics rows in place: room on each page keeps those
        -- updates HOT (no index maintenance).
        ALTER TABLE risk_trades SET (fillfactor = 80);
        ALTER TABLE risk_account_metrics SET (fillfactor = 70);
        """
    )


def downgrade() -> None:
    run_sql(
        "ALTER TABLE risk_trades RESET (fillfactor); ALTER TABLE risk_account_metrics RESET (fillfactor); "
        "DROP TABLE risk_hedge_params; DROP TABLE risk_hedge_pairs;"
    )
