"""Typed errors of the reporting context."""

from __future__ import annotations

from domain.shared.errors import NotFound, ValidationFailed


class ReportPeriodInvalid(ValidationFailed):
    code = "REPORT_PERIOD_INVALID"


class ReportDimensionInvalid(ValidationFailed):
    code = "REPORT_DIMENSION_INVALID"


class ReportMarkupInvalid(ValidationFailed):
    code = "REPORT_MARKUP_INVALID"


class ReportServerNotFound(NotFound):
    code = "REPORT_SERVER_NOT_FOUND"


class ReportScheduleInvalid(ValidationFailed):
    code = "REPORT_SCHEDULE_INVALID"


class ReportScheduleNotFound(NotFound):
    code = "REPORT_SCHEDULE_NOT_FOUND"


class ReportRecipientsRequired(ValidationFailed):
    code = "REPORT_RECIPIENTS_REQUIRED"


class ReportRecipientNotFound(NotFound):
    code = "REPORT_RECIPIENT_NOT_FOUND"


class ReportRecipientNotPermitted(ValidationFailed):
    """A recipient without reports.read, or whose desk scope is narrower than the schedule's."""

    code = "REPORT_RECIPIENT_NOT_PERMITTED"


class ReportRunNotFound(NotFound):
    code = "REPORT_RUN_NOT_FOUND"


class ReportLpCommissionInvalid(ValidationFailed):
    code = "REPORT_LP_COMMISSION_INVALID"


class ReportScheduleDuplicate(ValidationFailed):
    """The caller already has a live schedule of the same report, filters, interval, format and recipients."""

    code = "REPORT_SCHEDULE_DUPLICATE"
