"""IB network, commission plans, the set-based commission engine, accruals and payouts."""
