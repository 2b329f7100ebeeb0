"""Reporting and BI: rollups per day x dimension, reports over them, drill-down to the rows behind."""
