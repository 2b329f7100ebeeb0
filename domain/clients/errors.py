"""Typed errors of the client lifecycle; codes are stable and appear in the schema's ErrorCode."""

from __future__ import annotations

from domain.shared.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed


class ClientNotFound(NotFound):
    code = "NOT_FOUND"


class InvalidTransition(Conflict):
    code = "INVALID_STATUS_TRANSITION"


class DuplicateRegistration(Conflict):
    code = "DUPLICATE_REGISTRATION"


class InvalidCountry(ValidationFailed):
    code = "INVALID_COUNTRY"


class InvalidPhone(ValidationFailed):
    code = "INVALID_PHONE"


class UnderAge(ValidationFailed):
    code = "UNDER_AGE"


class DisposableEmail(ValidationFailed):
    code = "DISPOSABLE_EMAIL"


class JurisdictionNotServed(ValidationFailed):
    code = "JURISDICTION_NOT_SERVED"


class DocumentTooLarge(ValidationFailed):
    code = "DOCUMENT_TOO_LARGE"


class DocumentEmpty(ValidationFailed):
    code = "DOCUMENT_EMPTY"


class DocumentTypeRefused(ValidationFailed):
    code = "DOCUMENT_TYPE_REFUSED"


class DocumentNotFound(NotFound):
    code = "NOT_FOUND"


class StepIncomplete(Conflict):
    """A step the requested action depends on has not been completed (profile, documents, ...)."""

    code = "ONBOARDING_STEP_INCOMPLETE"


class InvalidAnswers(ValidationFailed):
    code = "INVALID_QUESTIONNAIRE_ANSWERS"


class SubmitterCannotApprove(PermissionDenied):
    code = "SUBMITTER_CANNOT_APPROVE"


class SecondApproverRequired(Conflict):
    code = "SECOND_APPROVER_REQUIRED"


class ScreeningBlocked(Conflict):
    code = "SCREENING_HIT_UNRESOLVED"


class NoGroupMapping(Conflict):
    code = "NO_GROUP_MAPPING"


class LeverageAboveCap(ValidationFailed):
    code = "LEVERAGE_ABOVE_CAP"


class InvalidConfiguration(ValidationFailed):
    code = "INVALID_BROKERAGE_CONFIGURATION"


class WebhookRejected(DomainError):
    code = "WEBHOOK_REJECTED"


class KycProviderUnavailable(DomainError):
    """The KYC provider refused or did not answer; nothing was recorded, the client may retry."""

    code = "KYC_PROVIDER_UNAVAILABLE"


class KycNotConfigured(Conflict):
    code = "KYC_NOT_CONFIGURED"


class LeverageRequestPending(Conflict):
    code = "LEVERAGE_REQUEST_PENDING"


class LeverageRequestNotFound(NotFound):
    code = "NOT_FOUND"


class AccountTypeNotFound(NotFound):
    """No such account type, or one a client may not open now (disabled, or demo for a live account)."""

    code = "ACCOUNT_TYPE_NOT_FOUND"


class AccountTypeExists(Conflict):
    code = "ACCOUNT_TYPE_EXISTS"


class CurrencyNotOffered(ValidationFailed):
    """The account type does not offer accounts in this currency."""

    code = "ACCOUNT_CURRENCY_NOT_OFFERED"
class DocumentLinkInvalid(NotFound):
    """A document link that was not issued by us, or was altered."""

    code = "DOCUMENT_LINK_INVALID"


class DocumentLinkExpired(NotFound):
    code = "DOCUMENT_LINK_EXPIRED"


class DeskInvalid(ValidationFailed):
    code = "DESK_INVALID"


class SearchQueryInvalid(ValidationFailed):
    code = "SEARCH_QUERY_INVALID"
