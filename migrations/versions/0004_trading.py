"""Trading: servers, accounts, instruments, deals (partitioned by time), balance operations,
positions, ingestion cursors and the ingestion error queue.

Revision ID: 0004_trading
Revises: 0001_foundation
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0004_trading"
down_revision = "0002_identity"
branch_labels = ("trading",)
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE trading_servers (
            id bigserial PRIMARY KEY,
            name varchar(80) NOT NULL UNIQUE,
            platform varchar(16) NOT NULL CHECK (platform IN ('mt5')),
            base_url varchar(300) NOT NULL,
            manager_login bigint NOT NULL,
            password_enc text NOT NULL,
            symbol_map jsonb NOT NULL DEFAULT '{}',
            enabled boolean NOT NULL DEFAULT true,
            last_success_at timestamptz,
            last_attempt_at timestamptz,
            last_error text,
            consecutive_failures integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE trading_accounts (
            id bigserial PRIMARY KEY,
            server_id bigint NOT NULL REFERENCES trading_servers(id),
            login bigint NOT NULL,
            user_id bigint REFERENCES users(id),
            "group" varchar(64) NOT NULL,
            leverage integer NOT NULL CHECK (leverage > 0),
            currency varchar(8) NOT NULL,
            account_type varchar(8) NOT NULL DEFAULT 'real' CHECK (account_type IN ('real', 'demo')),
            rights varchar(24) NOT NULL DEFAULT 'ENABLED',
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_trading_accounts_login UNIQUE (server_id, login)
        );
        CREATE INDEX ix_trading_accounts_user ON trading_accounts (user_id) WHERE user_id IS NOT NULL;

        CREATE TABLE trading_instruments (
            server_id bigint NOT NULL REFERENCES trading_servers(id),
            symbol varchar(32) NOT NULL,
            canonical varchar(32) NOT NULL,
            asset_class varchar(32) NOT NULL,
            path varchar(200) NOT NULL DEFAULT '',
            contract_size numeric(20, 8) NOT NULL,
            base_currency varchar(8) NOT NULL,
            quote_currency varchar(8) NOT NULL,
            digits integer NOT NULL,
            pip_size numeric(20, 10) NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (server_id, symbol)
        );

        CREATE TABLE trading_ingestion_cursors (
            server_id bigint PRIMARY KEY REFERENCES trading_servers(id),
            time_ms bigint NOT NULL DEFAULT 0,
            deal_id bigint NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        -- The dedupe authority: one row per (server, deal) whatever its time, with a fingerprint
        -- of the content so a repeat with different content is detected, never overwritten.
        CREATE TABLE trading_deal_keys (
            server_id bigint NOT NULL,
            deal_id bigint NOT NULL,
            time timestamptz(3) NOT NULL,
            fingerprint bytea NOT NULL,
            PRIMARY KEY (server_id, deal_id)
        );

        CREATE TABLE trading_deals (
            server_id bigint NOT NULL,
            deal_id bigint NOT NULL,
            time timestamptz(3) NOT NULL,
            time_ms bigint NOT NULL,
            login bigint NOT NULL,
            account_id bigint,
            order_id bigint NOT NULL,
            position_id bigint NOT NULL,
            action smallint NOT NULL,
            entry smallint NOT NULL,
            symbol varchar(32) NOT NULL,
            price numeric(20, 8) NOT NULL,
            volume numeric(20, 8) NOT NULL,
            profit numeric(20, 8) NOT NULL,
            commission numeric(20, 8) NOT NULL,
            storage numeric(20, 8) NOT NULL,
            fee numeric(20, 8) NOT NULL,
            reason smallint NOT NULL,
            contract_size numeric(20, 8) NOT NULL,
            rate_profit numeric(24, 12) NOT NULL,
            rate_margin numeric(24, 12) NOT NULL,
            notional_usd numeric(24, 8),
            comment varchar(128) NOT NULL DEFAULT '',
            external_tag varchar(64),
            batch_id uuid NOT NULL,
            ingested_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (server_id, deal_id, time)
        ) PARTITION BY RANGE (time);
        CREATE INDEX ix_trading_deals_login ON trading_deals (server_id, login, time, deal_id);
        CREATE INDEX ix_trading_deals_time ON trading_deals USING brin (time);
        -- Downstream consumers (IB engine, risk) read one ingested batch at a time.
        CREATE INDEX ix_trading_deals_batch ON trading_deals (server_id, batch_id);
        CREATE TABLE trading_deals_default PARTITION OF trading_deals DEFAULT;

        -- Monthly partitions from one month back to months_ahead ahead; rows already sitting in
        -- the default partition for a new month are moved into it.
        CREATE FUNCTION trading_ensure_deal_partitions(months_ahead integer) RETURNS integer
        LANGUAGE plpgsql AS $$
        DECLARE
            lo timestamptz;
            hi timestamptz;
            part text;
            created integer := 0;
        BEGIN
            FOR i IN -1..months_ahead LOOP
                lo := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))
                      AT TIME ZONE 'UTC';
                hi := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i + 1))
                      AT TIME ZONE 'UTC';
                part := 'trading_deals_' || to_char(lo AT TIME ZONE 'UTC', 'YYYY_MM');
                CONTINUE WHEN to_regclass(part) IS NOT NULL;
                EXECUTE format('CREATE TABLE %I (LIKE trading_deals INCLUDING DEFAULTS)', part);
                EXECUTE format(
                    'WITH moved AS (DELETE FROM trading_deals_default WHERE time >= %L AND time < %L '
                    'RETURNING *) INSERT INTO %I SELECT * FROM moved', lo, hi, part);
                EXECUTE format('ALTER TABLE trading_deals ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                               part, lo, hi);
                created := created + 1;
            END LOOP;
            RETURN created;
        END $$;
        SELECT trading_ensure_deal_partitions(3);

        CREATE TABLE trading_balance_operations (
            server_id bigint NOT NULL,
            deal_id bigint NOT NULL,
            time timestamptz(3) NOT NULL,
            login bigint NOT NULL,
            account_id bigint,
            action smallint NOT NULL,
            kind varchar(24) NOT NULL,
            amount numeric(20, 8) NOT NULL,
            comment varchar(128) NOT NULL DEFAULT '',
            external_tag varchar(64),
            PRIMARY KEY (server_id, deal_id)
        );
        CREATE INDEX ix_trading_balance_ops_login ON trading_balance_operations (server_id, login, time);
        CREATE INDEX ix_trading_balance_ops_tag ON trading_balance_operations (external_tag)
            WHERE external_tag IS NOT NULL;

        -- Open positions: net volume maintained from IN/OUT deals, corrected by snapshots.
        CREATE TABLE trading_positions (
            server_id bigint NOT NULL,
            position_id bigint NOT NULL,
            login bigint NOT NULL,
            account_id bigint,
            symbol varchar(32) NOT NULL,
            side varchar(4) NOT NULL CHECK (side IN ('BUY', 'SELL')),
            volume numeric(20, 8) NOT NULL,
            in_volume numeric(20, 8) NOT NULL DEFAULT 0,
            in_value numeric(30, 10) NOT NULL DEFAULT 0,
            opened_at timestamptz(3),
            last_deal_ms bigint NOT NULL DEFAULT 0,
            snapshot_at timestamptz,
            PRIMARY KEY (server_id, position_id)
        );
        CREATE INDEX ix_trading_positions_login ON trading_positions (server_id, login);

        CREATE TABLE trading_ingestion_errors (
            id bigserial PRIMARY KEY,
            server_id bigint NOT NULL REFERENCES trading_servers(id),
            deal_id bigint,
            kind varchar(32) NOT NULL CHECK (kind IN ('unknown_symbol', 'unknown_login',
                'conflicting_duplicate', 'malformed_page', 'auth', 'unavailable')),
            detail text NOT NULL DEFAULT '',
            raw jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            resolved_at timestamptz
        );
        CREATE UNIQUE INDEX uq_trading_ingestion_errors_open
            ON trading_ingestion_errors (server_id, deal_id, kind)
            WHERE resolved_at IS NULL AND deal_id IS NOT NULL;
        CREATE INDEX ix_trading_ingestion_errors_open ON trading_ingestion_errors (created_at DESC, id DESC)
            WHERE resolved_at IS NULL;

        -- Currency to USD rates for non-USD deposit currencies (notional_usd), latest at or before a time.
        CREATE TABLE trading_usd_rates (
            currency varchar(8) NOT NULL,
            valid_from timestamptz NOT NULL,
            rate numeric(24, 12) NOT NULL CHECK (rate > 0),
            PRIMARY KEY (currency, valid_from)
        );
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE trading_usd_rates; DROP TABLE trading_ingestion_errors; DROP TABLE trading_positions; "
        "DROP TABLE trading_balance_operations; DROP TABLE trading_deals; "
        "DROP FUNCTION trading_ensure_deal_partitions(integer); DROP TABLE trading_deal_keys; "
        "DROP TABLE trading_ingestion_cursors; DROP TABLE trading_instruments; DROP TABLE trading_accounts; "
        "DROP TABLE trading_servers;"
    )
