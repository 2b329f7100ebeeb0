"""Ledger errors with stable codes."""

from __future__ import annotations

from domain.shared.errors import Conflict, DomainError, NotFound, ValidationFailed


class InsufficientFunds(DomainError):
    code = "INSUFFICIENT_FUNDS"


class InsufficientFreeMargin(DomainError):
    code = "INSUFFICIENT_FREE_MARGIN"


class UnbalancedEntry(ValidationFailed):
    code = "UNBALANCED_ENTRY"


class WalletNotFound(NotFound):
    code = "WALLET_NOT_FOUND"


class TradingAccountNotFound(NotFound):
    code = "TRADING_ACCOUNT_NOT_FOUND"


class EntryNotFound(NotFound):
    code = "ENTRY_NOT_FOUND"


class AlreadyReversed(Conflict):
    code = "ENTRY_ALREADY_REVERSED"


class CurrencyMismatch(ValidationFailed):
    code = "CURRENCY_MISMATCH"


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyInProgress(Conflict):
    code = "IDEMPOTENCY_IN_PROGRESS"


class HoldNotActive(Conflict):
    code = "HOLD_NOT_ACTIVE"


class RateUnavailable(DomainError):
    code = "RATE_UNAVAILABLE"


class TransferFailed(DomainError):
    """The platform refused the transfer (definite failure); carries the platform's code."""

    code = "TRANSFER_FAILED"
