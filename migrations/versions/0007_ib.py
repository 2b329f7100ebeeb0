"""IB network: partners, effective-dated tree (edges + closure), referral links, client attribution,
versioned commission plans, commission lines (immutable), processed batches, payouts.

Revision ID: 0007_ib
Revises: 0004_trading, 0005_ledger
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0007_ib"
down_revision = ("0004_trading", "0005_ledger")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE ib_partners (
            user_id bigint PRIMARY KEY REFERENCES users(id),
            status varchar(16) NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'approved', 'rejected', 'suspended')),
            requested_parent_id bigint REFERENCES users(id),
            application_note text NOT NULL DEFAULT '',
            payout_cycle varchar(8) NOT NULL DEFAULT 'monthly' CHECK (payout_cycle IN ('daily', 'weekly', 'monthly')),
            payout_min numeric(20, 8) NOT NULL DEFAULT 0 CHECK (payout_min >= 0),
            payout_hold boolean NOT NULL DEFAULT false,
            visible_depth integer NOT NULL DEFAULT 3 CHECK (visible_depth >= 0),
            show_client_pii boolean NOT NULL DEFAULT false,
            applied_at timestamptz NOT NULL DEFAULT now(),
            decided_at timestamptz,
            decided_by bigint REFERENCES users(id)
        );

        -- Parent history; the closure below is derived from it and is what queries read.
        CREATE TABLE ib_tree_edges (
            id bigserial PRIMARY KEY,
            ib_id bigint NOT NULL REFERENCES ib_partners(user_id),
            parent_id bigint REFERENCES ib_partners(user_id),
            valid_from timestamptz NOT NULL,
            valid_to timestamptz,
            reason text NOT NULL DEFAULT '',
            CONSTRAINT ck_ib_tree_edges_range CHECK (valid_to IS NULL OR valid_to > valid_from),
            CONSTRAINT ck_ib_tree_edges_self CHECK (parent_id IS NULL OR parent_id <> ib_id)
        );
        CREATE UNIQUE INDEX uq_ib_tree_edges_current ON ib_tree_edges (ib_id) WHERE valid_to IS NULL;
        CREATE INDEX ix_ib_tree_edges_parent ON ib_tree_edges (parent_id) WHERE valid_to IS NULL;

        -- Effective-dated closure: (ancestor, descendant, depth) holds during [valid_from, valid_to).
        CREATE TABLE ib_closure (
            ancestor_id bigint NOT NULL,
            descendant_id bigint NOT NULL,
            depth integer NOT NULL CHECK (depth >= 0),
            valid_from timestamptz NOT NULL,
            valid_to timestamptz,
            PRIMARY KEY (ancestor_id, descendant_id, valid_from),
            CONSTRAINT ck_ib_closure_range CHECK (valid_to IS NULL OR valid_to > valid_from)
        );
        CREATE INDEX ix_ib_closure_descendant ON ib_closure (descendant_id, valid_from)
            INCLUDE (ancestor_id, depth, valid_to);
        CREATE INDEX ix_ib_closure_current ON ib_closure (ancestor_id, depth) INCLUDE (descendant_id)
            WHERE valid_to IS NULL;

        CREATE TABLE ib_referral_links (
            id bigserial PRIMARY KEY,
            ib_id bigint NOT NULL REFERENCES ib_partners(user_id),
            code varchar(32) NOT NULL UNIQUE,
            campaign varchar(80) NOT NULL DEFAULT '',
            clicks bigint NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            disabled_at timestamptz
        );
        CREATE INDEX ix_ib_referral_links_ib ON ib_referral_links (ib_id);

        CREATE TABLE ib_client_attributions (
            id bigserial PRIMARY KEY,
            client_id bigint NOT NULL REFERENCES users(id),
            ib_id bigint NOT NULL REFERENCES ib_partners(user_id),
            link_id bigint REFERENCES ib_referral_links(id),
            source varchar(16) NOT NULL CHECK (source IN ('registration', 'reassignment')),
            valid_from timestamptz NOT NULL,
            valid_to timestamptz,
            reason text NOT NULL DEFAULT '',
            created_by bigint REFERENCES users(id),
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ck_ib_client_attributions_range CHECK (valid_to IS NULL OR valid_to > valid_from)
        );
        CREATE UNIQUE INDEX uq_ib_client_attributions_current ON ib_client_attributions (client_id)
            WHERE valid_to IS NULL;
        CREATE INDEX ix_ib_client_attributions_client ON ib_client_attributions (client_id, valid_from)
            INCLUDE (ib_id, valid_to);
        CREATE INDEX ix_ib_client_attributions_ib ON ib_client_attributions (ib_id) WHERE valid_to IS NULL;

        CREATE TABLE ib_plans (
            id bigserial PRIMARY KEY,
            name varchar(120) NOT NULL UNIQUE,
            currency varchar(8) NOT NULL,
            scale smallint NOT NULL CHECK (scale BETWEEN 0 AND 18),
            is_default boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX uq_ib_plans_default ON ib_plans (is_default) WHERE is_default;

        CREATE TABLE ib_plan_versions (
            id bigserial PRIMARY KEY,
            plan_id bigint NOT NULL REFERENCES ib_plans(id),
            version integer NOT NULL,
            distribution varchar(8) NOT NULL CHECK (distribution IN ('override', 'percent')),
            valid_from timestamptz NOT NULL,
            valid_to timestamptz,
            created_by bigint REFERENCES users(id),
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_ib_plan_versions_version UNIQUE (plan_id, version),
            CONSTRAINT ck_ib_plan_versions_range CHECK (valid_to IS NULL OR valid_to > valid_from)
        );
        CREATE INDEX ix_ib_plan_versions_plan ON ib_plan_versions (plan_id, valid_from);

        -- payout_rates[level + 1] is what that level earns per unit of the clause's quantity; it is
        -- derived from level_rates/base_rate when the version is created and capped by max_total.
        CREATE TABLE ib_plan_clauses (
            version_id bigint NOT NULL REFERENCES ib_plan_versions(id),
            clause_no smallint NOT NULL,
            kind varchar(20) NOT NULL CHECK (kind IN ('per_lot', 'spread_share', 'commission_share',
                'revenue_share', 'cpa')),
            base_rate numeric(28, 10) NOT NULL,
            level_rates numeric(28, 10)[] NOT NULL,
            payout_rates numeric(28, 10)[] NOT NULL,
            max_total numeric(28, 10) NOT NULL,
            symbols text[],
            excluded_symbols text[] NOT NULL DEFAULT '{}',
            account_groups text[],
            excluded_logins bigint[] NOT NULL DEFAULT '{}',
            side varchar(5) NOT NULL DEFAULT 'both' CHECK (side IN ('open', 'close', 'both')),
            lot_modifier numeric(20, 8) NOT NULL DEFAULT 1,
            markup_pips numeric(20, 8) NOT NULL DEFAULT 0,
            min_hold_seconds integer NOT NULL DEFAULT 0,
            params jsonb NOT NULL DEFAULT '{}',
            PRIMARY KEY (version_id, clause_no)
        );

        CREATE TABLE ib_plan_assignments (
            id bigserial PRIMARY KEY,
            ib_id bigint NOT NULL REFERENCES ib_partners(user_id),
            plan_id bigint NOT NULL REFERENCES ib_plans(id),
            valid_from timestamptz NOT NULL,
            valid_to timestamptz,
            reason text NOT NULL DEFAULT '',
            created_by bigint REFERENCES users(id),
            CONSTRAINT ck_ib_plan_assignments_range CHECK (valid_to IS NULL OR valid_to > valid_from)
        );
        CREATE UNIQUE INDEX uq_ib_plan_assignments_current ON ib_plan_assignments (ib_id) WHERE valid_to IS NULL;
        CREATE INDEX ix_ib_plan_assignments_ib ON ib_plan_assignments (ib_id, valid_from);

        -- Per-account payout flag: accounts listed with commission_enabled = false earn nothing.
        CREATE TABLE ib_account_flags (
            account_id bigint PRIMARY KEY REFERENCES trading_accounts(id),
            commission_enabled boolean NOT NULL
        );

        CREATE TABLE ib_commission_lines (
            id bigserial PRIMARY KEY,
            kind varchar(12) NOT NULL CHECK (kind IN ('accrual', 'adjustment', 'clawback')),
            seq integer NOT NULL DEFAULT 0,
            source varchar(10) NOT NULL CHECK (source IN ('deal', 'cpa', 'revshare')),
            server_id bigint,
            deal_id bigint,
            deal_time timestamptz(3) NOT NULL,
            batch_id uuid,
            run_id uuid,
            client_id bigint NOT NULL,
            account_id bigint,
            login bigint,
            symbol varchar(32),
            volume numeric(20, 8),
            ib_id bigint NOT NULL,
            level integer NOT NULL CHECK (level >= 0),
            direct_ib_id bigint NOT NULL,
            plan_id bigint NOT NULL,
            plan_version_id bigint NOT NULL,
            clause_no smallint NOT NULL,
            clause_kind varchar(20) NOT NULL,
            formula text NOT NULL,
            inputs jsonb NOT NULL,
            quantity numeric(28, 10) NOT NULL,
            rate numeric(28, 10) NOT NULL,
            fx_rate numeric(24, 12) NOT NULL,
            amount numeric(20, 8) NOT NULL,
            currency varchar(8) NOT NULL,
            reason text,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX uq_ib_commission_lines_deal ON ib_commission_lines
            (server_id, deal_id, ib_id, level, plan_version_id, clause_no, seq) WHERE source = 'deal';
        -- CPA: once per client, never twice (whatever plan or IB).
        CREATE UNIQUE INDEX uq_ib_commission_lines_cpa ON ib_commission_lines (client_id, level, seq)
            WHERE source = 'cpa';
        CREATE INDEX ix_ib_commission_lines_ib ON ib_commission_lines (ib_id, deal_time);
        CREATE INDEX ix_ib_commission_lines_batch ON ib_commission_lines (batch_id) WHERE batch_id IS NOT NULL;
        CREATE INDEX ix_ib_commission_lines_time ON ib_commission_lines USING brin (deal_time);

        CREATE FUNCTION ib_lines_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'commission lines are append-only (% on %)', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'restrict_violation';
        END $$;
        CREATE TRIGGER ib_commission_lines_immutable BEFORE UPDATE OR DELETE ON ib_commission_lines
            FOR EACH ROW EXECUTE FUNCTION ib_lines_immutable();

        -- Banker's rounding, as domain.shared.money.round_to does in Python.
        CREATE FUNCTION ib_round_half_even(v numeric, s integer) RETURNS numeric
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT round(CASE WHEN abs(v * p - trunc(v * p)) = 0.5 AND mod(trunc(v * p), 2) = 0
                              THEN trunc(v * p) ELSE round(v * p) END / p, s)
            FROM (SELECT power(10::numeric, s) AS p) x
        $$;

        -- One row per deal batch the engine consumed: the idempotency record of the job.
        CREATE TABLE ib_batches (
            batch_id uuid PRIMARY KEY,
            server_id bigint NOT NULL,
            event_id bigint,
            deals integer NOT NULL,
            lines integer NOT NULL,
            unpriced integer NOT NULL,
            entry_ids bigint[] NOT NULL DEFAULT '{}',
            processed_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_ib_batches_event ON ib_batches (event_id);

        CREATE TABLE ib_payouts (
            id bigserial PRIMARY KEY,
            ib_id bigint NOT NULL REFERENCES ib_partners(user_id),
            currency varchar(8) NOT NULL,
            period_key varchar(16) NOT NULL,
            amount numeric(20, 8) NOT NULL CHECK (amount > 0),
            status varchar(8) NOT NULL CHECK (status IN ('held', 'paid')),
            entry_id bigint,
            created_at timestamptz NOT NULL DEFAULT now(),
            paid_at timestamptz,
            CONSTRAINT uq_ib_payouts_period UNIQUE (ib_id, currency, period_key)
        );
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE ib_payouts; DROP TABLE ib_batches; DROP FUNCTION ib_round_half_even(numeric, integer); "
        "DROP TABLE ib_commission_lines; DROP FUNCTION ib_lines_immutable(); DROP TABLE ib_account_flags; "
        "DROP TABLE ib_plan_assignments; DROP TABLE ib_plan_clauses; DROP TABLE ib_plan_versions; "
        "DROP TABLE ib_plans; DROP TABLE ib_client_attributions; DROP TABLE ib_referral_links; "
        "DROP TABLE ib_closure; DROP TABLE ib_tree_edges; DROP TABLE ib_partners;"
    )
