"""Indexes for the staff client list (domain/clients/lists.py): newest first, by country, and a
desk's clients by status, each ending in (created_at, id) so a page and the next one (keyset) are an
index walk that stops after the page at any number of clients. By status and by desk alone were
indexed with the table (0006); name and e-mail text by the trigram indexes of 0033.

A finer histogram for the e-mail and the indexed name: `LIKE '%text%'` is estimated from the share of
histogram entries that match, and at the default 100 entries any text rarer than 1% reads as 0.01%
of rows, so the planner fetched 10,000 users one by one where walking the newest clients (or the
page's few filtered clients) was 20 times cheaper.

Revision ID: 0037_client_lists
Revises: 0033_staff_search_signals
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0037_client_lists"
down_revision = "0033_staff_search_signals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE INDEX ix_clients_newest ON clients (created_at, id);
        CREATE INDEX ix_clients_country ON clients (country, created_at, id);
        CREATE INDEX ix_clients_desk_status ON clients (desk, status, created_at, id);
        ALTER TABLE users ALTER COLUMN email_normalized SET STATISTICS 1000;
        ALTER INDEX ix_clients_name_trgm ALTER COLUMN 1 SET STATISTICS 1000;
        """
    )


def downgrade() -> None:
    run_sql("ALTER INDEX ix_clients_name_trgm ALTER COLUMN 1 SET STATISTICS -1; "
            "ALTER TABLE users ALTER COLUMN email_normalized SET STATISTICS -1; "
            "DROP INDEX ix_clients_desk_status; DROP INDEX ix_clients_country; DROP INDEX ix_clients_newest;")
