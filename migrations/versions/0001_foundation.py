"""Foundation: transactional outbox and announcements.

Revision ID: 0001_foundation
Revises:
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE outbox (
            id bigserial PRIMARY KEY,
            topic varchar(120) NOT NULL,
            payload jsonb NOT NULL,
            job varchar(120),
            created_at timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz,
            attempts integer NOT NULL DEFAULT 0
        );
        CREATE INDEX ix_outbox_pending ON outbox (id) WHERE published_at IS NULL;
        CREATE INDEX ix_outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;
        -- Consumers that sweep for events they may have missed look them up by topic.
        CREATE INDEX ix_outbox_topic ON outbox (topic, id);
        -- No NOTIFY trigger: PostgreSQL serialises the commits of all notifying transactions, which
        -- would cap money movements at one commit flush at a time. The relay polls the partial index.

        CREATE TABLE announcements (
            id bigserial PRIMARY KEY,
            title varchar(120) NOT NULL,
            body text NOT NULL,
            severity varchar(16) NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
            posted_by varchar(80) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_announcements_created ON announcements (created_at DESC, id DESC);
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE announcements; DROP TABLE outbox;"
    )
