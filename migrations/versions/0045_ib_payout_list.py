"""The back office's list of every IB payout, newest first, optionally one status (`ibPayouts`): a keyset
page walks (created_at, id), with the status in front for the filtered list, instead of sorting the
whole table; one IB's payouts keep ix_ib_payouts_ib_created (0036).

Revision ID: 0045_ib_payout_list
Revises: 0041_aml (and so 0007_ib)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0045_ib_payout_list"
down_revision = ("0041_aml", "0007_ib")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE INDEX ix_ib_payouts_created ON ib_payouts (created_at, id);
        CREATE INDEX ix_ib_payouts_status_created ON ib_payouts (status, created_at, id);
        """
    )


def downgrade() -> None:
    run_sql("DROP INDEX ix_ib_payouts_status_created; DROP INDEX ix_ib_payouts_created;")
