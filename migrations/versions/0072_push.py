"""Mobile and web push (issue 23): devices, the delivery log and notification preferences.

- `push_devices`: a user's app installs (platform, provider token, app version, language). A token is one app
  install, so it is unique: registering it again updates the row, and a token registered by another user moves to
  them (the phone changed hands). `session_id` is the sign-in it was registered with; the trigger below removes
  the device when that session is revoked (sign-out, reuse detection, password reset), whatever the path.
- `push_deliveries`: one row per event and device (the idempotency key: nothing is sent twice for one event), with
  the provider's answer, status and attempts. `device_id` carries no foreign key: the log outlives a dead token.
- `notification_preferences`: a user's choice per event kind and channel; absent means the kind's default (on).

Revision ID: 0072_push
Revises: 0071_notifications (the head)
"""

from __future__ import annotations

from migrations.sql import run_sql

revision = "0072_push"
down_revision = "0071_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE push_devices (
            id bigserial PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            session_id bigint REFERENCES auth_sessions (id) ON DELETE SET NULL,
            platform varchar(8) NOT NULL CHECK (platform IN ('android', 'ios', 'web')),
            token varchar(4096) NOT NULL UNIQUE,
            app_version varchar(32) NOT NULL DEFAULT '',
            language varchar(16) NOT NULL DEFAULT 'en',
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX push_devices_user ON push_devices (user_id, id);
        CREATE INDEX push_devices_session ON push_devices (session_id) WHERE session_id IS NOT NULL;

        CREATE FUNCTION push_devices_session_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM push_devices WHERE session_id = NEW.id;
            RETURN NULL;
        END $$;
        CREATE TRIGGER push_devices_session_revoked AFTER UPDATE OF revoked_at ON auth_sessions
            FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
            EXECUTE FUNCTION push_devices_session_revoked();

        CREATE TABLE push_deliveries (
            id bigserial PRIMARY KEY,
            event_id bigint NOT NULL,
            device_id bigint NOT NULL,
            user_id bigint NOT NULL,
            provider varchar(8) NOT NULL,
            kind varchar(64) NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'pending',
            attempts int NOT NULL DEFAULT 0,
            provider_status int,
            provider_answer varchar(500),
            provider_message_id varchar(200),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (event_id, device_id)
        );
        CREATE INDEX push_deliveries_user ON push_deliveries (user_id, id);

        CREATE TABLE notification_preferences (
            user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            kind varchar(64) NOT NULL,
            channel varchar(8) NOT NULL CHECK (channel IN ('push', 'email', 'in_app')),
            enabled boolean NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (user_id, kind, channel)
        );
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP TRIGGER push_devices_session_revoked ON auth_sessions;
        DROP FUNCTION push_devices_session_revoked();
        DROP TABLE notification_preferences;
        DROP TABLE push_deliveries;
        DROP TABLE push_devices;
        """
    )
