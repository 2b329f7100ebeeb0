"""In-app notifications kept per user with their read state (issue 18): until now they were only pushed (the
`notifications` subscription), so "read" lived in one browser tab.

- `notifications`: the user's, newest first by (created_at, id); `read_at` set once, by the owner. The partial
  index serves the unread count and the unread list.

Revision ID: 0071_notifications
Revises: 0065_report_schedules (the head), 0002_identity
"""

from __future__ import annotations

from migrations.sql import run_sql

revision = "0071_notifications"
down_revision = "0065_report_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE notifications (
            id bigserial PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES users (id),
            kind varchar(64) NOT NULL,
            message text NOT NULL,
            details jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            read_at timestamptz
        );
        CREATE INDEX notifications_user_created ON notifications (user_id, created_at DESC, id DESC);
        CREATE INDEX notifications_user_unread ON notifications (user_id) WHERE read_at IS NULL;
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE notifications;")
