"""Typed errors of compliance screening."""

from __future__ import annotations

from domain.shared.errors import Conflict, NotFound, ValidationFailed


class InvalidScreeningList(ValidationFailed):
    code = "INVALID_SCREENING_LIST"


class ScreeningResultNotFound(NotFound):
    code = "NOT_FOUND"


class ScreeningListNotFound(NotFound):
    code = "SCREENING_LIST_NOT_FOUND"


class ScreeningAlreadyResolved(Conflict):
    code = "SCREENING_ALREADY_RESOLVED"


class InvalidRuleDocument(ValidationFailed):
    """A node of a scenario's rule document that does not fit (field = the node's path)."""

    code = "INVALID_RULE_DOCUMENT"


class ScenarioNotFound(NotFound):
    code = "SCENARIO_NOT_FOUND"


class ScenarioNameTaken(Conflict):
    code = "SCENARIO_NAME_TAKEN"


class NoDraft(Conflict):
    code = "NO_DRAFT"


class ActivationPending(Conflict):
    code = "ACTIVATION_ALREADY_PENDING"


class ActivationNotFound(NotFound):
    code = "ACTIVATION_NOT_FOUND"


class ActivationNotPending(Conflict):
    code = "ACTIVATION_NOT_PENDING"


class CaseNotFound(NotFound):
    code = "CASE_NOT_FOUND"


class CaseClosed(Conflict):
    code = "CASE_CLOSED"


class DecisionNotHeld(Conflict):
    code = "DECISION_NOT_HELD"


class HeldForReview(Conflict):
    """A withdrawal that transaction monitoring holds for review cannot be approved yet."""

    code = "AML_HOLD"


class GoamlInvalid(ValidationFailed):
    """The report's goAML document does not fit the FIU's XSD: the message is the schema validator's, the field the
    element's path in the document."""

    code = "GOAML_SCHEMA_INVALID"


class ReportNotFound(NotFound):
    code = "REPORT_NOT_FOUND"


class ReportWrongStatus(Conflict):
    """The report is not in the status this step needs (edits only while draft, export only once approved)."""

    code = "REPORT_WRONG_STATUS"


class CaseNotConfirmed(Conflict):
    """Reports are built only from cases closed with the outcome risk confirmed."""

    code = "CASE_NOT_RISK_CONFIRMED"


class NoReportingEntity(Conflict):
    """The reporting entity's details (its goAML id, name, local currency) are not set yet."""

    code = "REPORTING_ENTITY_NOT_SET"


class AmlDeclined(Conflict):
    """Transaction monitoring declined the transfer (its money was never taken from the wallet)."""

    code = "AML_DECLINED"
