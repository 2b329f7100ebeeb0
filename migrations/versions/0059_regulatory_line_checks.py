"""Regulatory report lines keep their file reference checked once per statement instead of once per row.

A day of 1M deals writes 1M regulatory_report_lines rows (and a MiFIR day 1M regulatory_mifir_transactions
rows), 2,500 per COPY. The foreign key to regulatory_report_files fired its check per row (about 10 us each,
some 10 s of database time per million lines). It is replaced by statement-level triggers with transition
tables, which refuse the same things with the same SQLSTATE (23503, foreign_key_violation):
- lines (either table) inserted, or their file_id updated, naming a file that does not exist: one anti-join per
  statement;
- a file deleted, or its id changed, while lines still name it.

Revision ID: 0059_regulatory_line_checks
Revises: 0061_reporting (the head), 0051_regulatory_emir (report files and lines), 0053_regulatory_mifir (its rows)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0059_regulatory_line_checks"
down_revision = ("0061_reporting", "0051_regulatory_emir", "0053_regulatory_mifir")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE regulatory_report_lines DROP CONSTRAINT regulatory_report_lines_file_id_fkey;
        ALTER TABLE regulatory_mifir_transactions DROP CONSTRAINT regulatory_mifir_transactions_file_id_fkey;

        CREATE FUNCTION regulatory_lines_file_exists() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE missing bigint;
        BEGIN
            SELECT n.file_id INTO missing FROM new_rows n
            WHERE NOT EXISTS (SELECT 1 FROM regulatory_report_files f WHERE f.id = n.file_id) LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'insert or update on table "%" violates its reference to regulatory_report_files',
                    TG_TABLE_NAME USING ERRCODE = 'foreign_key_violation',
                    DETAIL = format('Key (file_id)=(%s) is not present in table "regulatory_report_files".', missing);
            END IF;
            RETURN NULL;
        END $$;

        CREATE FUNCTION regulatory_files_unreferenced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE still bigint;
        BEGIN
            SELECT o.id INTO still FROM old_rows o
            WHERE NOT EXISTS (SELECT 1 FROM regulatory_report_files f WHERE f.id = o.id)
              AND (EXISTS (SELECT 1 FROM regulatory_report_lines l WHERE l.file_id = o.id)
                   OR EXISTS (SELECT 1 FROM regulatory_mifir_transactions t WHERE t.file_id = o.id)) LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'update or delete on table "regulatory_report_files" leaves its report lines without '
                    'their file' USING ERRCODE = 'foreign_key_violation',
                    DETAIL = format('Key (id)=(%s) is still referenced by its report lines.', still);
            END IF;
            RETURN NULL;
        END $$;

        CREATE TRIGGER regulatory_report_lines_file_ins AFTER INSERT ON regulatory_report_lines
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION regulatory_lines_file_exists();
        CREATE TRIGGER regulatory_report_lines_file_upd AFTER UPDATE ON regulatory_report_lines
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION regulatory_lines_file_exists();
        CREATE TRIGGER regulatory_mifir_transactions_file_ins AFTER INSERT ON regulatory_mifir_transactions
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION regulatory_lines_file_exists();
        CREATE TRIGGER regulatory_mifir_transactions_file_upd AFTER UPDATE ON regulatory_mifir_transactions
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION regulatory_lines_file_exists();
        CREATE TRIGGER regulatory_report_files_lines_del AFTER DELETE ON regulatory_report_files
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION regulatory_files_unreferenced();
        CREATE TRIGGER regulatory_report_files_lines_upd AFTER UPDATE ON regulatory_report_files
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION regulatory_files_unreferenced();
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP TRIGGER regulatory_report_lines_file_ins ON regulatory_report_lines;
        DROP TRIGGER regulatory_report_lines_file_upd ON regulatory_report_lines;
        DROP TRIGGER regulatory_mifir_transactions_file_ins ON regulatory_mifir_transactions;
        DROP TRIGGER regulatory_mifir_transactions_file_upd ON regulatory_mifir_transactions;
        DROP TRIGGER regulatory_report_files_lines_del ON regulatory_report_files;
        DROP TRIGGER regulatory_report_files_lines_upd ON regulatory_report_files;
        DROP FUNCTION regulatory_lines_file_exists();
        DROP FUNCTION regulatory_files_unreferenced();
        ALTER TABLE regulatory_report_lines ADD CONSTRAINT regulatory_report_lines_file_id_fkey
            FOREIGN KEY (file_id) REFERENCES regulatory_report_files(id);
        ALTER TABLE regulatory_mifir_transactions ADD CONSTRAINT regulatory_mifir_transactions_file_id_fkey
            FOREIGN KEY (file_id) REFERENCES regulatory_report_files(id);
        """
    )
