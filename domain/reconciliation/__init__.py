"""Reconciliation: the daily three-way check (trading server, ledger, payment processors) plus
ledger balance integrity and platform balance comparison, with breaks worked by staff."""
