"""External client-money reconciliation against bank statements (ISO 20022 camt.053, v02 and v08), the
monthly client-money return's inputs, and four-eyes on the client-money sign-off.

* bank_statements / bank_statement_balances / bank_statement_entries: an uploaded statement (one per account
  IBAN and statement id), its opening and closing booked balances per currency, every entry.
* client_money_resources.statement_id: a segregated bank balance fed by a statement's closing balance (no
  longer a hand-entered figure); such a balance may be negative (the bank says so), a hand-entered one not.
* reconciliation breaks: a `bank` section (statement entries vs the ledger's wire postings) with the kinds
  `missing_in_bank` and `opening_balance_mismatch`.
* client_money_signoffs.preparers: who recorded the resources and resolved the breaks (none of them signed).

Revision ID: 0058_bank_statements
Revises: 0054_client_money (the head: resources, sign-offs, breaks' checks), 0012_reconciliation (breaks),
0002_identity (users)
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0058_bank_statements"
down_revision = ("0054_client_money", "0012_reconciliation", "0002_identity")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE bank_statements (
            id bigserial PRIMARY KEY,
            iban varchar(34) NOT NULL,
            statement_id varchar(35) NOT NULL,
            electronic_seq numeric(18, 0),
            version char(2) NOT NULL CHECK (version IN ('02', '08')),
            message_id varchar(35) NOT NULL,
            created_at timestamptz,
            from_at timestamptz,
            to_at timestamptz,
            closing_date date,
            sha256 char(64) NOT NULL,
            entry_count integer NOT NULL,
            imported_by bigint REFERENCES users(id),
            imported_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_bank_statements UNIQUE (iban, statement_id)
        );
        CREATE INDEX ix_bank_statements_page ON bank_statements (imported_at DESC, id DESC);
        CREATE INDEX ix_bank_statements_order ON bank_statements (iban, closing_date, electronic_seq, id);

        -- Booked balances: OPBD (opening) and CLBD (closing), signed (a DBIT balance is negative).
        CREATE TABLE bank_statement_balances (
            statement_id bigint NOT NULL REFERENCES bank_statements(id),
            type varchar(4) NOT NULL CHECK (type IN ('OPBD', 'CLBD')),
            currency varchar(3) NOT NULL,
            amount numeric(38, 18) NOT NULL,
            as_of date NOT NULL,
            PRIMARY KEY (statement_id, type, currency)
        );

        CREATE TABLE bank_statement_entries (
            statement_id bigint NOT NULL REFERENCES bank_statements(id),
            line_no integer NOT NULL,
            amount numeric(38, 18) NOT NULL CHECK (amount >= 0),
            currency varchar(3) NOT NULL,
            credit boolean NOT NULL,
            status varchar(4) NOT NULL,
            booking_date date,
            value_date date,
            acct_svcr_ref varchar(35),
            end_to_end_id varchar(35),
            remittance varchar(2000) NOT NULL DEFAULT '',
            reference varchar(20),
            PRIMARY KEY (statement_id, line_no)
        );
        CREATE INDEX ix_bank_statement_entries_booked ON bank_statement_entries (booking_date) WHERE status = 'BOOK';

        ALTER TABLE client_money_resources ADD COLUMN statement_id bigint REFERENCES bank_statements(id);
        ALTER TABLE client_money_resources DROP CONSTRAINT client_money_resources_balance_check;
        ALTER TABLE client_money_resources ADD CONSTRAINT client_money_resources_balance_check
            CHECK (balance >= 0 OR statement_id IS NOT NULL);

        ALTER TABLE client_money_signoffs ADD COLUMN preparers bigint[] NOT NULL DEFAULT '{}';

        ALTER TABLE reconciliation_breaks DROP CONSTRAINT reconciliation_breaks_section_check;
        ALTER TABLE reconciliation_breaks ADD CONSTRAINT reconciliation_breaks_section_check
            CHECK (section IN ('trading', 'psp', 'integrity', 'balance', 'client_money', 'bank'));
        ALTER TABLE reconciliation_breaks DROP CONSTRAINT reconciliation_breaks_kind_check;
        ALTER TABLE reconciliation_breaks ADD CONSTRAINT reconciliation_breaks_kind_check
            CHECK (kind IN ('missing_in_ledger', 'missing_on_platform', 'missing_at_psp', 'amount_mismatch',
                'account_mismatch', 'duplicate', 'timing', 'balance_drift', 'balance_mismatch',
                'shortfall', 'excess', 'missing_in_bank', 'opening_balance_mismatch'));
        """
    )


def downgrade() -> None:
    run_sql(
        "ALTER TABLE client_money_signoffs DROP COLUMN preparers; "
        "ALTER TABLE client_money_resources DROP CONSTRAINT client_money_resources_balance_check; "
        "ALTER TABLE client_money_resources DROP COLUMN statement_id; "
        "ALTER TABLE client_money_resources ADD CONSTRAINT client_money_resources_balance_check CHECK (balance >= 0); "
        "DROP TABLE bank_statement_entries; DROP TABLE bank_statement_balances; DROP TABLE bank_statements;"
    )
