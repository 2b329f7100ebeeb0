"""Ledger: postings' references are checked at commit by the balance trigger, not by foreign keys.

A foreign key check takes a FOR KEY SHARE lock on the referenced row. Every posting to a house
account (PSP clearing, FX, revenue) locked that account's one ledger_accounts row, so concurrent
money movements stacked their locks on the same few rows: each new locker wrote a multixact and a
WAL record, and that cost grew with the number of transactions in flight. The same guarantee now
holds without locks: accounts can no longer be deleted or change id or currency, entries were
already append-only, and the deferred trigger that checks an entry balances also checks that each
posting's entry exists and its account exists in the posting's currency.

Also: the uniqueness of `reverses_entry_id` is kept by a partial index, so the entries that reverse
nothing (nearly all) no longer add a NULL to it.

Revision ID: 0020_ledger_posting_checks
Revises: 0019_risk_order_types, 0005_ledger
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0020_ledger_posting_checks"
# 0005_ledger: the tables it alters (it was reached only by the order alembic happened to pick).
down_revision = ("0019_risk_order_types", "0005_ledger")
branch_labels = None
depends_on = None

_BALANCED_V1 = """
        CREATE OR REPLACE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            n integer;
            bad text;
        BEGIN
            SELECT count(*) INTO n FROM ledger_postings WHERE entry_id = NEW.entry_id;
            IF n < 2 THEN
                RAISE EXCEPTION 'ledger entry % has % posting(s); at least 2 required', NEW.entry_id, n
                    USING ERRCODE = 'check_violation';
            END IF;
            SELECT string_agg(currency || '=' || total::text, ', ') INTO bad FROM (
                SELECT currency, sum(amount) AS total FROM ledger_postings
                WHERE entry_id = NEW.entry_id GROUP BY currency HAVING sum(amount) <> 0) s;
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION 'ledger entry % does not balance: %', NEW.entry_id, bad
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$;
"""


def upgrade() -> None:
    run_sql(
        """
        CREATE FUNCTION ledger_account_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'ledger accounts are permanent: % of id or currency on %', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'restrict_violation';
        END $$;
        CREATE TRIGGER ledger_accounts_permanent BEFORE DELETE OR UPDATE OF id, currency ON ledger_accounts
            FOR EACH ROW EXECUTE FUNCTION ledger_account_permanent();
        CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_account_permanent();

        -- One query per posting at commit: the entry exists, the account exists in the posting's
        -- currency, the entry has two or more postings and sums to zero per currency.
        CREATE OR REPLACE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            entry_found boolean;
            account_found boolean;
            n integer;
            bad text;
        BEGIN
            SELECT EXISTS (SELECT 1 FROM ledger_entries WHERE id = NEW.entry_id),
                   EXISTS (SELECT 1 FROM ledger_accounts WHERE id = NEW.account_id AND currency = NEW.currency),
                   s.n, s.bad
              INTO entry_found, account_found, n, bad
              FROM (SELECT sum(c)::integer AS n,
                           string_agg(currency || '=' || total::text, ', ') FILTER (WHERE total <> 0) AS bad
                      FROM (SELECT currency, sum(amount) AS total, count(*) AS c FROM ledger_postings
                            WHERE entry_id = NEW.entry_id GROUP BY currency) t) s;
            IF NOT entry_found THEN
                RAISE EXCEPTION 'ledger posting % names entry %, which does not exist', NEW.id, NEW.entry_id
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            IF NOT account_found THEN
                RAISE EXCEPTION 'ledger posting % names account % in %, which does not exist in that currency',
                    NEW.id, NEW.account_id, NEW.currency USING ERRCODE = 'foreign_key_violation';
            END IF;
            IF n < 2 THEN
                RAISE EXCEPTION 'ledger entry % has % posting(s); at least 2 required', NEW.entry_id, n
                    USING ERRCODE = 'check_violation';
            END IF;
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION 'ledger entry % does not balance: %', NEW.entry_id, bad
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$;

        ALTER TABLE ledger_postings DROP CONSTRAINT fk_ledger_postings_account_currency,
                                    DROP CONSTRAINT ledger_postings_entry_id_fkey;

        CREATE UNIQUE INDEX uq_ledger_entries_reverses ON ledger_entries (reverses_entry_id)
            WHERE reverses_entry_id IS NOT NULL;
        ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reverses_entry_id_key;
        """
    )


def downgrade() -> None:
    run_sql(
        """
        ALTER TABLE ledger_postings
            ADD CONSTRAINT ledger_postings_entry_id_fkey FOREIGN KEY (entry_id) REFERENCES ledger_entries(id),
            ADD CONSTRAINT fk_ledger_postings_account_currency FOREIGN KEY (account_id, currency)
                REFERENCES ledger_accounts (id, currency);
        ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reverses_entry_id_key UNIQUE (reverses_entry_id);
        DROP INDEX uq_ledger_entries_reverses;
        DROP TRIGGER ledger_accounts_no_truncate ON ledger_accounts;
        DROP TRIGGER ledger_accounts_permanent ON ledger_accounts;
        DROP FUNCTION ledger_account_permanent();
        """ + _BALANCED_V1
    )
