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


class StatementInvalid(ValidationFailed):
    """A bank statement that is not a camt.053.001.02/.08 document valid against its XSD (the message names
    the line and the schema's complaint)."""

    code = "BANK_STATEMENT_INVALID"


class StatementDuplicate(Conflict):
    code = "BANK_STATEMENT_DUPLICATE"


class ResourceFromStatement(Conflict):
    """A segregated bank balance that a statement's closing balance gives cannot be typed over by hand."""

    code = "CLIENT_MONEY_BALANCE_FROM_STATEMENT"


class FourEyesRequired(Conflict):
    """The person signing off a day's client money prepared it (recorded a resource, imported a statement or
    resolved one of its breaks): a second person signs."""

    code = "CLIENT_MONEY_FOUR_EYES"


class InvalidReturnPeriod(ValidationFailed):
    code = "INVALID_CLIENT_MONEY_RETURN_PERIOD"
