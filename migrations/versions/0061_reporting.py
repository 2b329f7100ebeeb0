"""Reporting rollups (issue 21): per UTC day x dimension, maintained incrementally and rebuildable.

- `reporting_deal_daily`: trading deals (buy/sell) per day, server, symbol, account group, book and the
  client's desk, revenue components in USD (spread markup, commission, fee, swap, client P&L, the
  broker's B-book share of it), volume, notional. Kept per ingested batch by the worker
  (`reporting_batches`: each batch once).
- `reporting_spread_markups`: the markup built into a group's spread, in pips (the markup revenue).
- `reporting_money_daily`: client wallet postings of deposits and withdrawals per day, direction, method,
  currency, country and desk; `reporting_first_deposits` one row per client (the first deposit entry);
  `reporting_applied_entries` the ledger entries already counted (exactly once per entry).

Revision ID: 0061_reporting
Revises: 0058_bank_statements (the head), 0004_trading, 0005_ledger, 0010_risk, 0006_clients, 0009_payments
"""

from __future__ import annotations

from migrations.sql import run_sql

revision = "0061_reporting"
down_revision = "0058_bank_statements"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE reporting_deal_daily (
            day date NOT NULL,
            server_id bigint NOT NULL,
            symbol varchar(32) NOT NULL,
            grp varchar(64) NOT NULL,
            book varchar(8) NOT NULL,
            desk varchar(64) NOT NULL,
            deals bigint NOT NULL DEFAULT 0,
            volume_lots numeric(38, 8) NOT NULL DEFAULT 0,
            notional_usd numeric NOT NULL DEFAULT 0,
            markup_usd numeric NOT NULL DEFAULT 0,
            commission_usd numeric NOT NULL DEFAULT 0,
            fee_usd numeric NOT NULL DEFAULT 0,
            swap_usd numeric NOT NULL DEFAULT 0,
            client_pnl_usd numeric NOT NULL DEFAULT 0,
            bbook_pnl_usd numeric NOT NULL DEFAULT 0,
            unpriced bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (day, server_id, symbol, grp, book, desk)
        );

        -- Deal batches already added (the `trading.deals_ingested` events), exactly once per batch.
        CREATE TABLE reporting_batches (
            batch_id uuid PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE reporting_spread_markups (
            server_id bigint NOT NULL,
            grp varchar(64) NOT NULL,
            markup_pips numeric(12, 4) NOT NULL CHECK (markup_pips >= 0),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (server_id, grp)
        );

        CREATE TABLE reporting_money_daily (
            day date NOT NULL,
            direction varchar(12) NOT NULL CHECK (direction IN ('deposit', 'withdrawal')),
            method varchar(32) NOT NULL,
            currency varchar(8) NOT NULL,
            country varchar(2) NOT NULL,
            desk varchar(64) NOT NULL,
            movements bigint NOT NULL DEFAULT 0,
            amount numeric(38, 18) NOT NULL DEFAULT 0,
            amount_usd numeric NOT NULL DEFAULT 0,
            unpriced bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (day, direction, method, currency, country, desk)
        );

        CREATE TABLE reporting_first_deposits (
            user_id bigint PRIMARY KEY,
            entry_id bigint NOT NULL,
            day date NOT NULL,
            method varchar(32) NOT NULL,
            currency varchar(8) NOT NULL,
            country varchar(2) NOT NULL,
            desk varchar(64) NOT NULL,
            amount numeric(38, 18) NOT NULL,
            amount_usd numeric
        );
        CREATE INDEX ix_reporting_first_deposits_day ON reporting_first_deposits (day);

        CREATE TABLE reporting_applied_entries (
            entry_id bigint PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        );

        -- The money-flow sweep finds recent deposit and withdrawal entries without scanning the ledger.
        CREATE INDEX ix_ledger_entries_money_flow ON ledger_entries (created_at, id)
            WHERE ref_kind IN ('deposit', 'withdrawal', 'withdrawal_return');
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP INDEX ix_ledger_entries_money_flow;
        DROP TABLE reporting_applied_entries; DROP TABLE reporting_first_deposits; DROP TABLE reporting_money_daily;
        DROP TABLE reporting_spread_markups; DROP TABLE reporting_batches; DROP TABLE reporting_deal_daily;
        """
    )
