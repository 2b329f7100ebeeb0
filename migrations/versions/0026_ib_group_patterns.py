"""IB plan filters: patterns are literal but for % and _ (matched with LIKE ... ESCAPE '').

Until now they were plain LIKE patterns, where a backslash escapes the next character, so an MT5
group such as real\raw never matched the pattern real\raw; the only working spelling was
real\\raw. The engine now matches without an escape character; this rewrites that old escaped
spelling (a doubled backslash) to the literal one so existing clauses keep matching the same groups.

Revision ID: 0026_ib_group_patterns
Revises: 0021_principal_notify, 0016_ib_more
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0026_ib_group_patterns"
down_revision = ("0021_principal_notify", "0016_ib_more")
branch_labels = None
depends_on = None

_REWRITE = r"""
UPDATE ib_plan_clauses SET
    symbols = CASE WHEN symbols IS NULL THEN NULL ELSE ARRAY(
        SELECT replace(p, '{old}', '{new}') FROM unnest(symbols) WITH ORDINALITY u(p, n) ORDER BY n) END,
    account_groups = CASE WHEN account_groups IS NULL THEN NULL ELSE ARRAY(
        SELECT replace(p, '{old}', '{new}') FROM unnest(account_groups) WITH ORDINALITY u(p, n) ORDER BY n) END
WHERE array_to_string(symbols, '') LIKE '%{old}{old}%' OR array_to_string(account_groups, '') LIKE '%{old}{old}%';
"""


def upgrade() -> None:
    run_sql(_REWRITE.format(old="\\\\", new="\\"))


def downgrade() -> None:
    run_sql(_REWRITE.format(old="\\", new="\\\\"))
