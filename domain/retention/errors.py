"""Typed errors of retention and erasure; codes are stable and appear in the schema's ErrorCode."""

from __future__ import annotations

from domain.shared.errors import Conflict, NotFound, ValidationFailed


class InvalidRetentionSchedule(ValidationFailed):
    code = "INVALID_RETENTION_SCHEDULE"


class LegalHoldActive(Conflict):
    code = "LEGAL_HOLD_ACTIVE"


class NoLegalHold(Conflict):
    code = "NO_LEGAL_HOLD"


class ErasureRequestNotFound(NotFound):
    code = "NOT_FOUND"


class ErasureAlreadyRequested(Conflict):
    code = "ERASURE_ALREADY_REQUESTED"


class ErasureAlreadyDecided(Conflict):
    code = "ERASURE_ALREADY_DECIDED"


class ClientKeyDestroyed(Conflict):
    """The client's data key was destroyed (crypto-shredded): what it sealed is gone for good."""

    code = "CLIENT_DATA_ERASED"
