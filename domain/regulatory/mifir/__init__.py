"""MiFIR transaction reports: ESMA's schemas (schema.py), the auth.016 document written from deals
(writer.py), a day's build (build.py), the regulator's auth.031 feedback and corrections (feedback.py)."""
