"""Trusted documents: GraphQL documents registered by hash (domain/trusted_documents). The database
checks that each hash is the SHA-256 of its body, so a row can never make a hash run other text.

Revision ID: 0035_trusted_documents
Revises: 0001_foundation (a table of its own: no other context's tables are touched)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0035_trusted_documents"
down_revision = "0001_foundation"
branch_labels = ("trusted_documents",)
depends_on = None


def upgrade() -> None:
    run_sql("""
        CREATE TABLE trusted_documents (
            id bigserial PRIMARY KEY,
            hash varchar(64) NOT NULL UNIQUE,
            body text NOT NULL,
            client_name varchar(80) NOT NULL,
            registered_by varchar(120) NOT NULL,
            registered_at timestamptz NOT NULL DEFAULT now(),
            revoked_by varchar(120),
            revoked_at timestamptz,
            CONSTRAINT ck_trusted_documents_hash CHECK (hash = encode(sha256(convert_to(body, 'UTF8')), 'hex')),
            CONSTRAINT ck_trusted_documents_revoked CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
        );
        CREATE INDEX ix_trusted_documents_registered ON trusted_documents (registered_at DESC, id DESC);
    """)


def downgrade() -> None:
    run_sql("DROP TABLE trusted_documents;")
