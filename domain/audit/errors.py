"""Typed errors of the audit trail."""

from __future__ import annotations

from domain.shared.errors import DomainError


class InvalidAuditEvent(DomainError):
    """A caller passed an event the trail cannot store (a programming error, surfaced clearly)."""

    code = "INVALID_AUDIT_EVENT"
