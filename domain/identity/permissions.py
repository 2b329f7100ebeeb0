"""The permission catalogue (`<context>.<action>`) and the built-in staff roles.

Permissions are declared here once; `schema.permissions.Requires` refuses codes not in the
catalogue, so a typo cannot silently create a permission nobody holds.
"""

from __future__ import annotations

PERMISSIONS: dict[str, str] = {
    "staff.manage": "Create staff users, roles and assign permissions",
    "audit.read": "Read the audit trail and verify its integrity",
    "system.announce": "Post announcements to all users",
    "clients.read": "Read client profiles (scoped to desk for sales)",
    "clients.update": "Update client profiles and status",
    "clients.notes": "Log notes, calls and messages on clients",
    "clients.assign_desk": "Assign clients to desks",
    "kyc.review": "Review KYC documents and screening results",
    "kyc.approve": "Approve or reject clients (compliance)",
    "compliance.manage": "Manage screening lists, monitoring rules and cases",
    "compliance.read": "Read suspicious-transaction signals",
    "compliance.review": "Review suspicious-transaction signals (escalate, dismiss, confirm)",
    "compliance.reports": "Draft, approve and export suspicious transaction reports (goAML), record the FIU's answer",
    "regulatory.reports": "Set EMIR/MiFIR reporting settings, clients' identifiers and instruments' MiFIR "
                          "reportability, rebuild, download and record the status of report files, apply MiFIR "
                          "feedback",
    "retention.read": "Read retention schedules, legal holds, erasure requests and enforcement runs",
    "retention.manage": "Set retention schedules, place and release legal holds, run retention enforcement",
    "retention.erase": "Decide clients' erasure requests (approval takes two staff members)",
    "config.manage": "Manage brokerage configuration (account types, groups, leverage caps)",
    "trading.read": "Read trading servers, accounts, deals and positions",
    "trading.manage": "Manage trading servers and accounts (group, leverage, rights)",
    "ledger.read": "Read ledger accounts, entries and balances",
    "ledger.adjust": "Post balance adjustments (bonus, correction, compensation)",
    "payments.read": "Read payments and gateway logs",
    "payments.approve_withdrawal": "Approve withdrawals",
    "payments.manage": "Manage payment methods, fees and limits; record chargebacks",
    "payments.methods.manage": "Create, change, enable and disable payment methods (fees, limits, PSP account)",
    "reconciliation.manage": "Run reconciliation and work breaks",
    "reconciliation.sign_off": "Sign off a day's client-money reconciliation (never one the signer prepared)",
    "ib.read": "Read IB networks, plans and commissions",
    "ib.manage_plans": "Create and assign commission plans",
    "ib.manage_network": "Approve IBs, move IBs and reassign clients",
    "ib.payouts": "Approve and run IB payouts",
    "risk.read": "Read exposure, client metrics and toxic-flow flags",
    "risk.manage_segments": "Change A/B-book segmentation and review toxic-flow flags",
    "risk.manage": "Manage exposure limits, group books, detector thresholds, the economic calendar and account links",
    "reports.read": "Read business reports",
    "reports.manage": "Rebuild report rollups for a period and set groups' spread markups",
    "trusted_documents.read": "Read the GraphQL documents registered as trusted (portal builds, partners)",
    "trusted_documents.manage": "Register and revoke trusted GraphQL documents",
    "webhooks.manage": "Register, enable, disable and rotate the secrets of outbound webhook endpoints, read their "
                       "delivery log and replay messages",
}

BUILTIN_ROLES: dict[str, tuple[str, list[str]]] = {
    "administrator": ("Everything, including staff and roles", sorted(PERMISSIONS)),
    "compliance": ("KYC, AML, audit", ["audit.read", "clients.read", "clients.update", "clients.notes", "kyc.review",
                                       "kyc.approve", "compliance.manage", "compliance.read", "compliance.review",
                                       "compliance.reports", "regulatory.reports", "retention.read", "retention.manage",
                                       "retention.erase",
                                       "payments.read", "ledger.read",
                                       "trading.read", "ib.read", "risk.read", "reports.read"]),
    "finance": ("Payments, ledger, reconciliation", ["clients.read", "ledger.read", "ledger.adjust", "payments.read",
                                                     "payments.approve_withdrawal", "payments.manage",
                                                     "payments.methods.manage", "reconciliation.manage",
                                                     "reconciliation.sign_off", "ib.read",
                                                     "ib.payouts", "reports.read", "reports.manage", "audit.read"]),
    "dealer": ("Dealing desk and risk", ["trading.read", "trading.manage", "risk.read", "risk.manage_segments",
                                         "risk.manage",
                                         "clients.read", "reports.read"]),
    "support": ("Client support", ["clients.read", "clients.notes", "trading.read", "payments.read", "ledger.read"]),
    "sales": ("Sales (scoped to a desk)", ["clients.read", "clients.notes"]),
    "ib_manager": ("IB network and plans", ["ib.read", "ib.manage_plans", "ib.manage_network", "clients.read",
                                            "reports.read"]),
}


# Reading and note-taking grant no power over money, clients' status or staff: granting only these
# needs one person. Any other permission is privileged: a role carrying one is granted (and a new
# staff user created) only with a step-up and a second staff member's approval.
UNPRIVILEGED: frozenset[str] = frozenset({p for p in PERMISSIONS if p.endswith(".read")} | {"clients.notes"})


def privileged(permissions: list[str] | set[str] | frozenset[str]) -> list[str]:
    """The privileged permissions among these, sorted."""
    return sorted(set(permissions) - UNPRIVILEGED)


def is_known(permission: str) -> bool:
    return permission in PERMISSIONS
