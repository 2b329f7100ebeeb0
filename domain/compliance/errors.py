"""Typed errors of compliance screening."""

from __future__ import annotations

from domain.shared.errors import Conflict, NotFound, ValidationFailed


class InvalidScreeningList(ValidationFailed):
    code = "INVALID_SCREENING_LIST"


class ScreeningResultNotFound(NotFound):
    code = "NOT_FOUND"


class ScreeningAlreadyResolved(Conflict):
    code = "SCREENING_ALREADY_RESOLVED"
