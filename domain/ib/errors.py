"""Typed errors of the IB context (stable codes for the schema's ErrorCode enum)."""

from __future__ import annotations

from domain.shared.errors import Conflict, NotFound, ValidationFailed


class IbNotFound(NotFound):
    code = "IB_NOT_FOUND"


class ClientNotFound(NotFound):
    code = "IB_CLIENT_NOT_FOUND"


class PlanNotFound(NotFound):
    code = "IB_PLAN_NOT_FOUND"


class ReferralCodeUnknown(NotFound):
    code = "IB_REFERRAL_CODE_UNKNOWN"


class IbAlreadyApplied(Conflict):
    code = "IB_ALREADY_APPLIED"


class IbNotPending(Conflict):
    code = "IB_NOT_PENDING"


class IbNotApproved(Conflict):
    code = "IB_NOT_APPROVED"


class TreeCycle(ValidationFailed):
    """An IB placed under itself or one of its own descendants."""

    code = "IB_TREE_CYCLE"


class ChangeBeforeLastChange(Conflict):
    """Effective dates only move forward: history before the last change is not rewritten."""

    code = "IB_CHANGE_BEFORE_LAST_CHANGE"


class RetroactiveNotAllowed(ValidationFailed):
    code = "IB_RETROACTIVE_NOT_ALLOWED"


class ClientAlreadyAttributed(Conflict):
    code = "IB_CLIENT_ALREADY_ATTRIBUTED"


class SelfReferral(ValidationFailed):
    code = "IB_SELF_REFERRAL"


class PlanExceedsCap(ValidationFailed):
    """The levels of a clause would pay more than the plan allows."""

    code = "IB_PLAN_EXCEEDS_CAP"


class InvalidPlan(ValidationFailed):
    code = "IB_PLAN_INVALID"


class PlanVersionOverlap(Conflict):
    code = "IB_PLAN_VERSION_OVERLAP"


class PayoutNotHeld(Conflict):
    code = "IB_PAYOUT_NOT_HELD"


class PayoutNotFound(NotFound):
    code = "IB_PAYOUT_NOT_FOUND"


class PayoutExceedsPayable(Conflict):
    code = "IB_PAYOUT_EXCEEDS_PAYABLE"


class DisputeNotFound(NotFound):
    code = "IB_DISPUTE_NOT_FOUND"


class DisputeNotOpen(Conflict):
    code = "IB_DISPUTE_NOT_OPEN"


class CpaNotFound(NotFound):
    """No CPA was paid for this client (nothing to claw back)."""

    code = "IB_CPA_NOT_FOUND"


class CpaAlreadyClawedBack(Conflict):
    code = "IB_CPA_ALREADY_CLAWED_BACK"


class ApplicationNotFound(NotFound):
    code = "IB_APPLICATION_NOT_FOUND"


class AlreadyIb(Conflict):
    """The applicant is an IB already (approved or suspended)."""

    code = "IB_ALREADY_PARTNER"


class LinkNotFound(NotFound):
    code = "IB_LINK_NOT_FOUND"


class LinkDisabled(Conflict):
    code = "IB_LINK_DISABLED"


class PeriodInvalid(ValidationFailed):
    """A payout period key that is not a day (2025-01-14), an ISO week (2025-W03) or a month (2025-01)."""

    code = "IB_PAYOUT_PERIOD_INVALID"


class PeriodNotClosed(ValidationFailed):
    code = "IB_PAYOUT_PERIOD_NOT_CLOSED"


class PeriodCycleMismatch(ValidationFailed):
    """The IB is paid on another cycle than the period's (a monthly IB has no weekly period)."""

    code = "IB_PAYOUT_CYCLE_MISMATCH"
