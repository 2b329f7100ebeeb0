"""The staff payments list (`payments`): every client's payments newest first, optionally of some
statuses. Until now payments were read by owner (ix_payments_user) or awaiting approval only; these two
indexes serve the staff list's walk, unfiltered and by status, without sorting the table.

Revision ID: 0039_staff_payment_list
Revises: 0038_client_search_text
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0039_staff_payment_list"
down_revision = "0038_client_search_text"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE INDEX ix_payments_created ON payments (created_at DESC, id DESC);
        CREATE INDEX ix_payments_status_created ON payments (status, created_at DESC, id DESC);
        """
    )


def downgrade() -> None:
    run_sql("DROP INDEX ix_payments_status_created; DROP INDEX ix_payments_created;")
