"""Money scales: every money column the ledger, wallets, payments, IB payouts and reconciliation
write holds the finest configured currency (ETH, 18 decimal places) exactly.

The ledger kept 8 places: an ETH amount of 0.123456789 was booked as 0.12345679 on both legs (the
entry still balanced, so nothing noticed: money was invented), and 0.000000001 became a zero
posting that the CHECK refused with an internal error. The columns are now numeric(38, 18): the
same 20 integer digits as before, and 18 places (domain.shared.money.MAX_SCALE; Python refuses any
amount finer than its currency's scale before it gets here, so the column never rounds).

The hot path is unchanged: the posting statement already passes unconstrained numeric arrays,
PostgreSQL stores a numeric's digits without trailing zeros (a USD balance takes the same space at
scale 18 as at 8), and the triggers of migrations 0005/0020 compare and sum amounts whatever their
scale. Changing the scale rewrites each table once, here.

Revision ID: 0022_money_scales
Revises: 0021_principal_notify, 0012_reconciliation, 0015_payments_more, 0016_ib_more
"""
from __future__ import annotations

from migrations.sql import run_sql

revision = "0022_money_scales"
# merges the branches whose tables it alters
down_revision = ("0021_principal_notify", "0012_reconciliation", "0015_payments_more", "0016_ib_more")
branch_labels = None
depends_on = None

# table -> (columns, their type before this migration)
COLUMNS: dict[str, tuple[tuple[str, ...], str]] = {
    "ledger_balances": (("balance", "held"), "numeric(28, 8)"),
    "ledger_postings": (("amount",), "numeric(28, 8)"),
    "ledger_holds": (("amount",), "numeric(28, 8)"),
    "ledger_transfers": (("amount",), "numeric(28, 8)"),
    "balance_adjustment_requests": (("amount",), "numeric(28, 8)"),
    "reconciliation_settlement_lines": (("amount", "fee"), "numeric(28, 8)"),
    "reconciliation_platform_balances": (("balance",), "numeric(28, 8)"),
    "reconciliation_matches": (("amount",), "numeric(28, 8)"),
    "reconciliation_breaks": (("amount_diff",), "numeric(28, 8)"),
    "ib_partners": (("payout_min",), "numeric(20, 8)"),
    "ib_commission_lines": (("amount",), "numeric(20, 8)"),
    "ib_payouts": (("amount",), "numeric(20, 8)"),
    "ib_revshare_periods": (("gross", "carry_in", "amount", "carry_out"), "numeric(20, 8)"),
}
WIDE = "numeric(38, 18)"


def _alter(to: dict[str, str]) -> str:
    return "\n".join(
        f"ALTER TABLE {table} "
        + ", ".join(f"ALTER COLUMN {c} TYPE {to[table]}" for c in cols) + ";"
        for table, (cols, _) in COLUMNS.items()
    )


def upgrade() -> None:
    run_sql(_alter({table: WIDE for table in COLUMNS}))


def downgrade() -> None:
    # Narrowing would round: refuse while any amount has digits the old columns cannot hold.
    checks = "\n".join(
        f"IF EXISTS (SELECT 1 FROM {table} WHERE "  # noqa: S608 - constants
        + " OR ".join(f"{c} <> round({c}, 8)" for c in cols)
        + f") THEN RAISE EXCEPTION '{table} holds amounts finer than 8 decimal places'; END IF;"
        for table, (cols, _) in COLUMNS.items()
    )
    run_sql(f"DO $$ BEGIN {checks} END $$;\n" + _alter({table: old for table, (_, old) in COLUMNS.items()}))
