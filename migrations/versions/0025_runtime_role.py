"""Runtime role split: what the runtime role (no CREATE, owns nothing) still needs the owner for.

The runtime role's table privileges are granted after `upgrade heads` (api/dbroles.py), so they
cover every migration's tables. Here: the worker creates the monthly deal partitions at run time,
which needs CREATE on the schema and ownership of trading_deals; the function runs as its owner
instead (SECURITY DEFINER, with a fixed search_path so no caller's objects can stand in for ours).

The runtime role moves the audit chain heads (each append advances its partition's head), so it
holds UPDATE on them; a trigger lets a head only advance to the next seq, so runtime credentials
cannot rewind one (the owner can, with triggers off: exported seals catch that).

Revision ID: 0025_runtime_role
Revises: 0021_principal_notify, 0003_audit
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0025_runtime_role"
down_revision = ("0021_principal_notify", "0003_audit")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER FUNCTION trading_ensure_deal_partitions(integer) SECURITY DEFINER SET search_path = public, pg_temp;

        CREATE FUNCTION audit_head_advances() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.partition <> OLD.partition OR NEW.seq <> OLD.seq + 1 THEN
                RAISE EXCEPTION 'permission denied: the audit chain head of partition % only advances to its next event',
                    OLD.partition USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER audit_chain_heads_advance BEFORE UPDATE ON audit_chain_heads
            FOR EACH ROW EXECUTE FUNCTION audit_head_advances();
        CREATE TRIGGER audit_chain_heads_keep BEFORE DELETE OR TRUNCATE ON audit_chain_heads
            FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_chain_heads FROM PUBLIC;
        """
    )


def downgrade() -> None:
    run_sql("DROP TRIGGER audit_chain_heads_keep ON audit_chain_heads;"
            "DROP TRIGGER audit_chain_heads_advance ON audit_chain_heads; DROP FUNCTION audit_head_advances();"
            "ALTER FUNCTION trading_ensure_deal_partitions(integer) SECURITY INVOKER RESET search_path;")
