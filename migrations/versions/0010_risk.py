"""Risk: incremental exposure cube (kept by triggers on trading_positions / trading_accounts), prices,
group books, limits and alerts, processed batches, trade log, client metrics, economic calendar,
detector thresholds, flags, account links, exposure snapshots, segmentation rules and assignments.

Revision ID: 0010_risk
Revises: 0004_trading
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0010_risk"
down_revision = "0004_trading"
branch_labels = None
depends_on = None

# The cube delta of a set of position rows: signed lots and signed open value per
# (server, symbol, account group, client country). Country comes from clients (0006) at run time:
# plpgsql resolves tables when it runs, and `forexcrm migrate` always upgrades to every head.
_DELTA = """
    SELECT p.server_id, p.symbol, COALESCE(a."group", '') AS grp, COALESCE(c.country, '') AS country,
        SUM(s.sign * p.volume) AS lots,
        SUM(CASE WHEN p.side = 'BUY' THEN p.volume ELSE 0 END) AS long_lots,
        SUM(CASE WHEN p.side = 'SELL' THEN p.volume ELSE 0 END) AS short_lots,
        SUM(s.sign * p.volume * CASE WHEN p.in_volume > 0 THEN p.in_value / p.in_volume ELSE 0 END) AS val,
        COUNT(*) FILTER (WHERE p.volume <> 0) AS n
    FROM {src} p
    CROSS JOIN LATERAL (SELECT CASE WHEN p.side = 'BUY' THEN 1 ELSE -1 END AS sign) s
    LEFT JOIN trading_accounts a ON a.id = p.account_id
    LEFT JOIN clients c ON c.user_id = a.user_id
    GROUP BY 1, 2, 3, 4
