"""Double-entry ledger: accounts, immutable journal, balances, holds, idempotency, wallets, transfers."""
