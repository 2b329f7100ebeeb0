"""EMIR REFIT trade reports: ESMA's schemas (schema.py), the report lines of a day's deals (lines.py), the
streamed auth.030 document and its BAH (writer.py)."""