"""


def _apply(sql_sign: str, src: str) -> str:
    return f"""
        INSERT INTO risk_exposure AS e (server_id, symbol, grp, country, net_lots, long_lots, short_lots,
            open_value, positions, updated_at)
        SELECT server_id, symbol, grp, country, {sql_sign} lots, {sql_sign} long_lots, {sql_sign} short_lots,
            {sql_sign} val, {sql_sign} n, now()
        FROM ({_DELTA.format(src=src)}) d
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (server_id, symbol, grp, country) DO UPDATE SET
            net_lots = e.net_lots + excluded.net_lots, long_lots = e.long_lots + excluded.long_lots,
            short_lots = e.short_lots + excluded.short_lots, open_value = e.open_value + excluded.open_value,
            positions = e.positions + excluded.positions, updated_at = now();
    """  # noqa: S608 - constant SQL fragments


def upgrade() -> None:
    run_sql(
        f"""
        CREATE TABLE risk_exposure (
            server_id bigint NOT NULL,
            symbol varchar(32) NOT NULL,
            grp varchar(64) NOT NULL,
            country varchar(2) NOT NULL,
            net_lots numeric(24, 8) NOT NULL DEFAULT 0,
            long_lots numeric(24, 8) NOT NULL DEFAULT 0,
            short_lots numeric(24, 8) NOT NULL DEFAULT 0,
            open_value numeric(36, 12) NOT NULL DEFAULT 0,
            positions bigint NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (server_id, symbol, grp, country)
        );

        CREATE FUNCTION risk_positions_ins() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN {_apply('', 'new_rows')} RETURN NULL; END $$;
        CREATE FUNCTION risk_positions_del() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN {_apply('-', 'old_rows')} RETURN NULL; END $$;
        CREATE FUNCTION risk_positions_upd() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN {_apply('-', 'old_rows')} {_apply('', 'new_rows')} RETURN NULL; END $$;
        CREATE TRIGGER risk_exposure_ins AFTER INSERT ON trading_positions
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION risk_positions_ins();
        CREATE TRIGGER risk_exposure_del AFTER DELETE ON trading_positions
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION risk_positions_del();
        CREATE TRIGGER risk_exposure_upd AFTER UPDATE ON trading_positions
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION risk_positions_upd();

        -- A group move re-keys the account's open positions: out of the old group, into the new one.
        CREATE FUNCTION risk_account_group_moved() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW."group" IS DISTINCT FROM OLD."group" THEN
                INSERT INTO risk_exposure AS e (server_id, symbol, grp, country, net_lots, long_lots,
                    short_lots, open_value, positions, updated_at)
                SELECT d.server_id, d.symbol, g.grp, d.country, g.sign * d.lots, g.sign * d.long_lots,
                    g.sign * d.short_lots, g.sign * d.val, g.sign * d.n, now()
                FROM (
                    SELECT p.server_id, p.symbol, COALESCE(c.country, '') AS country,
                        SUM(CASE WHEN p.side = 'BUY' THEN p.volume ELSE -p.volume END) AS lots,
                        SUM(CASE WHEN p.side = 'BUY' THEN p.volume ELSE 0 END) AS long_lots,
                        SUM(CASE WHEN p.side = 'SELL' THEN p.volume ELSE 0 END) AS short_lots,
                        SUM(CASE WHEN p.side = 'BUY' THEN 1 ELSE -1 END * p.volume
                            * CASE WHEN p.in_volume > 0 THEN p.in_value / p.in_volume ELSE 0 END) AS val,
                        COUNT(*) FILTER (WHERE p.volume <> 0) AS n
                    FROM trading_positions p LEFT JOIN clients c ON c.user_id = NEW.user_id
                    WHERE p.account_id = NEW.id GROUP BY 1, 2, 3
                ) d
                CROSS JOIN (VALUES (OLD."group", -1), (NEW."group", 1)) g(grp, sign)
                ORDER BY 1, 2, 3, 4
                ON CONFLICT (server_id, symbol, grp, country) DO UPDATE SET
                    net_lots = e.net_lots + excluded.net_lots, long_lots = e.long_lots + excluded.long_lots,
                    short_lots = e.short_lots + excluded.short_lots,
                    open_value = e.open_value + excluded.open_value,
                    positions = e.positions + excluded.positions, updated_at = now();
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER risk_exposure_group AFTER UPDATE OF "group" ON trading_accounts
            FOR EACH ROW EXECUTE FUNCTION risk_account_group_moved();

        -- Group moves find an account's positions; top clients read one symbol's positions.
        CREATE INDEX ix_trading_positions_account ON trading_positions (account_id);
        CREATE INDEX ix_trading_positions_symbol ON trading_positions (symbol);

        CREATE TABLE risk_prices (
            server_id bigint NOT NULL,
            symbol varchar(32) NOT NULL,
            price numeric(20, 8) NOT NULL CHECK (price > 0),
            price_time timestamptz(3) NOT NULL,
            PRIMARY KEY (server_id, symbol)
        );

        CREATE TABLE risk_group_books (
            server_id bigint NOT NULL,
            grp varchar(64) NOT NULL,
            book varchar(6) NOT NULL CHECK (book IN ('A', 'B', 'HYBRID')),
            a_book_pct numeric(5, 2) NOT NULL CHECK (a_book_pct BETWEEN 0 AND 100),
            PRIMARY KEY (server_id, grp)
        );

        CREATE TABLE risk_limits (
            id bigserial PRIMARY KEY,
            scope varchar(12) NOT NULL CHECK (scope IN ('symbol', 'asset_class')),
            key varchar(32) NOT NULL,
            max_net_lots numeric(24, 8) CHECK (max_net_lots > 0),
            max_notional_usd numeric(24, 2) CHECK (max_notional_usd > 0),
            updated_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (scope, key),
            CHECK (max_net_lots IS NOT NULL OR max_notional_usd IS NOT NULL)
        );

        CREATE TABLE risk_alerts (
            id bigserial PRIMARY KEY,
            limit_id bigint NOT NULL REFERENCES risk_limits(id) ON DELETE CASCADE,
            measure varchar(16) NOT NULL,
            observed numeric(28, 8) NOT NULL,
            threshold numeric(28, 8) NOT NULL,
            opened_at timestamptz NOT NULL DEFAULT now(),
            cleared_at timestamptz
        );
        CREATE UNIQUE INDEX uq_risk_alerts_open ON risk_alerts (limit_id, measure) WHERE cleared_at IS NULL;

        CREATE TABLE risk_batches (
            batch_id uuid PRIMARY KEY,
            server_id bigint NOT NULL,
            deals integer NOT NULL,
            flags integer NOT NULL DEFAULT 0,
            processed_at timestamptz NOT NULL DEFAULT now()
        );

        -- One row per position, both halves: the trade log metrics and detectors read.
        CREATE TABLE risk_trades (
            server_id bigint NOT NULL,
            position_id bigint NOT NULL,
            account_id bigint,
            login bigint NOT NULL,
            symbol varchar(32) NOT NULL,
            side varchar(4),
            lots numeric(20, 8),
            open_deal bigint,
            open_ms bigint,
            open_price numeric(20, 8),
            close_deal bigint,
            close_ms bigint,
            close_price numeric(20, 8),
            profit numeric(20, 8),
            counted boolean NOT NULL DEFAULT false,
            PRIMARY KEY (server_id, position_id)
        );
        CREATE INDEX ix_risk_trades_account ON risk_trades (account_id, open_ms);
        CREATE INDEX ix_risk_trades_symbol_open ON risk_trades (server_id, symbol, open_ms);

        CREATE TABLE risk_account_metrics (
            account_id bigint PRIMARY KEY,
            server_id bigint NOT NULL,
            login bigint NOT NULL,
            user_id bigint,
            opens bigint NOT NULL DEFAULT 0,
            closed bigint NOT NULL DEFAULT 0,
            wins bigint NOT NULL DEFAULT 0,
            gross_profit numeric(24, 8) NOT NULL DEFAULT 0,
            gross_loss numeric(24, 8) NOT NULL DEFAULT 0,
            hold_ms_sum bigint NOT NULL DEFAULT 0,
            hold_lt_5s bigint NOT NULL DEFAULT 0,
            hold_lt_1m bigint NOT NULL DEFAULT 0,
            hold_lt_10m bigint NOT NULL DEFAULT 0,
            hold_lt_1h bigint NOT NULL DEFAULT 0,
            hold_ge_1h bigint NOT NULL DEFAULT 0,
            volume_lots numeric(24, 8) NOT NULL DEFAULT 0,
            news_opens bigint NOT NULL DEFAULT 0,
            deposits numeric(24, 8) NOT NULL DEFAULT 0,
            withdrawals numeric(24, 8) NOT NULL DEFAULT 0,
            first_ms bigint,
            last_ms bigint,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_risk_account_metrics_user ON risk_account_metrics (user_id);

        CREATE TABLE risk_calendar (
            id bigserial PRIMARY KEY,
            at timestamptz(3) NOT NULL,
            currency varchar(8) NOT NULL,
            impact varchar(8) NOT NULL CHECK (impact IN ('low', 'medium', 'high')),
            title varchar(200) NOT NULL,
            UNIQUE (at, currency, title)
        );
        CREATE INDEX ix_risk_calendar_high ON risk_calendar (at) WHERE impact = 'high';

        -- '*' matches any group / symbol; the most specific row wins, then the code's defaults.
        CREATE TABLE risk_thresholds (
            detector varchar(24) NOT NULL,
            grp varchar(64) NOT NULL DEFAULT '*',
            symbol varchar(32) NOT NULL DEFAULT '*',
            params jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (detector, grp, symbol)
        );

        CREATE TABLE risk_flags (
            id bigserial PRIMARY KEY,
            account_id bigint NOT NULL,
            server_id bigint NOT NULL,
            login bigint NOT NULL,
            user_id bigint,
            detector varchar(24) NOT NULL,
            status varchar(12) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'confirmed', 'dismissed')),
            score numeric(6, 2) NOT NULL,
            evidence jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            review_note text
        );
        CREATE UNIQUE INDEX uq_risk_flags_active ON risk_flags (account_id, detector) WHERE status <> 'dismissed';
        CREATE INDEX ix_risk_flags_queue ON risk_flags (created_at DESC, id DESC) WHERE status = 'open';

        CREATE TABLE risk_account_links (
            account_a bigint NOT NULL,
            account_b bigint NOT NULL,
            kind varchar(16) NOT NULL CHECK (kind IN ('ip', 'device', 'payment', 'kyc', 'manual')),
            detail varchar(200) NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (account_a, account_b, kind),
            CHECK (account_a < account_b)
        );

        CREATE TABLE risk_exposure_snapshots (
            taken_at timestamptz NOT NULL,
            server_id bigint NOT NULL,
            symbol varchar(32) NOT NULL,
            grp varchar(64) NOT NULL,
            country varchar(2) NOT NULL,
            net_lots numeric(24, 8) NOT NULL,
            open_value numeric(36, 12) NOT NULL,
            price numeric(20, 8),
            PRIMARY KEY (taken_at, server_id, symbol, grp, country)
        );

        CREATE TABLE risk_segment_rules (
            id bigserial PRIMARY KEY,
            name varchar(80) NOT NULL UNIQUE,
            priority integer NOT NULL,
            condition jsonb NOT NULL,
            book varchar(6) NOT NULL CHECK (book IN ('A', 'B', 'HYBRID')),
            a_book_pct numeric(5, 2) NOT NULL CHECK (a_book_pct BETWEEN 0 AND 100),
            enabled boolean NOT NULL DEFAULT true
        );

        CREATE TABLE risk_assignments (
            id bigserial PRIMARY KEY,
            account_id bigint NOT NULL,
            book varchar(6) NOT NULL CHECK (book IN ('A', 'B', 'HYBRID')),
            a_book_pct numeric(5, 2) NOT NULL,
            source varchar(8) NOT NULL CHECK (source IN ('rule', 'override')),
            rule_id bigint,
            reason text NOT NULL DEFAULT '',
            evidence jsonb NOT NULL DEFAULT '{{}}',
            effective_at timestamptz NOT NULL DEFAULT now(),
            target_group varchar(64),
            sync_status varchar(8) NOT NULL DEFAULT 'pending'
                CHECK (sync_status IN ('pending', 'synced', 'failed', 'none')),
            sync_attempts integer NOT NULL DEFAULT 0,
            sync_error text
        );
        CREATE INDEX ix_risk_assignments_account ON risk_assignments (account_id, effective_at DESC, id DESC);
        CREATE INDEX ix_risk_assignments_sync ON risk_assignments (id) WHERE sync_status = 'pending';
        """  # noqa: S608 - constant SQL fragments
    )


def downgrade() -> None:
    run_sql(
        """
        DROP TRIGGER risk_exposure_group ON trading_accounts;
        DROP TRIGGER risk_exposure_ins ON trading_positions;
        DROP TRIGGER risk_exposure_del ON trading_positions;
        DROP TRIGGER risk_exposure_upd ON trading_positions;
        DROP FUNCTION risk_account_group_moved(); DROP FUNCTION risk_positions_ins();
        DROP FUNCTION risk_positions_del(); DROP FUNCTION risk_positions_upd();
        DROP INDEX ix_trading_positions_account; DROP INDEX ix_trading_positions_symbol;
        DROP TABLE risk_assignments; DROP TABLE risk_segment_rules; DROP TABLE risk_exposure_snapshots;
        DROP TABLE risk_account_links; DROP TABLE risk_flags; DROP TABLE risk_thresholds;
        DROP TABLE risk_calendar; DROP TABLE risk_account_metrics; DROP TABLE risk_trades;
        DROP TABLE risk_batches; DROP TABLE risk_alerts; DROP TABLE risk_limits;
        DROP TABLE risk_group_books; DROP TABLE risk_prices; DROP TABLE risk_exposure;
        """
    )
