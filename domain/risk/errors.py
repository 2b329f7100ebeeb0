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


class RiskLimitNotFound(NotFound):
    code = "RISK_LIMIT_NOT_FOUND"


class RiskThresholdInvalid(ValidationFailed):
    code = "RISK_THRESHOLD_INVALID"


class RiskThresholdNotFound(NotFound):
    code = "RISK_THRESHOLD_NOT_FOUND"


class GroupBookInvalid(ValidationFailed):
    code = "RISK_GROUP_BOOK_INVALID"


class GroupBookNotFound(NotFound):
    code = "RISK_GROUP_BOOK_NOT_FOUND"


class RiskServerNotFound(NotFound):
    code = "RISK_SERVER_NOT_FOUND"


# One per kind of bad calendar line (reported per line, nothing imported).
class CalendarTimeInvalid(ValidationFailed):
    code = "RISK_CALENDAR_TIME_INVALID"


class CalendarCurrencyInvalid(ValidationFailed):
    code = "RISK_CALENDAR_CURRENCY_INVALID"


class CalendarImpactInvalid(ValidationFailed):
    code = "RISK_CALENDAR_IMPACT_INVALID"


class CalendarTitleInvalid(ValidationFailed):
    code = "RISK_CALENDAR_TITLE_INVALID"


class CalendarEventNotFound(NotFound):
    code = "RISK_CALENDAR_EVENT_NOT_FOUND"


class AccountLinkInvalid(ValidationFailed):
    code = "RISK_ACCOUNT_LINK_INVALID"


class AccountLinkNotFound(NotFound):
    code = "RISK_ACCOUNT_LINK_NOT_FOUND"
