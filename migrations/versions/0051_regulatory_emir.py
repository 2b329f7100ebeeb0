"""EMIR REFIT trade reports (domain/regulatory): the brokerage's reporting settings, the counterparty
identifiers staff record for clients, UTIs generated once per derivative (an MT5 position) and kept, and
the report files built per business day, each line traceable to its deals.

- regulatory_settings: one row (id = 1), set through setRegulatorySettings; a day cannot be built without it.
- regulatory_counterparty_ids: a client's LEI (legal entities) or national identifier (natural persons,
  RTS 22 Annex II); without one a natural person is identified by the CONCAT code.
- regulatory_utis: (server, position) -> UTI, written the first time a position is reported, never changed.
- regulatory_report_files: one row per file part; a rebuild of a day writes new rows and marks the old
  ones superseded (superseded_by), never overwrites. Content is in the blob store (encrypted), with its SHA-256.
- regulatory_report_lines: one row per report in a file: action, UTI, position, the deal ids it is built
  from, the volume after the day (what the next day's report compares with).

Revision ID: 0051_regulatory_emir
Revises: 0048_aml_case_attachments (the head), 0002_identity (its users)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0051_regulatory_emir"
down_revision = ("0048_aml_case_attachments", "0002_identity")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE regulatory_settings (
            id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
            reporting_lei char(20) NOT NULL,
            submitting_agent_lei char(20) NOT NULL,
            receiver_lei char(20) NOT NULL,
            sector varchar(4) NOT NULL,
            country char(2) NOT NULL,
            master_agreement varchar(50) NOT NULL,
            product_codes jsonb NOT NULL DEFAULT '{}',
            updated_by bigint REFERENCES users(id),
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE regulatory_counterparty_ids (
            user_id bigint PRIMARY KEY REFERENCES users(id),
            lei char(20),
            national_id varchar(35),
            national_id_country char(2),
            updated_by bigint REFERENCES users(id),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CHECK ((national_id IS NULL) = (national_id_country IS NULL))
        );

        CREATE TABLE regulatory_utis (
            server_id bigint NOT NULL,
            position_id bigint NOT NULL,
            uti varchar(52) NOT NULL UNIQUE,
            opened_on date,  -- the day of its first opening deal; NULL when opened before reporting began
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (server_id, position_id)
        );

        CREATE TABLE regulatory_report_files (
            id bigserial PRIMARY KEY,
            regime varchar(8) NOT NULL CHECK (regime IN ('emir')),
            business_date date NOT NULL,
            part integer NOT NULL CHECK (part >= 1),
            parts integer NOT NULL CHECK (parts >= 1),
            message_id varchar(35) NOT NULL UNIQUE,
            status varchar(12) NOT NULL DEFAULT 'built'
                CHECK (status IN ('built', 'submitted', 'accepted', 'rejected', 'superseded')),
            superseded_by bigint REFERENCES regulatory_report_files(id),
            records integer NOT NULL CHECK (records >= 0),
            size_bytes bigint NOT NULL,
            sha256 char(64) NOT NULL,
            storage_key varchar(200) NOT NULL UNIQUE,
            header_xml text NOT NULL,
            built_by bigint REFERENCES users(id),
            reason text NOT NULL DEFAULT '',
            status_note text NOT NULL DEFAULT '',
            status_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            CHECK ((status = 'superseded') = (superseded_by IS NOT NULL))
        );
        CREATE INDEX ix_regulatory_report_files_day ON regulatory_report_files (regime, business_date, id);
        CREATE INDEX ix_regulatory_report_files_newest ON regulatory_report_files (created_at, id);

        CREATE TABLE regulatory_report_lines (
            file_id bigint NOT NULL REFERENCES regulatory_report_files(id),
            seq integer NOT NULL,
            action varchar(4) NOT NULL CHECK (action IN ('NEWT', 'MODI', 'TERM')),
            uti varchar(52) NOT NULL,
            server_id bigint NOT NULL,
            position_id bigint NOT NULL,
            business_date date NOT NULL,
            volume_after numeric(20, 8) NOT NULL,
            deal_ids bigint[] NOT NULL,
            PRIMARY KEY (file_id, seq)
        );
        CREATE INDEX ix_regulatory_report_lines_position
            ON regulatory_report_lines (server_id, position_id, business_date);
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE regulatory_report_lines; DROP TABLE regulatory_report_files; DROP TABLE regulatory_utis; "
            "DROP TABLE regulatory_counterparty_ids; DROP TABLE regulatory_settings;")
