"""EMIR: the position's last reported volume skips its daily valuations by index. The "volume before the day"
look-up reads a position's latest non-VALU line; with `action` outside ix_regulatory_report_lines_position it
read back over every daily VALU line first (60 days of valuations: 15 -> 75 buffers per position), a cost
growing with how long positions stay open. A partial index without the VALU lines keeps it one probe.

Revision ID: 0075_emir_trade_lines
Revises: 0067_emir_valuations
"""

from __future__ import annotations

from migrations.sql import run_sql

revision = "0075_emir_trade_lines"
down_revision = "0067_emir_valuations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE INDEX ix_regulatory_report_lines_position_trades
            ON regulatory_report_lines (server_id, position_id, business_date)
            WHERE action <> 'VALU';
        """
    )


def downgrade() -> None:
    run_sql("DROP INDEX ix_regulatory_report_lines_position_trades;")
