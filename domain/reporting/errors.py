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
