"""Reporting per client (issue 21): lifetime value, cohorts, IB return, geography and attribution read a
per client x day rollup; LP costs of A-booked volume per server and symbol.

- `reporting_client_daily`: per client (user) and UTC day, the buy/sell deals, volume and net revenue (the
  revenue rollup's net, LP cost deducted) added per ingested batch with `reporting_deal_daily`, and the
  deposits and withdrawals (USD) added by the money sweep. Rebuilt with the other rollups.
- `reporting_lp_commissions`: what the liquidity provider charges per lot (USD) on a server's symbol; the
  A-booked share of every deal's volume costs it (`lp_cost_usd` in `reporting_deal_daily`).
- Scheduled reports may name the new reports.

Revision ID: 0068_reporting_clients
Revises: 0065_report_schedules (the head), 0061_reporting
"""

from __future__ import annotations

from migrations.sql import run_sql

revision = "0068_reporting_clients"
down_revision = "0065_report_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE reporting_client_daily (
            user_id bigint NOT NULL,
            day date NOT NULL,
            deals bigint NOT NULL DEFAULT 0,
            volume_lots numeric(38, 8) NOT NULL DEFAULT 0,
            net_revenue_usd numeric NOT NULL DEFAULT 0,
            deposits bigint NOT NULL DEFAULT 0,
            deposits_usd numeric NOT NULL DEFAULT 0,
            withdrawals_usd numeric NOT NULL DEFAULT 0,
            PRIMARY KEY (user_id, day)
        ) WITH (fillfactor = 70);  -- room for HOT updates: each batch and sweep adds to a client's day in place
        CREATE INDEX ix_reporting_client_daily_day ON reporting_client_daily (day);

        CREATE TABLE reporting_lp_commissions (
            server_id bigint NOT NULL,
            symbol varchar(32) NOT NULL,
            per_lot_usd numeric(20, 8) NOT NULL CHECK (per_lot_usd >= 0),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (server_id, symbol)
        );
        ALTER TABLE reporting_deal_daily ADD COLUMN lp_cost_usd numeric NOT NULL DEFAULT 0;

        ALTER TABLE reporting_schedules DROP CONSTRAINT reporting_schedules_report_check;
        ALTER TABLE reporting_schedules ADD CONSTRAINT reporting_schedules_report_check CHECK (
            report IN ('revenue', 'money_flow', 'funnel', 'clients', 'cohorts', 'ib_return'));
        """
    )


def downgrade() -> None:
    run_sql(
        """
        ALTER TABLE reporting_schedules DROP CONSTRAINT reporting_schedules_report_check;
        ALTER TABLE reporting_schedules ADD CONSTRAINT reporting_schedules_report_check CHECK (
            report IN ('revenue', 'money_flow', 'funnel'));
        ALTER TABLE reporting_deal_daily DROP COLUMN lp_cost_usd;
        DROP TABLE reporting_lp_commissions;
        DROP TABLE reporting_client_daily;
        """
    )
