"""IB network, commission plans, the set-based commission engine, accruals and payouts."""

# Audit categories (domain/audit/retention.REGULATOR_CATEGORIES): who introduces whom, and what plans pay.
RELATIONSHIP_CATEGORY = "ib_relationship"
PLAN_CATEGORY = "commission_plan"
