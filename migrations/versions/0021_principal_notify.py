"""Identity: NOTIFY principal_changed when what a session may do changes.

The API keeps each session's principal in memory between requests
(domain/identity/principal_cache.py) and forgets it on these notifications, sent at commit: the
user id when a session is revoked, stepped up or deleted, when a user's status, staff/IB flags,
second factor or desk change, or their roles do; "*" (everyone) when a role's permissions change
or any of these tables is truncated.

Revision ID: 0021_principal_notify
Revises: 0020_ledger_posting_checks
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0021_principal_notify"
down_revision = "0020_ledger_posting_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE FUNCTION notify_principal_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            old_uid text;
            new_uid text;
        BEGIN
            -- TG_ARGV[0]: the column holding the user id; none for "everyone"
            IF TG_LEVEL = 'STATEMENT' OR TG_NARGS = 0 THEN
                PERFORM pg_notify('principal_changed', '*');
                RETURN NULL;
            END IF;
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                old_uid := to_jsonb(OLD) ->> TG_ARGV[0];
                PERFORM pg_notify('principal_changed', old_uid);
            END IF;
            IF TG_OP IN ('UPDATE', 'INSERT') THEN
                new_uid := to_jsonb(NEW) ->> TG_ARGV[0];
                IF new_uid IS DISTINCT FROM old_uid THEN
                    PERFORM pg_notify('principal_changed', new_uid);
                END IF;
            END IF;
            RETURN NULL;
        END $$;

        CREATE TRIGGER auth_sessions_principal_changed AFTER UPDATE ON auth_sessions FOR EACH ROW
            WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.stepped_up_at IS DISTINCT FROM NEW.stepped_up_at
                  OR OLD.user_id <> NEW.user_id)
            EXECUTE FUNCTION notify_principal_changed('user_id');
        CREATE TRIGGER auth_sessions_principal_deleted AFTER DELETE ON auth_sessions FOR EACH ROW
            EXECUTE FUNCTION notify_principal_changed('user_id');
        CREATE TRIGGER auth_sessions_principal_truncated AFTER TRUNCATE ON auth_sessions FOR EACH STATEMENT
            EXECUTE FUNCTION notify_principal_changed();

        CREATE TRIGGER users_principal_changed AFTER UPDATE ON users FOR EACH ROW
            WHEN ((OLD.status, OLD.is_staff, OLD.is_ib, OLD.totp_enabled_at, OLD.desk)
                  IS DISTINCT FROM (NEW.status, NEW.is_staff, NEW.is_ib, NEW.totp_enabled_at, NEW.desk))
            EXECUTE FUNCTION notify_principal_changed('id');
        CREATE TRIGGER users_principal_deleted AFTER DELETE ON users FOR EACH ROW
            EXECUTE FUNCTION notify_principal_changed('id');
        CREATE TRIGGER users_principal_truncated AFTER TRUNCATE ON users FOR EACH STATEMENT
            EXECUTE FUNCTION notify_principal_changed();

        CREATE TRIGGER user_roles_principal_changed AFTER INSERT OR UPDATE OR DELETE ON user_roles FOR EACH ROW
            EXECUTE FUNCTION notify_principal_changed('user_id');
        CREATE TRIGGER user_roles_principal_truncated AFTER TRUNCATE ON user_roles FOR EACH STATEMENT
            EXECUTE FUNCTION notify_principal_changed();

        CREATE TRIGGER roles_principal_changed AFTER UPDATE OR DELETE OR TRUNCATE ON roles FOR EACH STATEMENT
            EXECUTE FUNCTION notify_principal_changed();
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP TRIGGER roles_principal_changed ON roles;
        DROP TRIGGER user_roles_principal_truncated ON user_roles;
        DROP TRIGGER user_roles_principal_changed ON user_roles;
        DROP TRIGGER users_principal_truncated ON users;
        DROP TRIGGER users_principal_deleted ON users;
        DROP TRIGGER users_principal_changed ON users;
        DROP TRIGGER auth_sessions_principal_truncated ON auth_sessions;
        DROP TRIGGER auth_sessions_principal_deleted ON auth_sessions;
        DROP TRIGGER auth_sessions_principal_changed ON auth_sessions;
        DROP FUNCTION notify_principal_changed();
        """
    )
