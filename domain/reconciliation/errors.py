"""Reconciliation errors with stable codes."""

from __future__ import annotations

from domain.shared.errors import Conflict, NotFound, ValidationFailed


class RunNotFound(NotFound):
    code = "RECONCILIATION_RUN_NOT_FOUND"


class BreakNotFound(NotFound):
    code = "RECONCILIATION_BREAK_NOT_FOUND"


class AssigneeNotFound(NotFound):
    code = "ASSIGNEE_NOT_FOUND"


class AdjustmentEntryNotFound(NotFound):
    code = "ADJUSTMENT_ENTRY_NOT_FOUND"


class BreakClosed(Conflict):
    code = "BREAK_ALREADY_CLOSED"


class InvalidResolution(ValidationFailed):
    code = "INVALID_RESOLUTION"


class InvalidSettlementReport(ValidationFailed):
    code = "INVALID_SETTLEMENT_REPORT"


class InvalidCutoff(ValidationFailed):
    code = "INVALID_CUTOFF"


class InvalidResourceBalance(ValidationFailed):
    code = "INVALID_CLIENT_MONEY_BALANCE"


class AlreadySignedOff(Conflict):
    code = "CLIENT_MONEY_ALREADY_SIGNED_OFF"


class RunNotSignable(Conflict):
    code = "CLIENT_MONEY_NOT_SIGNABLE"
