"""Suspicious transaction reports (goAML STR/SAR) built from AML cases, and the reporting entity's
details the FIU knows the brokerage by.

- aml_reporting_entity: one row (id = 1), set by staff (setAmlReportingEntity); a report cannot be
  built without it.
- aml_reports: a report of one case, editable while `draft`; submitted for approval by one staff
  member, approved by another (four eyes), then exported; `xml` is the document approved (exported as
  approved, never regenerated); the FIU's reference and status are recorded after the upload.

Revision ID: 0042_aml_reports
Revises: 0041_aml
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0042_aml_reports"
down_revision = "0041_aml"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE aml_reporting_entity (
            id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
            rentity_id integer NOT NULL CHECK (rentity_id >= 1),
            rentity_branch varchar(255),
            name varchar(255) NOT NULL,
            local_currency varchar(3) NOT NULL,
            country varchar(2) NOT NULL,
            address varchar(100) NOT NULL,
            city varchar(255) NOT NULL,
            contact_first_name varchar(100) NOT NULL,
            contact_last_name varchar(100) NOT NULL,
            contact_email varchar(255),
            contact_occupation varchar(255),
            updated_by bigint REFERENCES users(id),
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE aml_reports (
            id bigserial PRIMARY KEY,
            case_id bigint NOT NULL REFERENCES aml_cases(id),
            user_id bigint NOT NULL REFERENCES users(id),
            report_code varchar(4) NOT NULL CHECK (report_code IN ('STR', 'SAR')),
            status varchar(16) NOT NULL DEFAULT 'draft'
                CHECK (status IN ('draft', 'pending_approval', 'approved', 'exported')),
            reason text NOT NULL,
            action text NOT NULL DEFAULT '',
            indicators text[] NOT NULL,
            payment_ids bigint[] NOT NULL,
            created_by bigint NOT NULL REFERENCES users(id),
            submitted_by bigint REFERENCES users(id),
            submitted_at timestamptz,
            approved_by bigint REFERENCES users(id),
            approved_at timestamptz,
            xml text,
            exported_by bigint REFERENCES users(id),
            exported_at timestamptz,
            fiu_ref_number varchar(255),
            fiu_status varchar(10) CHECK (fiu_status IN ('submitted', 'accepted', 'rejected')),
            fiu_status_on date,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CHECK ((status IN ('approved', 'exported')) = (xml IS NOT NULL)),
            CHECK (fiu_status IS NULL OR status = 'exported')
        );
        CREATE INDEX ix_aml_reports_newest ON aml_reports (created_at, id);
        CREATE INDEX ix_aml_reports_case ON aml_reports (case_id, created_at, id);
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE aml_reports; DROP TABLE aml_reporting_entity;")
