from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from domain.reconciliation.breaks import BreakView, CommentView
from domain.reconciliation.runs import RunView
from domain.reconciliation.settlement import ImportedReport
from domain.shared.money import decimal_text
from schema.errors import UserError
from schema.node import DATABASE_ID_DOC, RAW_ID_NOTE, Node, bare_id_deprecation, global_id, optional_global_id


@strawberry.enum(description="Where a break was found.")
class ReconciliationSection(Enum):
    TRADING = "trading"
    PSP = "psp"
    INTEGRITY = "integrity"
    BALANCE = "balance"


@strawberry.enum
class BreakKind(Enum):
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_ON_PLATFORM = "missing_on_platform"
    MISSING_AT_PSP = "missing_at_psp"
    AMOUNT_MISMATCH = "amount_mismatch"
    ACCOUNT_MISMATCH = "account_mismatch"
    DUPLICATE = "duplicate"
    TIMING = "timing"
    BALANCE_DRIFT = "balance_drift"
    BALANCE_MISMATCH = "balance_mismatch"


@strawberry.enum(description="open -> resolved (with an adjustment entry) | explained; cleared = gone on re-run.")
class BreakStatus(Enum):
    OPEN = "open"
    RESOLVED = "resolved"
    EXPLAINED = "explained"
    CLEARED = "cleared"


@strawberry.type
class KindCount:
    kind: str
    count: int


@strawberry.type(description="Counts of one section: `matched` items and breaks by kind.")
class SectionSummary:
    section: ReconciliationSection
    matched: int
    breaks: int
    by_kind: list[KindCount]


@strawberry.type
class ReconciliationSummary:
    matched: int
    breaks: int
    open_breaks: int
    sections: list[SectionSummary]


@strawberry.type(description="One reconciliation as of a cutoff, over (windowStart, cutoff].")
class ReconciliationRun(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    cutoff: datetime
    window_start: datetime
    status: str
    attempts: int
    duration_ms: int | None
    started_at: datetime
    finished_at: datetime | None
    summary: ReconciliationSummary

    @classmethod
    def of(cls, run: RunView) -> ReconciliationRun:
        raw: dict[str, Any] = run.summary
        sections = [
            SectionSummary(section=ReconciliationSection(name), matched=int(counts.get("matched", 0)),
                           breaks=sum(int(n) for k, n in counts.items() if k != "matched"),
                           by_kind=[KindCount(kind=k, count=int(n)) for k, n in sorted(counts.items())])
            for name, counts in sorted(dict(raw.get("sections", {})).items())
        ]
        summary = ReconciliationSummary(matched=int(raw.get("matched", 0)), breaks=int(raw.get("breaks", 0)),
                                        open_breaks=int(raw.get("openBreaks", 0)), sections=sections)
        return cls(id=global_id("ReconciliationRun", run.id), database_id=strawberry.ID(str(run.id)), cutoff=run.cutoff,
                   window_start=run.window_start, status=run.status, attempts=run.attempts,
                   duration_ms=run.duration_ms, started_at=run.started_at,
                   finished_at=run.finished_at, summary=summary)


@strawberry.type
class BreakComment(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    author_id: strawberry.ID | None = strawberry.field(deprecation_reason=bare_id_deprecation("authorStaffUserId"))
    author_staff_user_id: strawberry.ID | None = strawberry.field(description="The author's global id (StaffUser.id).")
    text: str
    created_at: datetime

    @classmethod
    def of(cls, c: CommentView) -> BreakComment:
        return cls(id=global_id("BreakComment", c.id), database_id=strawberry.ID(str(c.id)), text=c.text,
                   created_at=c.created_at, author_staff_user_id=optional_global_id("StaffUser", c.author_id),
                   author_id=strawberry.ID(str(c.author_id)) if c.author_id is not None else None)


@strawberry.type(description="A difference between two sides, with each side's evidence and a suggested cause.")
class ReconciliationBreak(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    run_id: strawberry.ID = strawberry.field(description="The run's global id (ReconciliationRun.id).")
    section: ReconciliationSection
    kind: BreakKind
    key: str
    currency: str | None
    amount_diff: str | None = strawberry.field(description="Other side minus ledger, unrounded.")
    evidence: JSON
    suggested_cause: str
    status: BreakStatus
    assignee_id: strawberry.ID | None = strawberry.field(deprecation_reason=bare_id_deprecation("assigneeStaffUserId"))
    assignee_staff_user_id: strawberry.ID | None = strawberry.field(
        description="The assignee's global id (StaffUser.id).")
    adjustment_entry_id: strawberry.ID | None
    explanation: str | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime
    comments: list[BreakComment]

    @classmethod
    def of(cls, b: BreakView, comments: list[CommentView] | None = None) -> ReconciliationBreak:
        def opt(v: int | None) -> strawberry.ID | None:
            return strawberry.ID(str(v)) if v is not None else None

        return cls(
            id=global_id("ReconciliationBreak", b.id), database_id=strawberry.ID(str(b.id)),
            run_id=global_id("ReconciliationRun", b.run_id),
            section=ReconciliationSection(b.section), kind=BreakKind(b.kind.value), key=b.key, currency=b.currency,
            amount_diff=decimal_text(b.amount_diff) if b.amount_diff is not None else None,
            evidence=cast(JSON, b.evidence),
            suggested_cause=b.suggested_cause, status=BreakStatus(b.status.value), assignee_id=opt(b.assignee_id),
            assignee_staff_user_id=optional_global_id("StaffUser", b.assignee_id),
            adjustment_entry_id=opt(b.adjustment_entry_id), explanation=b.explanation, resolved_at=b.resolved_at,
            created_at=b.created_at, updated_at=b.updated_at, comments=[BreakComment.of(c) for c in comments or []],
        )


@strawberry.input
class ReconciliationBreakFilter:
    run_id: strawberry.ID | None = strawberry.field(default=None, description=RAW_ID_NOTE)
    status: BreakStatus | None = None
    kind: BreakKind | None = None


@strawberry.input(description="Exactly one: the ledger entry that corrected the break, or an explanation.")
class BreakResolutionInput:
    adjustment_entry_id: strawberry.ID | None = None
    explanation: str | None = None


@strawberry.type
class SettlementReport(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    provider: str
    line_count: int
    replayed: bool = strawberry.field(description="The import that answered found the same file stored already "
                                                  "(false when the report is fetched again by id).")

    @classmethod
    def of(cls, r: ImportedReport) -> SettlementReport:
        return cls(id=global_id("SettlementReport", r.id), database_id=strawberry.ID(str(r.id)), provider=r.provider,
                   line_count=r.line_count, replayed=r.replayed)


@strawberry.type
class RunReconciliationPayload:
    run: ReconciliationRun | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class BreakPayload:
    reconciliation_break: ReconciliationBreak | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CommentOnBreakPayload:
    comment: BreakComment | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ImportSettlementReportPayload:
    report: SettlementReport | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

