"""Typed errors of the risk context."""

from __future__ import annotations

from domain.shared.errors import NotFound, ValidationFailed


class RiskLimitInvalid(ValidationFailed):
    code = "RISK_LIMIT_INVALID"


class CalendarInvalid(ValidationFailed):
    code = "RISK_CALENDAR_INVALID"


class SegmentRuleInvalid(ValidationFailed):
    code = "RISK_SEGMENT_RULE_INVALID"


class GroupMappingMissing(ValidationFailed):
    code = "RISK_GROUP_MAPPING_MISSING"


class RiskFlagNotFound(NotFound):
    code = "RISK_FLAG_NOT_FOUND"


class RiskAccountNotFound(NotFound):
    code = "RISK_ACCOUNT_NOT_FOUND"


class RiskClientNotFound(NotFound):
    code = "RISK_CLIENT_NOT_FOUND"


class RiskFlagReviewInvalid(ValidationFailed):
    code = "RISK_FLAG_REVIEW_INVALID"


class WhatIfInvalid(ValidationFailed):
    code = "RISK_WHAT_IF_INVALID"
