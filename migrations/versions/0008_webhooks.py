"""Inbound webhook deliveries, deduplicated by (provider, event id).

Revision ID: 0008_webhooks
Revises: 0001_foundation
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0008_webhooks"
down_revision = "0001_foundation"
branch_labels = ("webhooks",)
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE webhook_events (
            id bigserial PRIMARY KEY,
            provider varchar(64) NOT NULL,
            event_id varchar(200) NOT NULL,
            payload jsonb NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_webhook_events UNIQUE (provider, event_id)
        );
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE webhook_events;")
