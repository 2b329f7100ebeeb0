"""FX rates from a configured source and exchange quotes; trading platforms by registry name.

fx_rates: every rate a source published (base/quote, the source's own time, when we fetched it);
the newest per pair is the one used, and one older than the configured age is refused.
fx_quotes: a rate offered to one client for a short time; accepting it posts the exchange once.
trading_servers.platform: any registered adapter's name (was: mt5 only).
brokerage_account_types: what clients choose when opening an account (server and group used where no
jurisdiction mapping exists, default and maximum leverage, live or demo, minimum deposit, enabled).

Revision ID: 0030_fx_platforms
Revises: 0004_trading, 0006_clients
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0030_fx_platforms"
down_revision = ("0004_trading", "0006_clients")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
        ALTER TABLE trading_servers DROP CONSTRAINT IF EXISTS trading_servers_platform_check;
        ALTER TABLE trading_servers ADD CONSTRAINT trading_servers_platform_check
            CHECK (platform ~ '^[a-z0-9_]{1,16}$');

        CREATE TABLE fx_rates (
            id bigserial PRIMARY KEY,
            source varchar(32) NOT NULL,
            base varchar(8) NOT NULL,
            quote varchar(8) NOT NULL,
            rate numeric(38, 18) NOT NULL CHECK (rate > 0),
            rate_time timestamptz NOT NULL,
            fetched_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_fx_rates_latest ON fx_rates (source, base, quote, rate_time DESC, id DESC);

        CREATE TABLE fx_quotes (
            id uuid PRIMARY KEY,
            user_id bigint NOT NULL,
            from_currency varchar(8) NOT NULL,
            to_currency varchar(8) NOT NULL,
            sell_amount numeric(38, 18) NOT NULL CHECK (sell_amount > 0),
            buy_amount numeric(38, 18) NOT NULL CHECK (buy_amount > 0),
            gross_amount numeric(38, 18) NOT NULL,
            fee numeric(38, 18) NOT NULL,
            mid_rate numeric(38, 18) NOT NULL,
            applied_rate numeric(38, 18) NOT NULL,
            markup numeric(12, 8) NOT NULL,
            rate_source varchar(32) NOT NULL,
            rate_time timestamptz NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz,
            used_scope varchar(120),
            used_key varchar(200)
        );
        CREATE INDEX ix_fx_quotes_user ON fx_quotes (user_id, created_at DESC);

        ALTER TABLE brokerage_account_types
            ADD COLUMN enabled boolean NOT NULL DEFAULT true,
            ADD COLUMN live boolean NOT NULL DEFAULT true,
            ADD COLUMN server_id bigint REFERENCES trading_servers(id),
            ADD COLUMN group_name varchar(64),
            ADD COLUMN default_leverage integer NOT NULL DEFAULT 100,
            ADD COLUMN max_leverage integer NOT NULL DEFAULT 500,
            ADD COLUMN min_deposit numeric(38, 18) NOT NULL DEFAULT 0,
            ADD CONSTRAINT ck_account_type_leverage
                CHECK (1 <= default_leverage AND default_leverage <= max_leverage AND max_leverage <= 5000),
            ADD CONSTRAINT ck_account_type_min_deposit CHECK (min_deposit >= 0),
            ADD CONSTRAINT ck_account_type_placement CHECK ((server_id IS NULL) = (group_name IS NULL));
    """)


def downgrade() -> None:
    run_sql("""
        ALTER TABLE brokerage_account_types DROP COLUMN enabled, DROP COLUMN live, DROP COLUMN server_id,
            DROP COLUMN group_name, DROP COLUMN default_leverage, DROP COLUMN max_leverage, DROP COLUMN min_deposit;
        DROP TABLE fx_quotes;
        DROP TABLE fx_rates;
        ALTER TABLE trading_servers DROP CONSTRAINT trading_servers_platform_check;
        ALTER TABLE trading_servers ADD CONSTRAINT trading_servers_platform_check CHECK (platform IN ('mt5'));
    """)
