"""Clients: brokerage configuration, leads, clients and their status history, documents,
questionnaires, communications, approvals, live-account requests; compliance screening lists,
entities and results.

Revision ID: 0006_clients
Revises: 0001_foundation
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0006_clients"
down_revision = ("0003_audit", "0004_trading")
branch_labels = None
depends_on = None

STATUSES = (
    "'lead','registered','email_verified','profile_complete','documents_submitted','under_review',"
    "'approved','rejected','more_info_required','active','dormant','closed','blocked'"
)


def upgrade() -> None:
    run_sql(
        f"""
        -- Brokerage configuration (set by config.manage, audited).
        CREATE TABLE brokerage_settings (
            key varchar(64) PRIMARY KEY,
            value jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE brokerage_jurisdictions (
            country char(2) PRIMARY KEY,
            served boolean NOT NULL DEFAULT true,
            regulated boolean NOT NULL DEFAULT false,
            regulator varchar(64) NOT NULL DEFAULT '',
            high_risk boolean NOT NULL DEFAULT false,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE brokerage_account_types (
            code varchar(32) PRIMARY KEY,
            name varchar(120) NOT NULL,
            pricing varchar(16) NOT NULL CHECK (pricing IN ('spread', 'commission', 'markup')),
            commission_per_lot numeric(20, 8) NOT NULL DEFAULT 0,
            markup_pips numeric(20, 8) NOT NULL DEFAULT 0,
            currencies varchar(8)[] NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE brokerage_group_map (
            id bigserial PRIMARY KEY,
            jurisdiction char(2) NOT NULL,
            account_type varchar(32) NOT NULL REFERENCES brokerage_account_types(code),
            currency varchar(8) NOT NULL,
            book char(1) NOT NULL CHECK (book IN ('A', 'B')),
            risk_category varchar(16) NOT NULL,
            server_id bigint NOT NULL REFERENCES trading_servers(id),
            group_name varchar(64) NOT NULL,
            CONSTRAINT uq_brokerage_group_map UNIQUE (jurisdiction, account_type, currency, book, risk_category)
        );
        -- scope 'jurisdiction' (key = country) caps per asset class; scope 'risk' (key = risk
        -- category) caps every asset class ('*') or one.
        CREATE TABLE brokerage_leverage_caps (
            scope varchar(16) NOT NULL CHECK (scope IN ('jurisdiction', 'risk')),
            key varchar(16) NOT NULL,
            asset_class varchar(32) NOT NULL,
            max_leverage integer NOT NULL CHECK (max_leverage > 0),
            PRIMARY KEY (scope, key, asset_class)
        );

        CREATE TABLE sales_rules (
            id bigserial PRIMARY KEY,
            priority integer NOT NULL DEFAULT 100,
            country char(2),
            language varchar(8),
            desk varchar(64) NOT NULL,
            assignees bigint[] NOT NULL,
            next_index integer NOT NULL DEFAULT 0
        );

        CREATE TABLE leads (
            id bigserial PRIMARY KEY,
            email varchar(254) NOT NULL,
            email_normalized varchar(254) NOT NULL UNIQUE,
            first_name varchar(100) NOT NULL DEFAULT '',
            last_name varchar(100) NOT NULL DEFAULT '',
            country char(2),
            language varchar(8),
            first_touch jsonb NOT NULL,
            desk varchar(64),
            assigned_to bigint REFERENCES users(id),
            client_id bigint,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE lead_touches (
            id bigserial PRIMARY KEY,
            lead_id bigint NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
            attribution jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_lead_touches_lead ON lead_touches (lead_id, id);

        CREATE TABLE clients (
            id bigserial PRIMARY KEY,
            user_id bigint NOT NULL UNIQUE REFERENCES users(id),
            status varchar(24) NOT NULL CHECK (status IN ({STATUSES})),
            kind varchar(16) NOT NULL DEFAULT 'individual' CHECK (kind IN ('individual', 'corporate')),
            desk varchar(64),
            lead_id bigint REFERENCES leads(id),
            attribution jsonb NOT NULL DEFAULT '{{}}',
            profile jsonb NOT NULL DEFAULT '{{}}',
            country char(2),
            first_name varchar(100) NOT NULL DEFAULT '',
            last_name varchar(100) NOT NULL DEFAULT '',
            date_of_birth date,
            account_type varchar(32) NOT NULL DEFAULT 'standard',
            currency varchar(8) NOT NULL DEFAULT 'USD',
            risk_category varchar(16),
            risk_level varchar(8),
            blocked_products varchar(32)[] NOT NULL DEFAULT '{{}}',
            review_round integer NOT NULL DEFAULT 0,
            submitted_by bigint REFERENCES users(id),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_clients_status ON clients (status, created_at, id);
        CREATE INDEX ix_clients_desk ON clients (desk, created_at, id);

        CREATE TABLE client_status_history (
            id bigserial PRIMARY KEY,
            client_id bigint NOT NULL REFERENCES clients(id),
            from_status varchar(24),
            to_status varchar(24) NOT NULL,
            actor_kind varchar(16) NOT NULL,
            actor_user_id bigint,
            reason text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_client_status_history_client ON client_status_history (client_id, id);

        CREATE TABLE client_documents (
            id bigserial PRIMARY KEY,
            client_id bigint NOT NULL REFERENCES clients(id),
            kind varchar(32) NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'accepted', 'rejected', 'expired')),
            reject_reason text,
            filename varchar(200) NOT NULL,
            content_type varchar(100) NOT NULL,
            size_bytes integer NOT NULL CHECK (size_bytes > 0),
            sha256 char(64) NOT NULL,
            storage_key varchar(200) NOT NULL UNIQUE,
            expires_on date,
            uploaded_by bigint,
            reviewed_by bigint,
            reviewed_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_client_documents_client ON client_documents (client_id, id);

        CREATE TABLE questionnaires (
            id bigserial PRIMARY KEY,
            version integer NOT NULL UNIQUE,
            definition jsonb NOT NULL,
            active boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE questionnaire_responses (
            id bigserial PRIMARY KEY,
            client_id bigint NOT NULL REFERENCES clients(id),
            questionnaire_id bigint NOT NULL REFERENCES questionnaires(id),
            answers jsonb NOT NULL,
            score integer NOT NULL,
            risk_category varchar(16) NOT NULL,
            blocked_products varchar(32)[] NOT NULL DEFAULT '{{}}',
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_questionnaire_responses_client ON questionnaire_responses (client_id, id);

        CREATE TABLE client_decisions (
            id bigserial PRIMARY KEY,
            client_id bigint NOT NULL REFERENCES clients(id),
            review_round integer NOT NULL,
            decision varchar(16) NOT NULL CHECK (decision IN ('approve', 'reject', 'request_info')),
            decided_by bigint NOT NULL REFERENCES users(id),
            reason text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_client_decisions_approver UNIQUE (client_id, review_round, decided_by)
        );

        CREATE TABLE client_account_requests (
            id bigserial PRIMARY KEY,
            client_id bigint NOT NULL REFERENCES clients(id),
            idempotency_key varchar(80) NOT NULL,
            server_id bigint NOT NULL REFERENCES trading_servers(id),
            login bigint NOT NULL,
            group_name varchar(64) NOT NULL,
            leverage integer NOT NULL,
            currency varchar(8) NOT NULL,
            status varchar(16) NOT NULL CHECK (status IN ('pending', 'created', 'compensated', 'failed')),
            error text,
            trading_account_id bigint REFERENCES trading_accounts(id),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_client_account_requests_key UNIQUE (client_id, idempotency_key),
            CONSTRAINT uq_client_account_requests_login UNIQUE (server_id, login)
        );
        -- Logins we choose ourselves, so a lost answer can be looked up on the server by login.
        CREATE SEQUENCE client_login_seq START 7000000;

        CREATE TABLE client_communications (
            id bigserial PRIMARY KEY,
            client_id bigint NOT NULL REFERENCES clients(id),
            kind varchar(16) NOT NULL CHECK (kind IN ('note', 'call', 'email', 'message')),
            direction varchar(8) NOT NULL DEFAULT 'internal' CHECK (direction IN ('in', 'out', 'internal')),
            subject varchar(200) NOT NULL DEFAULT '',
            body text NOT NULL,
            author_user_id bigint,
            search tsvector GENERATED ALWAYS AS (to_tsvector('simple', subject || ' ' || body)) STORED,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_client_communications_client ON client_communications (client_id, id);
        CREATE INDEX ix_client_communications_search ON client_communications USING gin (search);

        -- Compliance: sanctions/PEP lists and screening results.
        CREATE TABLE screening_lists (
            id bigserial PRIMARY KEY,
            name varchar(80) NOT NULL UNIQUE,
            format varchar(16) NOT NULL CHECK (format IN ('ftm', 'ofac')),
            version varchar(80) NOT NULL,
            entity_count integer NOT NULL DEFAULT 0,
            loaded_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE screening_entities (
            list_id bigint NOT NULL REFERENCES screening_lists(id) ON DELETE CASCADE,
            entity_id varchar(120) NOT NULL,
            schema varchar(32) NOT NULL,
            caption varchar(300) NOT NULL,
            names text[] NOT NULL,
            birth_dates varchar(10)[] NOT NULL DEFAULT '{{}}',
            countries varchar(8)[] NOT NULL DEFAULT '{{}}',
            topics varchar(32)[] NOT NULL DEFAULT '{{}}',
            PRIMARY KEY (list_id, entity_id)
        );
        CREATE TABLE screening_results (
            id bigserial PRIMARY KEY,
            client_id bigint NOT NULL REFERENCES clients(id),
            list_name varchar(80) NOT NULL,
            list_version varchar(80) NOT NULL,
            matcher_version varchar(32) NOT NULL,
            threshold numeric(5, 4) NOT NULL,
            score numeric(5, 4) NOT NULL,
            entity_id varchar(120),
            entity_caption varchar(300),
            topics varchar(32)[] NOT NULL DEFAULT '{{}}',
            status varchar(16) NOT NULL CHECK (status IN ('clear', 'pending', 'confirmed', 'dismissed')),
            reviewed_by bigint,
            review_reason text,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_screening_results_client ON screening_results (client_id, id);
        CREATE INDEX ix_screening_results_pending ON screening_results (created_at, id) WHERE status = 'pending';

        CREATE TABLE kyc_webhook_events (
            provider varchar(32) NOT NULL,
            event_id varchar(120) NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (provider, event_id)
        );
        CREATE TABLE kyc_applicants (
            client_id bigint PRIMARY KEY REFERENCES clients(id),
            provider varchar(32) NOT NULL,
            applicant_id varchar(120) NOT NULL,
            verdict varchar(16),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT uq_kyc_applicants_applicant UNIQUE (provider, applicant_id)
        );
        """
    )


def downgrade() -> None:
    run_sql(
        "DROP TABLE kyc_applicants; DROP TABLE kyc_webhook_events; DROP TABLE screening_results; "
        "DROP TABLE screening_entities; DROP TABLE screening_lists; DROP TABLE client_communications; "
        "DROP SEQUENCE client_login_seq; DROP TABLE client_account_requests; DROP TABLE client_decisions; "
        "DROP TABLE questionnaire_responses; DROP TABLE questionnaires; DROP TABLE client_documents; "
        "DROP TABLE client_status_history; DROP TABLE clients; DROP TABLE lead_touches; DROP TABLE leads; "
        "DROP TABLE sales_rules; DROP TABLE brokerage_leverage_caps; DROP TABLE brokerage_group_map; "
        "DROP TABLE brokerage_account_types; DROP TABLE brokerage_jurisdictions; DROP TABLE brokerage_settings;"
    )
