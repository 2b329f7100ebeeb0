"""Regulatory reporting: EMIR REFIT trade reports (emir/), the brokerage's reporting settings and the
counterparty identifiers (settings.py, identifiers.py), the report files built per day (files.py)."""
