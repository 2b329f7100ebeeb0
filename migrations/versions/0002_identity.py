"""Identity: users, staff roles and permissions, sessions with refresh-token families, API tokens, 2FA.

Revision ID: 0002_identity
Revises: 0001_foundation
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0002_identity"
down_revision = "0001_foundation"
branch_labels = ("identity",)
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE users (
            id bigserial PRIMARY KEY,
            email varchar(254) NOT NULL,
            email_normalized varchar(254) NOT NULL,
            email_verified_at timestamptz,
            password_hash text,
            is_client boolean NOT NULL DEFAULT false,
            is_ib boolean NOT NULL DEFAULT false,
            is_staff boolean NOT NULL DEFAULT false,
            status varchar(24) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'locked', 'disabled')),
            display_name varchar(200) NOT NULL DEFAULT '',
            -- Sales staff may be scoped to a desk/region; NULL means unrestricted.
            desk varchar(64),
            totp_secret_enc text,
            totp_enabled_at timestamptz,
            totp_last_step bigint,
            password_changed_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_users_email UNIQUE (email_normalized)
        );

        CREATE TABLE roles (
            id bigserial PRIMARY KEY,
            name varchar(64) NOT NULL UNIQUE,
            description text NOT NULL DEFAULT '',
            builtin boolean NOT NULL DEFAULT false,
            permissions text[] NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE user_roles (
            user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            role_id bigint NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
            granted_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (user_id, role_id)
        );
        CREATE INDEX ix_user_roles_role ON user_roles (role_id);

        -- One row per signed-in device; its refresh tokens form one family.
        CREATE TABLE auth_sessions (
            id bigserial PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            device varchar(200) NOT NULL DEFAULT '',
            ip inet,
            created_at timestamptz NOT NULL DEFAULT now(),
            last_seen_at timestamptz NOT NULL DEFAULT now(),
            stepped_up_at timestamptz,
            revoked_at timestamptz,
            revoked_reason varchar(64)
        );
        CREATE INDEX ix_auth_sessions_user ON auth_sessions (user_id) WHERE revoked_at IS NULL;

        CREATE TABLE refresh_tokens (
            id bigserial PRIMARY KEY,
            session_id bigint NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,
            token_hash bytea NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz
        );
        CREATE INDEX ix_refresh_tokens_session ON refresh_tokens (session_id);

        CREATE TABLE api_tokens (
            id bigserial PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_by bigint REFERENCES users(id),
            name varchar(120) NOT NULL,
            token_hash bytea NOT NULL UNIQUE,
            last_four char(4) NOT NULL,
            scopes text[] NOT NULL,
            expires_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz,
            revoked_at timestamptz
        );
        CREATE INDEX ix_api_tokens_user ON api_tokens (user_id);

        CREATE TABLE totp_recovery_codes (
            id bigserial PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            code_hash bytea NOT NULL,
            used_at timestamptz
        );
        CREATE INDEX ix_totp_recovery_user ON totp_recovery_codes (user_id);

        -- Single-use signed links (password reset, email change, email verification).
        CREATE TABLE one_time_tokens (
            id bigserial PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            purpose varchar(32) NOT NULL,
            token_hash bytea NOT NULL UNIQUE,
            payload jsonb NOT NULL DEFAULT '{}',
            expires_at timestamptz NOT NULL,
            used_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE one_time_tokens; DROP TABLE totp_recovery_codes; DROP TABLE api_tokens; "
        "DROP TABLE refresh_tokens; DROP TABLE auth_sessions; DROP TABLE user_roles; DROP TABLE roles; "
        "DROP TABLE users;"
    )
