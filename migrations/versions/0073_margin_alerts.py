"""Margin alerts (issue 23): the margin level of a client's account, computed from the equity and margin the
trading server reports as deals are ingested, notified to its owner when it falls below the warning level and
below the stop-out level, once per crossing.

- `margin_alert_levels`: the levels per trading server set by staff (percent); absent means the defaults
  (warning 100, stop-out 50, domain/trading/margin_alerts.py).
- `margin_alert_states`: per account, the current crossing `episode` and whether the level is `below` the warning
  level; a recovery above the warning level ends the episode (the next crossing alerts again).
- `margin_alerts`: one row per account, episode and kind: the key that keeps duplicate or concurrent ingestion of
  the same state from notifying twice.

Revision ID: 0073_margin_alerts
Revises: 0072_push (the head)
"""

from __future__ import annotations

from migrations.sql import run_sql

revision = "0073_margin_alerts"
down_revision = "0072_push"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE margin_alert_levels (
            server_id bigint PRIMARY KEY REFERENCES trading_servers (id) ON DELETE CASCADE,
            warning_level numeric(10, 2) NOT NULL,
            stop_out_level numeric(10, 2) NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            CHECK (stop_out_level > 0 AND stop_out_level < warning_level)
        );
        CREATE TABLE margin_alert_states (
            trading_account_id bigint PRIMARY KEY REFERENCES trading_accounts (id) ON DELETE CASCADE,
            episode bigint NOT NULL DEFAULT 0,
            below boolean NOT NULL DEFAULT false,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE margin_alerts (
            trading_account_id bigint NOT NULL REFERENCES trading_accounts (id) ON DELETE CASCADE,
            episode bigint NOT NULL,
            kind varchar(16) NOT NULL CHECK (kind IN ('warning', 'stop_out')),
            margin_level numeric(20, 2) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (trading_account_id, episode, kind)
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE margin_alerts; DROP TABLE margin_alert_states; DROP TABLE margin_alert_levels;")
