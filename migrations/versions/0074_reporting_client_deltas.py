"""The per-client deal rollup off the batch apply: the batch statement appends its per client x day sums to
`reporting_client_deltas` (a plain insert, no index, no conflict check) and the reporting sweep folds them into
`reporting_client_daily` in one upsert, deleting them in the same statement (exactly once: a row is deleted
by one transaction only; a failed sweep rolls back and leaves it).

Revision ID: 0074_reporting_client_deltas
Revises: 0072_push
"""

from __future__ import annotations

from migrations.sql import run_sql

revision = "0074_reporting_client_deltas"
down_revision = "0072_push"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE reporting_client_deltas (
            user_id bigint NOT NULL,
            day date NOT NULL,
            deals bigint NOT NULL,
            volume_lots numeric(38, 8) NOT NULL,
            net_revenue_usd numeric NOT NULL
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE reporting_client_deltas;")
