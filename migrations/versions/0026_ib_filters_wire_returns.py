"""IB plan filters match MT5 group names literally; wire withdrawals can be returned.

IB plan filters: patterns are literal but for % and _ (matched with LIKE ... ESCAPE '').

Until now they were plain LIKE patterns, where a backslash escapes the next character, so an MT5
group such as real\raw never matched the pattern real\raw; the only working spelling was
real\\raw. The engine now matches without an escape character; this rewrites that old escaped
spelling (a doubled backslash) to the literal one so existing clauses keep matching the same groups.

Payments: a wire withdrawal the bank sends back becomes 'returned' (so does the statement line).

Revision ID: 0026_ib_filters_wire_returns
Revises: 0021_principal_notify, 0016_ib_more, 0015_payments_more
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0026_ib_filters_wire_returns"
down_revision = ("0021_principal_notify", "0016_ib_more", "0015_payments_more")
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


_STATUSES = "'created', 'pending', 'succeeded', 'failed', 'cancelled', 'refunded', 'charged_back'"
_LINE_STATUSES = "'matched', 'unmatched', 'amount_mismatch', 'duplicate'"
_CHECKS = """
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN ({statuses}));
ALTER TABLE bank_statement_lines DROP CONSTRAINT bank_statement_lines_status_check;
ALTER TABLE bank_statement_lines ADD CONSTRAINT bank_statement_lines_status_check CHECK (status IN ({lines}));
"""


def upgrade() -> None:
    run_sql(_REWRITE.format(old="\\\\", new="\\"))
    run_sql(_CHECKS.format(statuses=_STATUSES + ", 'returned'", lines=_LINE_STATUSES + ", 'returned'"))


def downgrade() -> None:
    run_sql(_CHECKS.format(statuses=_STATUSES, lines=_LINE_STATUSES))
    run_sql(_REWRITE.format(old="\\", new="\\\\"))
