"""Ledger: double-entry accounts, immutable journal, materialised (sharded) balances, holds,
idempotency keys and wallet <-> trading account transfers.

Revision ID: 0005_ledger
Revises: 0001_foundation
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0005_ledger"
down_revision = "0002_identity"
branch_labels = ("ledger",)
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE ledger_accounts (
            id bigserial PRIMARY KEY,
            type varchar(16) NOT NULL CHECK (type IN ('asset', 'liability', 'income', 'expense', 'equity')),
            purpose varchar(32) NOT NULL CHECK (purpose IN ('client_wallet', 'trading_account_mirror',
                'psp_clearing', 'bank', 'ib_payable', 'broker_revenue', 'fees', 'fx', 'suspense', 'house_equity')),
            currency varchar(8) NOT NULL,
            owner_id bigint REFERENCES users(id),
            server_id varchar(64),
            login bigint,
            provider varchar(64),
            -- House accounts are split into shards (balance = sum of shards) so concurrent postings
            -- do not queue on one row; client accounts have one.
            shards smallint NOT NULL DEFAULT 1 CHECK (shards BETWEEN 1 AND 64),
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_ledger_accounts_id_currency UNIQUE (id, currency),
            CONSTRAINT ck_ledger_accounts_wallet_owner CHECK (purpose <> 'client_wallet' OR owner_id IS NOT NULL),
            CONSTRAINT ck_ledger_accounts_mirror CHECK (purpose <> 'trading_account_mirror'
                OR (server_id IS NOT NULL AND login IS NOT NULL))
        );
        CREATE UNIQUE INDEX uq_ledger_accounts_identity ON ledger_accounts
            (purpose, currency, owner_id, server_id, login, provider) NULLS NOT DISTINCT;
        CREATE UNIQUE INDEX uq_ledger_accounts_mirror_login ON ledger_accounts (server_id, login)
            WHERE purpose = 'trading_account_mirror';
        CREATE INDEX ix_ledger_accounts_owner ON ledger_accounts (owner_id) WHERE owner_id IS NOT NULL;

        -- Balances in the account's natural sign (assets/expenses: debits - credits; others the
        -- reverse), changed only in the statement that inserts the postings.
        CREATE TABLE ledger_balances (
            account_id bigint NOT NULL REFERENCES ledger_accounts(id),
            shard smallint NOT NULL,
            balance numeric(28, 8) NOT NULL DEFAULT 0,
            held numeric(28, 8) NOT NULL DEFAULT 0 CHECK (held >= 0),
            non_negative boolean NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (account_id, shard)
        );

        CREATE TABLE ledger_entries (
            id bigserial PRIMARY KEY,
            ref_kind varchar(32) NOT NULL,
            ref_id varchar(80) NOT NULL,
            idempotency_key varchar(300) NOT NULL UNIQUE,
            description text NOT NULL DEFAULT '',
            details jsonb NOT NULL DEFAULT '{}',
            reverses_entry_id bigint UNIQUE REFERENCES ledger_entries(id),
            actor varchar(80) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_ledger_entries_ref ON ledger_entries (ref_kind, ref_id);

        -- amount > 0 is a debit, < 0 a credit; per entry and currency they sum to zero.
        CREATE TABLE ledger_postings (
            id bigserial PRIMARY KEY,
            entry_id bigint NOT NULL REFERENCES ledger_entries(id),
            account_id bigint NOT NULL,
            shard smallint NOT NULL,
            currency varchar(8) NOT NULL,
            amount numeric(28, 8) NOT NULL CHECK (amount <> 0),
            -- Set when this posting may take a client wallet below zero (chargebacks): visible.
            allow_negative boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT fk_ledger_postings_account_currency FOREIGN KEY (account_id, currency)
                REFERENCES ledger_accounts (id, currency)
        );
        CREATE INDEX ix_ledger_postings_entry ON ledger_postings (entry_id);
        CREATE INDEX ix_ledger_postings_account ON ledger_postings (account_id, created_at DESC, id DESC);

        CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'ledger journal is append-only (% on %)', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'restrict_violation';
        END $$;
        CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
            FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
        CREATE TRIGGER ledger_postings_immutable BEFORE UPDATE OR DELETE ON ledger_postings
            FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
        CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable();
        CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable();

        -- Checked at commit, once every posting of the entry is in.
        CREATE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
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
        CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced();

        CREATE TABLE ledger_holds (
            id bigserial PRIMARY KEY,
            account_id bigint NOT NULL REFERENCES ledger_accounts(id),
            amount numeric(28, 8) NOT NULL CHECK (amount > 0),
            status varchar(16) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'captured', 'released')),
            ref_kind varchar(32) NOT NULL,
            ref_id varchar(80) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            settled_at timestamptz,
            CONSTRAINT uq_ledger_holds_ref UNIQUE (ref_kind, ref_id)
        );
        CREATE INDEX ix_ledger_holds_active ON ledger_holds (account_id) WHERE status = 'active';

        CREATE TABLE idempotency_keys (
            scope varchar(120) NOT NULL,
            key varchar(200) NOT NULL,
            fingerprint char(64) NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'in_progress'
                CHECK (status IN ('in_progress', 'succeeded', 'failed')),
            result jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL DEFAULT now() + interval '7 days',
            PRIMARY KEY (scope, key),
            CONSTRAINT ck_idempotency_keys_retention CHECK (expires_at >= created_at + interval '7 days')
        );
        CREATE INDEX ix_idempotency_keys_expires ON idempotency_keys (expires_at);

        CREATE TABLE ledger_transfers (
            id bigserial PRIMARY KEY,
            external_id uuid NOT NULL UNIQUE,
            user_id bigint NOT NULL REFERENCES users(id),
            direction varchar(16) NOT NULL CHECK (direction IN ('to_account', 'from_account')),
            wallet_account_id bigint NOT NULL REFERENCES ledger_accounts(id),
            mirror_account_id bigint NOT NULL REFERENCES ledger_accounts(id),
            server_id varchar(64) NOT NULL,
            login bigint NOT NULL,
            currency varchar(8) NOT NULL,
            amount numeric(28, 8) NOT NULL CHECK (amount > 0),
            status varchar(16) NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'unknown', 'done', 'failed')),
            hold_id bigint REFERENCES ledger_holds(id),
            entry_id bigint REFERENCES ledger_entries(id),
            platform_ticket bigint,
            error_code varchar(64),
            error_message text,
            idem_scope varchar(120) NOT NULL,
            idem_key varchar(200) NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            next_check_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_ledger_transfers_user ON ledger_transfers (user_id, created_at DESC, id DESC);
        CREATE INDEX ix_ledger_transfers_open ON ledger_transfers (next_check_at)
            WHERE status IN ('pending', 'unknown');
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE ledger_transfers; DROP TABLE idempotency_keys; DROP TABLE ledger_holds; "
        "DROP TRIGGER ledger_postings_balanced ON ledger_postings; DROP FUNCTION ledger_entry_balanced(); "
        "DROP TABLE ledger_postings; DROP TABLE ledger_entries; DROP FUNCTION ledger_immutable(); "
        "DROP TABLE ledger_balances; DROP TABLE ledger_accounts;"
    )
