"""A case note the system writes has no author: re-screening notes on a case that a screening hit behind it was
delisted (domain/compliance/rescreen.py), so the officer sees why the case changed without a staff member being
named as its author.

Revision ID: 0047_aml_system_notes
Revises: 0041_aml
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0047_aml_system_notes"
down_revision = "0041_aml"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("ALTER TABLE aml_case_notes ALTER COLUMN author_id DROP NOT NULL;")


def downgrade() -> None:
    run_sql(
        """
        DELETE FROM aml_case_notes WHERE author_id IS NULL;
        ALTER TABLE aml_case_notes ALTER COLUMN author_id SET NOT NULL;
        """
    )
