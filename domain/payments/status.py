"""The payment status machine. Webhooks may arrive out of order: a stale event (one that would
move a payment backwards, e.g. "pending" after "succeeded") is ignored, an invalid one refused."""

from __future__ import annotations

from enum import StrEnum

from domain.payments.errors import InvalidTransition


class Status(StrEnum):
    CREATED = "created"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    CHARGED_BACK = "charged_back"
    RETURNED = "returned"  # a wire withdrawal the beneficiary's bank sent back: the money is the client's again


ALLOWED: dict[Status, frozenset[Status]] = {
    Status.CREATED: frozenset({Status.PENDING, Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.RETURNED}),
    Status.PENDING: frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.RETURNED}),
    # A card processor may capture a retried attempt after reporting a failure: money did arrive.
    Status.FAILED: frozenset({Status.SUCCEEDED}),
    Status.SUCCEEDED: frozenset({Status.REFUNDED, Status.CHARGED_BACK, Status.RETURNED}),
    Status.REFUNDED: frozenset({Status.CHARGED_BACK}),
    Status.CANCELLED: frozenset(),
    Status.CHARGED_BACK: frozenset(),
    Status.RETURNED: frozenset(),
}
# Moving to one of these from a later state is a stale (out-of-order) event, not an error.
EARLY = frozenset({Status.CREATED, Status.PENDING})


def can_move(current: Status, target: Status) -> bool:
    return target in ALLOWED[current]


def check_move(current: Status, target: Status) -> None:
    if not can_move(current, target):
        raise InvalidTransition(f"a {current.value} payment cannot become {target.value}")
