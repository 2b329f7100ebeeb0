"""Auth outcomes that must commit state even when they fail (an audited failed attempt, a revoked
token family): services return them instead of raising, and the mutation commits, then reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from domain.shared.errors import DomainError

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    value: T | None = None
    error: DomainError | None = None

    @classmethod
    def ok(cls, value: T) -> Outcome[T]:
        return cls(value=value)

    @classmethod
    def fail(cls, error: DomainError) -> Outcome[T]:
        return cls(error=error)
