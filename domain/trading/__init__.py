"""Trading: servers, accounts, instruments, deal ingestion, balance operations and positions."""
