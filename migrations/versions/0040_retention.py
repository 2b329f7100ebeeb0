"""Retention and erasure (issue 19): schedules per jurisdiction and kind of record, legal holds,
each client's own data key (envelope encryption: the key wrapped by the master key, destroyed to
crypto-shred), erasure requests (GDPR Art. 17) and the enforcement runs.

- `retention_schedules`: how many years a kind of record is kept, from the end of the relationship
  or from the record's own creation; the row for jurisdiction '*' applies where a country has none.
- `client_keys`: one 256-bit data key per client, stored only wrapped (AES-256-GCM under a key
  derived from the secret key, the client id as associated data); `wrapped` is NULL once the key is
  destroyed, and nothing sealed under it can be read again, in this database or in any backup.
- `client_documents.key_scheme`: 'process' for documents stored before this migration (the old
  process-wide document key, still readable), 'client' for those sealed under the client's key;
  `erased_at` once the blob was deleted from storage.
- `clients.sealed_identity`: the identity data (names, date of birth, profile) sealed under the
  client's key; `erased_at` once the personal data was erased.

Revision ID: 0040_retention
Revises: 0038_client_search_text
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0040_retention"
down_revision = "0038_client_search_text"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE retention_schedules (
            jurisdiction varchar(2) NOT NULL,
            record_kind varchar(32) NOT NULL
                CHECK (record_kind IN ('kyc_documents', 'identity_data', 'communications', 'audit')),
            years integer NOT NULL CHECK (years BETWEEN 0 AND 100),
            basis varchar(24) NOT NULL CHECK (basis IN ('relationship_end', 'created')),
            updated_by bigint,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (jurisdiction, record_kind)
        );
        INSERT INTO retention_schedules (jurisdiction, record_kind, years, basis) VALUES
            ('*', 'kyc_documents', 5, 'relationship_end'),
            ('*', 'identity_data', 5, 'relationship_end'),
            ('*', 'communications', 5, 'created'),
            ('*', 'audit', 7, 'created');

        CREATE TABLE legal_holds (
            id bigserial PRIMARY KEY,
            client_id bigint NOT NULL REFERENCES clients(id),
            reason text NOT NULL,
            placed_by bigint,
            placed_at timestamptz NOT NULL DEFAULT now(),
            released_by bigint,
            released_at timestamptz,
            release_reason text
        );
        CREATE UNIQUE INDEX ux_legal_holds_active ON legal_holds (client_id) WHERE released_at IS NULL;
        CREATE INDEX ix_legal_holds_client ON legal_holds (client_id, id);

        CREATE TABLE client_keys (
            client_id bigint PRIMARY KEY REFERENCES clients(id),
            wrapped bytea,
            master_version smallint NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            destroyed_at timestamptz,
            CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
        );

        ALTER TABLE client_documents
            ADD COLUMN key_scheme varchar(8) NOT NULL DEFAULT 'process' CHECK (key_scheme IN ('process', 'client')),
            ADD COLUMN erased_at timestamptz;
        ALTER TABLE clients ADD COLUMN sealed_identity bytea, ADD COLUMN erased_at timestamptz;

        CREATE TABLE erasure_requests (
            id bigserial PRIMARY KEY,
            client_id bigint NOT NULL REFERENCES clients(id),
            reason text NOT NULL DEFAULT '',
            status varchar(16) NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'approved', 'rejected')),
            requested_at timestamptz NOT NULL DEFAULT now(),
            first_approver_id bigint,
            decided_by bigint,
            decided_at timestamptz,
            decision_reason text,
            outcome jsonb
        );
        CREATE UNIQUE INDEX ux_erasure_requests_open ON erasure_requests (client_id) WHERE status = 'pending';
        CREATE INDEX ix_erasure_requests_status ON erasure_requests (status, id);
        CREATE INDEX ix_erasure_requests_client ON erasure_requests (client_id, id);

        CREATE TABLE retention_runs (
            id bigserial PRIMARY KEY,
            status varchar(16) NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'completed', 'failed')),
            requested_by bigint,
            as_of date NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz,
            clients_examined integer NOT NULL DEFAULT 0,
            clients_held integer NOT NULL DEFAULT 0,
            clients_erased integer NOT NULL DEFAULT 0,
            documents_deleted integer NOT NULL DEFAULT 0,
            communications_deleted integer NOT NULL DEFAULT 0,
            keys_destroyed integer NOT NULL DEFAULT 0,
            error text
        );
        CREATE INDEX ix_clients_ended ON clients (id) WHERE status IN ('closed', 'rejected') AND erased_at IS NULL;
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP INDEX ix_clients_ended;
        DROP TABLE retention_runs; DROP TABLE erasure_requests;
        ALTER TABLE clients DROP COLUMN sealed_identity, DROP COLUMN erased_at;
        ALTER TABLE client_documents DROP COLUMN key_scheme, DROP COLUMN erased_at;
        DROP TABLE client_keys; DROP TABLE legal_holds; DROP TABLE retention_schedules;
        """
    )
