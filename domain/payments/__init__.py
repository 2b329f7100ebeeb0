"""Payments: deposits and withdrawals through PSP adapters, bank statements, disputes, signals."""
