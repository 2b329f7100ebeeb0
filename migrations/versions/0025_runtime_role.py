"""Runtime role split: what the runtime role (no CREATE, owns nothing) still needs the owner for.

The runtime role's table privileges are granted after `upgrade heads` (api/dbroles.py), so they
cover every migration's tables. Here: the worker creates the monthly deal partitions at run time,
which needs CREATE on the schema and ownership of trading_deals; the function runs as its owner
instead (SECURITY DEFINER, with a fixed search_path so no caller's objects can stand in for ours).

Revision ID: 0025_runtime_role
Revises: 0021_principal_notify
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0025_runtime_role"
down_revision = "0021_principal_notify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER FUNCTION trading_ensure_deal_partitions(integer) SECURITY DEFINER SET search_path = public, pg_temp;
        """
    )


def downgrade() -> None:
    run_sql("ALTER FUNCTION trading_ensure_deal_partitions(integer) SECURITY INVOKER RESET search_path;")
