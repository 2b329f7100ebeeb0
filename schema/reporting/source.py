"""Where a report was answered from: the read replica (with its lag) or the primary, and why."""

from __future__ import annotations

import enum

import strawberry

from domain.shared.replica import ReadSource, SourceReason


@strawberry.enum(description="Why a report was answered from the primary rather than the read replica.")
class ReportSourceReason(enum.Enum):
    NOT_CONFIGURED = "not_configured"
    REPLICA_DOWN = "replica_down"
    REPLICA_LAGGING = "replica_lagging"


@strawberry.type(description="Where a report's figures were read: the read replica (FOREXCRM_READ_REPLICA_URL) when "
                             "it is up and within the acceptable lag, else the primary.")
class ReportSource:
    replica: bool = strawberry.field(description="Read on the streaming replica (false: on the primary)")
    lag_seconds: float | None = strawberry.field(
        description="The replica's lag behind the primary when checked (an upper bound, seconds; 0 when it had "
                    "replayed everything the primary had written); null when unknown or no replica answered")
    reason: ReportSourceReason | None = strawberry.field(
        description="Why the primary answered (null when the replica did)")

    @classmethod
    def of(cls, s: ReadSource) -> ReportSource:
        return cls(replica=s.replica, lag_seconds=s.lag_seconds,
                   reason=ReportSourceReason(s.reason.value) if isinstance(s.reason, SourceReason) else None)
