"""EMIR valuation and collateral (issue 20): what a day's build captured at the day's close, kept so that a rebuild
of a past day reports the same figures (the CRM keeps only current positions and prices).

- regulatory_valuation_days: one row per business day whose close was captured (a day with no open position
  has a row and no valuation, so a rebuild does not capture it again with later prices).
- regulatory_valuations: each position open at the day's close, its volume, average open price, the price it
  was marked at and the mark-to-market value from the broker's side (the client's unrealised result negated),
  in the instrument's quote currency. One VALU report per row.
- regulatory_collateral: per collateral portfolio (one trading account: MT5 margins each account on its own) the
  margin the client posted (the platform's used margin) and the account's equity from the last platform snapshot
  before the close.
- reconciliation_platform_balances.margin, .floating_profit: snapshots keep the used margin and the unrealised
  result of the open positions beside balance and equity (the retail loss percentage counts the latter).
- trading_instruments.underlying_index_name: the index a CFD on an index is on (EMIR UndrlygInstrm/Indx/Nm).
- regulatory_report_lines.action: VALU besides NEWT, MODI, TERM.

Revision ID: 0067_emir_valuations
Revises: 0065_report_schedules (the head)
"""

from __future__ import annotations

from migrations.sql import run_sql

revision = "0067_emir_valuations"
down_revision = "0065_report_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE regulatory_valuation_days (
            business_date date PRIMARY KEY,
            captured_at timestamptz NOT NULL DEFAULT now(),
            positions integer NOT NULL,
            portfolios integer NOT NULL
        );

        CREATE TABLE regulatory_valuations (
            business_date date NOT NULL REFERENCES regulatory_valuation_days (business_date),
            server_id bigint NOT NULL,
            position_id bigint NOT NULL,
            uti varchar(52) NOT NULL,
            account_id bigint NOT NULL,
            login bigint NOT NULL,
            symbol varchar(32) NOT NULL,
            side varchar(4) NOT NULL CHECK (side IN ('BUY', 'SELL')),
            volume numeric(20, 8) NOT NULL CHECK (volume > 0),
            open_price numeric(38, 18) NOT NULL,
            price numeric(20, 8) NOT NULL,
            price_time timestamptz(3) NOT NULL,
            contract_size numeric(20, 8) NOT NULL,
            currency varchar(3) NOT NULL,
            value numeric(38, 18) NOT NULL,
            PRIMARY KEY (business_date, server_id, position_id)
        );

        CREATE TABLE regulatory_collateral (
            business_date date NOT NULL REFERENCES regulatory_valuation_days (business_date),
            portfolio_code varchar(52) NOT NULL,
            server_id bigint NOT NULL,
            login bigint NOT NULL,
            account_id bigint NOT NULL,
            user_id bigint NOT NULL,
            currency varchar(8) NOT NULL,
            margin_posted numeric(28, 8) NOT NULL,
            equity numeric(28, 8) NOT NULL,
            snapshot_at timestamptz(3) NOT NULL,
            PRIMARY KEY (business_date, portfolio_code)
        );
        CREATE INDEX ix_regulatory_collateral_user ON regulatory_collateral (user_id, business_date);

        ALTER TABLE reconciliation_platform_balances ADD COLUMN margin numeric(28, 8),
            ADD COLUMN floating_profit numeric(28, 8);
        ALTER TABLE trading_instruments ADD COLUMN underlying_index_name varchar(50)
            CHECK (underlying_index_name IS NULL OR length(btrim(underlying_index_name)) > 0);

        ALTER TABLE regulatory_report_lines DROP CONSTRAINT regulatory_report_lines_action_check,
            ADD CONSTRAINT regulatory_report_lines_action_check CHECK (action IN ('NEWT', 'MODI', 'TERM', 'VALU'));
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DELETE FROM regulatory_report_lines WHERE action = 'VALU';
        ALTER TABLE regulatory_report_lines DROP CONSTRAINT regulatory_report_lines_action_check,
            ADD CONSTRAINT regulatory_report_lines_action_check CHECK (action IN ('NEWT', 'MODI', 'TERM'));
        ALTER TABLE trading_instruments DROP COLUMN underlying_index_name;
        ALTER TABLE reconciliation_platform_balances DROP COLUMN margin, DROP COLUMN floating_profit;
        DROP TABLE regulatory_collateral;
        DROP TABLE regulatory_valuations;
        DROP TABLE regulatory_valuation_days;
        """
    )
