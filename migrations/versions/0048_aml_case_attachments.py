"""Files attached to an AML case (domain/compliance/aml/attachments.py): the blob lives encrypted in
the document store, the row says what it is and who attached it when.

Revision ID: 0048_aml_case_attachments
Revises: 0041_aml (its cases), 0002_identity (its users)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0048_aml_case_attachments"
down_revision = ("0041_aml", "0002_identity")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE aml_case_attachments (
            id bigserial PRIMARY KEY,
            case_id bigint NOT NULL REFERENCES aml_cases(id),
            filename varchar(200) NOT NULL,
            content_type varchar(100) NOT NULL,
            size_bytes integer NOT NULL CHECK (size_bytes > 0),
            sha256 char(64) NOT NULL,
            storage_key varchar(200) NOT NULL UNIQUE,
            description text NOT NULL DEFAULT '',
            uploaded_by bigint NOT NULL REFERENCES users(id),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_aml_case_attachments_case ON aml_case_attachments (case_id, created_at, id);
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE aml_case_attachments;")
