"""Outbound webhooks (issue 23): endpoints, messages, per-endpoint deliveries and their attempts.

- `webhook_endpoints`: a partner's URL, the event types it wants, its signing secret (encrypted with the
  process key, never stored in clear) and, for 24 h after a rotation, the previous one.
- `webhook_messages`: one per event (`msg_<id>`, the `webhook-id` header), the body as sent, written in the
  transaction that makes the event (with the outbox row that has the worker fan it out, in id order).
- `webhook_deliveries`: a message owed to an endpoint, delivered in id order per endpoint (one in flight);
  `manual` marks a staff replay (the fan-out's pair is unique, replays are not).
- `webhook_attempts`: the delivery log (status code, duration, a short excerpt of the answer).

Revision ID: 0062_webhooks
Revises: 0059_regulatory_line_checks (the head; after 0061_reporting)
"""

from __future__ import annotations

from migrations.sql import run_sql

revision = "0062_webhooks"
down_revision = "0059_regulatory_line_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE webhook_endpoints (
            id bigserial PRIMARY KEY,
            url varchar(2000) NOT NULL,
            description varchar(500) NOT NULL DEFAULT '',
            event_types text[] NOT NULL,
            secret_sealed text NOT NULL,
            previous_secret_sealed text,
            previous_secret_until timestamptz,
            enabled boolean NOT NULL DEFAULT true,
            disabled_reason varchar(200),
            created_by bigint,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE webhook_messages (
            id bigserial PRIMARY KEY,
            event_type varchar(80) NOT NULL,
            body text NOT NULL,
            fanned_out boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX webhook_messages_to_fan_out ON webhook_messages (id) WHERE NOT fanned_out;

        CREATE TABLE webhook_deliveries (
            id bigserial PRIMARY KEY,
            endpoint_id bigint NOT NULL REFERENCES webhook_endpoints (id),
            message_id bigint NOT NULL REFERENCES webhook_messages (id),
            manual boolean NOT NULL DEFAULT false,
            status varchar(12) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_status_code integer,
            created_at timestamptz NOT NULL DEFAULT now(),
            delivered_at timestamptz
        );
        CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (endpoint_id, message_id) WHERE NOT manual;
        CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, id) WHERE status = 'pending';
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

        CREATE TABLE webhook_attempts (
            id bigserial PRIMARY KEY,
            delivery_id bigint NOT NULL REFERENCES webhook_deliveries (id),
            endpoint_id bigint NOT NULL,
            attempted_at timestamptz NOT NULL DEFAULT now(),
            status_code integer,
            duration_ms integer NOT NULL,
            response_excerpt varchar(200),
            error varchar(300)
        );
        CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, id);
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE webhook_attempts, webhook_deliveries, webhook_messages, webhook_endpoints")
