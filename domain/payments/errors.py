"""Payment errors with stable codes."""

from __future__ import annotations

from domain.shared.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed


class PaymentNotFound(NotFound):
    code = "PAYMENT_NOT_FOUND"


class InvalidIban(ValidationFailed):
    code = "INVALID_IBAN"


class InvalidBic(ValidationFailed):
    code = "INVALID_BIC"


class PaymentMethodUnavailable(ValidationFailed):
    code = "PAYMENT_METHOD_UNAVAILABLE"


class AmountOutOfLimits(ValidationFailed):
    code = "AMOUNT_OUT_OF_LIMITS"


class FirstDepositTooSmall(ValidationFailed):
    code = "FIRST_DEPOSIT_TOO_SMALL"


class InvalidTransition(Conflict):
    code = "PAYMENT_INVALID_TRANSITION"


class ClosedLoopRequired(ValidationFailed):
    """Withdrawals go back to the method deposits came from, up to what it deposited."""

    code = "CLOSED_LOOP_REQUIRED"


class SelfApprovalForbidden(PermissionDenied):
    code = "SELF_APPROVAL_FORBIDDEN"


class AlreadyApproved(Conflict):
    code = "ALREADY_APPROVED_BY_YOU"


class NotAwaitingApproval(Conflict):
    code = "WITHDRAWAL_NOT_AWAITING_APPROVAL"


class WithdrawalNotApproved(Conflict):
    """Only an approved withdrawal can have been paid out (or come back)."""

    code = "WITHDRAWAL_NOT_APPROVED"


class DisputeExceedsPayment(ValidationFailed):
    code = "DISPUTE_EXCEEDS_PAYMENT"


class StatementMalformed(ValidationFailed):
    code = "STATEMENT_MALFORMED"


class GatewayError(DomainError):
    """The provider answered with a definite refusal."""

    code = "GATEWAY_REFUSED"


class PaymentMethodNotFound(NotFound):
    code = "PAYMENT_METHOD_NOT_FOUND"


class PaymentMethodExists(Conflict):
    """A method rule is one per (code, currency, country)."""

    code = "PAYMENT_METHOD_EXISTS"


class InvalidPaymentMethod(ValidationFailed):
    """A method's code, name, kind or provider endpoint is malformed or inconsistent."""

    code = "INVALID_PAYMENT_METHOD"


class InvalidPaymentMethodLimits(ValidationFailed):
    code = "INVALID_PAYMENT_METHOD_LIMITS"


class InvalidPaymentMethodFee(ValidationFailed):
    code = "INVALID_PAYMENT_METHOD_FEE"


class UnknownPaymentProvider(ValidationFailed):
    code = "UNKNOWN_PAYMENT_PROVIDER"


class DepositNotAllowedForStatus(PermissionDenied):
    """The client's status does not allow deposits in their jurisdiction (payment status gates)."""

    code = "DEPOSIT_NOT_ALLOWED_FOR_STATUS"


class WithdrawalNotAllowedForStatus(PermissionDenied):
    code = "WITHDRAWAL_NOT_ALLOWED_FOR_STATUS"
class CryptoAddressInvalid(ValidationFailed):
    """A crypto withdrawal names no destination address, or one that cannot be an address."""

    code = "CRYPTO_ADDRESS_INVALID"
class SignalNotFound(NotFound):
    code = "SIGNAL_NOT_FOUND"


class SignalAlreadyReviewed(Conflict):
    code = "SIGNAL_ALREADY_REVIEWED"
