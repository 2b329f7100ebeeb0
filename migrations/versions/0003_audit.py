"""Audit: append-only, hash-chained audit events in 64 partitions, chain heads, daily seals.

Revision ID: 0003_audit
Revises: 0001_foundation
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0003_audit"
down_revision = "0001_foundation"
branch_labels = ("audit",)
depends_on = None

# 64 partitions: must equal domain.audit.chain.PARTITIONS (spelled out, so this migration never
# changes with the code).


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE audit_events (
            id bigserial PRIMARY KEY,
            partition smallint NOT NULL CHECK (partition >= 0 AND partition < 64),
            seq bigint NOT NULL CHECK (seq > 0),
            occurred_at timestamptz NOT NULL,
            actor_kind varchar(16) NOT NULL,
            actor_user_id bigint,
            api_token_id bigint,
            ip varchar(64),
            user_agent text,
            action varchar(120) NOT NULL,
            entity_type varchar(64) NOT NULL,
            entity_id varchar(128),
            before jsonb,
            after jsonb,
            reason text,
            category varchar(40) NOT NULL,
            correlation_id varchar(128),
            retain_until date NOT NULL,
            prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
            hash bytea NOT NULL CHECK (length(hash) = 32),
            CONSTRAINT uq_audit_events_partition_seq UNIQUE (partition, seq)
        );
        CREATE INDEX ix_audit_events_time ON audit_events (occurred_at DESC, id DESC);
        CREATE INDEX ix_audit_events_entity ON audit_events (entity_type, entity_id, occurred_at DESC, id DESC);
        CREATE INDEX ix_audit_events_actor ON audit_events (actor_user_id, occurred_at DESC, id DESC)
            WHERE actor_user_id IS NOT NULL;
        CREATE INDEX ix_audit_events_category ON audit_events (category, occurred_at DESC, id DESC);
        CREATE INDEX ix_audit_events_action ON audit_events (action, occurred_at DESC, id DESC);

        -- Each chain's last (seq, hash): writers lock it, verify compares it with the last row
        -- (a deleted tail shows). Updated in place, so it is not append-only.
        CREATE TABLE audit_chain_heads (
            partition smallint PRIMARY KEY,
            seq bigint NOT NULL,
            hash bytea NOT NULL
        ) WITH (fillfactor = 50);
        INSERT INTO audit_chain_heads (partition, seq, hash)
            SELECT p, 0, decode(repeat('00', 32), 'hex') FROM generate_series(0, 63) AS p;

        CREATE TABLE audit_seals (
            day date PRIMARY KEY,
            partition_count integer NOT NULL,
            row_count bigint NOT NULL,
            partitions jsonb NOT NULL,
            merkle_root bytea NOT NULL CHECK (length(merkle_root) = 32),
            sealed_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit trail is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'corrections are recorded as new audit events';
        END $$;
        CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
            FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
        CREATE TRIGGER audit_seals_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_seals
            FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_seals FROM PUBLIC;
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE audit_seals; DROP TABLE audit_chain_heads; DROP TABLE audit_events; "
        "DROP FUNCTION audit_refuse_change();"
    )
