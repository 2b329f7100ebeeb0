"""Transaction monitoring (domain/compliance/aml): scenarios of scored rules kept as data, their
versions (one draft, immutable committed versions, one live), four-eyes activation requests,
custom lists, the decisions the engine took (with the rule values that produced them) and the
cases their alerts open or join.

- aml_scenario_versions: a committed version can no longer change (a trigger refuses it), nor can
  a committed version be deleted; one draft per scenario (partial unique index).
- aml_decisions: one row per scenario evaluated on an event; `explain` keeps each rule's values;
  `hold_id` is the ledger hold (ledger_holds) that keeps the money while the decision is reviewed.
- aml_cases: at most one open case per client and team (partial unique index); an alert joins it.

Revision ID: 0041_aml
Revises: 0024_four_eyes
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0041_aml"
down_revision = "0024_four_eyes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE aml_scenarios (
            id bigserial PRIMARY KEY,
            name varchar(120) NOT NULL UNIQUE,
            description text NOT NULL DEFAULT '',
            team varchar(64) NOT NULL DEFAULT 'compliance',
            live_version_id bigint,
            created_by bigint REFERENCES users(id),
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE aml_scenario_versions (
            id bigserial PRIMARY KEY,
            scenario_id bigint NOT NULL REFERENCES aml_scenarios(id),
            version integer,
            status varchar(12) NOT NULL CHECK (status IN ('draft', 'committed')),
            document jsonb NOT NULL,
            triggers text[] NOT NULL,
            created_by bigint REFERENCES users(id),
            created_at timestamptz NOT NULL DEFAULT now(),
            committed_at timestamptz,
            CHECK ((status = 'draft') = (version IS NULL)),
            UNIQUE (scenario_id, version)
        );
        CREATE UNIQUE INDEX ux_aml_one_draft ON aml_scenario_versions (scenario_id) WHERE status = 'draft';
        ALTER TABLE aml_scenarios ADD CONSTRAINT fk_aml_live_version
            FOREIGN KEY (live_version_id) REFERENCES aml_scenario_versions(id);

        CREATE FUNCTION aml_version_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.status = 'committed' THEN
                RAISE EXCEPTION 'committed scenario versions are immutable' USING ERRCODE = 'check_violation';
            END IF;
            IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER tr_aml_version_immutable BEFORE UPDATE OR DELETE ON aml_scenario_versions
            FOR EACH ROW EXECUTE FUNCTION aml_version_immutable();

        CREATE TABLE aml_activation_requests (
            id bigserial PRIMARY KEY,
            scenario_id bigint NOT NULL REFERENCES aml_scenarios(id),
            version_id bigint NOT NULL REFERENCES aml_scenario_versions(id),
            requested_by bigint NOT NULL REFERENCES users(id),
            reason text NOT NULL,
            status varchar(12) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
            decided_by bigint REFERENCES users(id),
            decision_reason text,
            created_at timestamptz NOT NULL DEFAULT now(),
            decided_at timestamptz
        );
        CREATE UNIQUE INDEX ux_aml_activation_pending ON aml_activation_requests (scenario_id)
            WHERE status = 'pending';
        CREATE INDEX ix_aml_activation_newest ON aml_activation_requests (created_at, id);

        CREATE TABLE aml_lists (
            name varchar(64) PRIMARY KEY,
            entries text[] NOT NULL,
            updated_by bigint REFERENCES users(id),
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE aml_cases (
            id bigserial PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES users(id),
            team varchar(64) NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'investigating', 'escalated', 'closed')),
            assignee_id bigint REFERENCES users(id),
            outcome varchar(20) CHECK (outcome IN ('false_positive', 'valuable_alert', 'risk_confirmed')),
            closing_note text,
            alert_count integer NOT NULL DEFAULT 0,
            sla_due_at timestamptz NOT NULL,
            opened_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            closed_at timestamptz,
            CHECK ((status = 'closed') = (outcome IS NOT NULL))
        );
        CREATE UNIQUE INDEX ux_aml_case_open ON aml_cases (user_id, team) WHERE status <> 'closed';
        CREATE INDEX ix_aml_cases_inbox ON aml_cases (team, status, opened_at, id);
        CREATE INDEX ix_aml_cases_assignee ON aml_cases (assignee_id, opened_at, id);

        CREATE TABLE aml_case_notes (
            id bigserial PRIMARY KEY,
            case_id bigint NOT NULL REFERENCES aml_cases(id),
            author_id bigint NOT NULL REFERENCES users(id),
            body text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_aml_case_notes_case ON aml_case_notes (case_id, created_at, id);

        -- No foreign keys to payments or ledger_holds: a decision is written inside the money
        -- movement's own transaction and must not take row locks the movement does not take.
        CREATE TABLE aml_decisions (
            id bigserial PRIMARY KEY,
            scenario_id bigint NOT NULL REFERENCES aml_scenarios(id),
            version_id bigint NOT NULL REFERENCES aml_scenario_versions(id),
            user_id bigint NOT NULL,
            trigger varchar(16) NOT NULL,
            payment_id bigint,
            event jsonb NOT NULL,
            score numeric(20, 4) NOT NULL,
            outcome varchar(8) NOT NULL CHECK (outcome IN ('allow', 'review', 'block', 'decline')),
            explain jsonb NOT NULL,
            hold_id bigint,
            hold_status varchar(10) CHECK (hold_status IN ('held', 'released', 'declined')),
            case_id bigint REFERENCES aml_cases(id),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_aml_decisions_payment ON aml_decisions (payment_id) WHERE payment_id IS NOT NULL;
        CREATE INDEX ix_aml_decisions_user ON aml_decisions (user_id, created_at, id);
        CREATE INDEX ix_aml_decisions_case ON aml_decisions (case_id, created_at, id) WHERE case_id IS NOT NULL;
        CREATE INDEX ix_aml_decisions_alerts ON aml_decisions (created_at, id) WHERE outcome <> 'allow';
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP TABLE aml_decisions; DROP TABLE aml_case_notes; DROP TABLE aml_cases; DROP TABLE aml_lists;
        DROP TABLE aml_activation_requests;
        ALTER TABLE aml_scenarios DROP CONSTRAINT fk_aml_live_version;
        DROP TRIGGER tr_aml_version_immutable ON aml_scenario_versions;
        DROP TABLE aml_scenario_versions; DROP TABLE aml_scenarios;
        DROP FUNCTION aml_version_immutable();
        """
    )
