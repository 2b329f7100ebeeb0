"""Four eyes by two people: staff provenance, staff change requests, solo-approved amounts.

- staff_provenance: who created a staff user, granted them a role or approved either (append-only);
  an approver related to the initiator this way is not a second pair of eyes.
- staff_change_requests: creating a staff user and granting privileged permissions wait here for a
  second staff member with staff.manage.
- four_eyes_solo: amounts that moved on one person's say (adjustments posted without a second
  approver, withdrawals released by one approver); thresholds are checked against their sum over a
  rolling window per initiator and per client, not per request.

Revision ID: 0024_four_eyes
Revises: 0021_principal_notify
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0024_four_eyes"
down_revision = "0021_principal_notify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        -- A staff user created by one person waits for a second before it can sign in.
        ALTER TABLE users DROP CONSTRAINT users_status_check;
        ALTER TABLE users ADD CONSTRAINT users_status_check
            CHECK (status IN ('active', 'locked', 'disabled', 'pending_approval'));

        CREATE TABLE staff_provenance (
            id bigserial PRIMARY KEY,
            subject_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            actor_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            kind text NOT NULL CHECK (kind IN ('created', 'granted', 'approved')),
            role text,
            request_id bigint,
            created_at timestamptz NOT NULL DEFAULT now(),
            CHECK (subject_id <> actor_id)
        );
        CREATE INDEX ix_staff_provenance_subject ON staff_provenance (subject_id, actor_id);
        CREATE INDEX ix_staff_provenance_actor ON staff_provenance (actor_id, subject_id);

        CREATE TABLE staff_change_requests (
            id bigserial PRIMARY KEY,
            kind text NOT NULL CHECK (kind IN ('create_staff', 'grant_role', 'set_role_permissions')),
            target_user_id bigint REFERENCES users(id) ON DELETE CASCADE,
            role_id bigint REFERENCES roles(id) ON DELETE CASCADE,
            payload jsonb NOT NULL DEFAULT '{}'::jsonb,
            requested_by bigint NOT NULL REFERENCES users(id),
            status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
            decided_by bigint REFERENCES users(id),
            decision_reason text,
            created_at timestamptz NOT NULL DEFAULT now(),
            decided_at timestamptz
        );
        CREATE INDEX ix_staff_change_requests_pending ON staff_change_requests (created_at, id)
            WHERE status = 'pending';

        CREATE TABLE four_eyes_solo (
            id bigserial PRIMARY KEY,
            flow text NOT NULL,
            ref text NOT NULL,
            initiator_id bigint NOT NULL,
            client_user_id bigint,
            currency text NOT NULL,
            amount numeric NOT NULL CHECK (amount >= 0),
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (flow, ref)
        );
        CREATE INDEX ix_four_eyes_solo_initiator ON four_eyes_solo (flow, initiator_id, currency, created_at);
        CREATE INDEX ix_four_eyes_solo_client ON four_eyes_solo (flow, client_user_id, currency, created_at);
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP TABLE four_eyes_solo; DROP TABLE staff_change_requests; DROP TABLE staff_provenance;
        UPDATE users SET status = 'disabled' WHERE status = 'pending_approval';
        ALTER TABLE users DROP CONSTRAINT users_status_check;
        ALTER TABLE users ADD CONSTRAINT users_status_check CHECK (status IN ('active', 'locked', 'disabled'));
        """
    )
