from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from domain.reconciliation import camt, client_money
from domain.reconciliation.breaks import BreakView, CommentView
from domain.reconciliation.client_money import ResourceView, SignOffView
from domain.reconciliation.client_money_return import ReturnLine
from domain.reconciliation.runs import RunView
from domain.reconciliation.settlement import ImportedReport
from domain.shared.money import at_scale, decimal_text
from schema.clients.staff import DocumentViewLink
from schema.context import Context
from schema.errors import UserError
from schema.node import DATABASE_ID_DOC, RAW_ID_NOTE, Node, bare_id_deprecation, global_id, optional_global_id


@strawberry.enum(description="Where a break was found.")
class ReconciliationSection(Enum):
    TRADING = "trading"
    PSP = "psp"
    INTEGRITY = "integrity"
    BALANCE = "balance"
    CLIENT_MONEY = "client_money"
    BANK = "bank"


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
    SHORTFALL = "shortfall"
    EXCESS = "excess"
    MISSING_IN_BANK = "missing_in_bank"
    OPENING_BALANCE_MISMATCH = "opening_balance_mismatch"


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


@strawberry.type(description="The client-money result of one currency at the close (CASS 7 standard method): "
                                    "figures fixed to the currency's scale.")
class ClientMoneyLine:
    currency: str
    kind: str = strawberry.field(description="matched | shortfall | excess")
    close_date: date
    clients: int = strawberry.field(description="Clients (and unowned trading accounts) the firm holds money for "
                                                "in the currency: net position above zero (a wallet at zero is "
                                                "not counted).")
    negative_clients: int = strawberry.field(description="Clients whose net position is negative (counted as zero).")
    wallet_balances: str
    trading_equity: str
    negative_floored: str = strawberry.field(description="The negative net positions left out of the requirement.")
    requirement: str = strawberry.field(description="Sum per client of max(0, wallets + equity).")
    bank_balances: str
    psp_balances: str
    resource: str = strawberry.field(description="Segregated bank + PSP balances recorded for the close date (a bank "
                                                 "account's from its imported statement's closing balance).")
    difference: str = strawberry.field(description="resource - requirement: < 0 shortfall, > 0 excess.")

    @classmethod
    def of(cls, line: dict[str, Any]) -> ClientMoneyLine:
        def f(name: str) -> str:
            return str(line.get(name, "0"))

        return cls(currency=str(line["currency"]), kind=str(line["kind"]),
                   close_date=date.fromisoformat(str(line["closeDate"])), clients=int(line.get("clients", 0)),
                   negative_clients=int(line.get("negativeClients", 0)), wallet_balances=f("walletBalances"),
                   trading_equity=f("tradingEquity"), negative_floored=f("negativeFloored"),
                   requirement=f("requirement"), bank_balances=f("bankBalances"), psp_balances=f("pspBalances"),
                   resource=f("resource"), difference=f("difference"))


@strawberry.type(description="A named staff member's sign-off of a run's client-money result.")
class ClientMoneySignOff:
    signed_by_staff_user_id: strawberry.ID = strawberry.field(description="The signer's global id (StaffUser.id).")
    signed_at: datetime
    note: str | None
    open_breaks: int = strawberry.field(description="Client-money and bank breaks still open when signed.")
    lines: list[ClientMoneyLine] = strawberry.field(description="The lines as they were signed.")
    preparer_staff_user_ids: list[strawberry.ID] = strawberry.field(
        description="Who prepared the close (recorded a resource, imported its statement, resolved one of its "
                    "breaks): the signer is none of them (four eyes).")

    @classmethod
    def of(cls, s: SignOffView) -> ClientMoneySignOff:
        return cls(signed_by_staff_user_id=global_id("StaffUser", s.signed_by), signed_at=s.signed_at, note=s.note,
                   open_breaks=s.open_breaks, lines=[ClientMoneyLine.of(x) for x in s.lines],
                   preparer_staff_user_ids=[global_id("StaffUser", u) for u in s.preparers])


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
    client_money: list[ClientMoneyLine] = strawberry.field(
        description="The client-money section per currency (empty for runs made before the section existed).")

    @strawberry.field(description="The sign-off of this run's client-money result, if signed.")
    async def client_money_sign_off(self, info: strawberry.Info[Context, Any]) -> ClientMoneySignOff | None:
        run_id = int(self.database_id)
        async with info.context.session() as session:
            found = await client_money.signoffs_of(session, [run_id])
        return ClientMoneySignOff.of(found[run_id]) if run_id in found else None

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
                   finished_at=run.finished_at, summary=summary,
                   client_money=[ClientMoneyLine.of(x) for x in raw.get("clientMoney", [])])


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
    section: ReconciliationSection | None = None


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



@strawberry.enum(description="Where client money is held.")
class ClientMoneyResourceKind(Enum):
    BANK = "bank"
    PSP = "psp"


@strawberry.type(description="A segregated client-money balance (bank or PSP) per account and currency at a date.")
class ClientMoneyResource:
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    as_of: date
    kind: ClientMoneyResourceKind
    account: str
    currency: str
    balance: str = strawberry.field(description="Fixed to the currency's scale.")
    recorded_by_staff_user_id: strawberry.ID | None
    recorded_at: datetime

    @classmethod
    def of(cls, r: ResourceView) -> ClientMoneyResource:
        return cls(database_id=strawberry.ID(str(r.id)), as_of=r.as_of, kind=ClientMoneyResourceKind(r.kind.value),
                   account=r.account, currency=r.currency, balance=str(at_scale(r.balance, r.currency)),
                   recorded_by_staff_user_id=optional_global_id("StaffUser", r.recorded_by), recorded_at=r.recorded_at)


@strawberry.input(description="One statement balance: recording the same date, kind, account and currency again "
                              "replaces it.")
class ClientMoneyResourceInput:
    as_of: date = strawberry.field(description="The business day whose close the balance is (not in the future).")
    kind: ClientMoneyResourceKind
    account: str = strawberry.field(description="The bank account or PSP name, 1 to 80 characters.")
    currency: str
    balance: str = strawberry.field(description="Plain decimal, >= 0, at most the currency's scale.")


@strawberry.type
class RecordClientMoneyResourcePayload:
    resource: ClientMoneyResource | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SignOffClientMoneyPayload:
    sign_off: ClientMoneySignOff | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="An opening (OPBD) or closing (CLBD) booked balance of a statement, signed.")
class BankStatementBalance:
    type: str = strawberry.field(description="OPBD | CLBD")
    currency: str
    amount: str
    as_of: date

    @classmethod
    def of(cls, b: camt.Balance) -> BankStatementBalance:
        return cls(type=b.type, currency=b.currency, amount=str(at_scale(b.amount, b.currency)), as_of=b.as_of)


@strawberry.type(description="An imported camt.053 bank statement of a segregated client bank account.")
class BankStatement:
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    iban: str = strawberry.field(description="The account's IBAN (or the bank's other identification).")
    statement_id: str
    electronic_sequence_number: str | None
    version: str = strawberry.field(description="camt.053.001.<version>: 02 or 08.")
    message_id: str
    created_at: datetime | None
    closing_date: date | None
    entry_count: int
    sha256: str
    imported_by_staff_user_id: strawberry.ID | None
    imported_at: datetime
    balances: list[BankStatementBalance]

    @classmethod
    def of(cls, v: camt.StatementView) -> BankStatement:
        return cls(database_id=strawberry.ID(str(v.id)), iban=v.iban, statement_id=v.statement_id,
                   electronic_sequence_number=str(v.electronic_seq) if v.electronic_seq is not None else None,
                   version=v.version, message_id=v.message_id, created_at=v.created_at, closing_date=v.closing_date,
                   entry_count=v.entry_count, sha256=v.sha256,
                   imported_by_staff_user_id=optional_global_id("StaffUser", v.imported_by), imported_at=v.imported_at,
                   balances=[BankStatementBalance.of(b) for b in v.balances])


@strawberry.type(description="One entry (Ntry) of an imported camt.053 statement, as the bank booked it.")
class BankStatementEntry:
    line_no: int = strawberry.field(description="Its position in the statement, from 1.")
    amount: str = strawberry.field(description="Signed (a debit is negative), at the currency's scale.")
    currency: str
    status: str = strawberry.field(description="BOOK | PDNG | INFO: only booked entries are reconciled.")
    booking_date: date | None
    value_date: date | None
    bank_reference: str | None = strawberry.field(description="The bank's reference (AcctSvcrRef).")
    end_to_end_id: str | None
    remittance: str
    payment_reference: str | None = strawberry.field(
        description="Our payment reference found in EndToEndId or the remittance: the bank section of the runs "
                    "matches the entry with the ledger's wire postings by it (null: reported missing in the ledger).")

    @classmethod
    def of(cls, e: camt.EntryView) -> BankStatementEntry:
        return cls(line_no=e.line_no, amount=str(at_scale(e.amount, e.currency)), currency=e.currency,
                   status=e.status, booking_date=e.booking_date, value_date=e.value_date,
                   bank_reference=e.acct_svcr_ref, end_to_end_id=e.end_to_end_id, remittance=e.remittance,
                   payment_reference=e.reference)


@strawberry.type(description="Something the import noticed without refusing the file (the run of the close raises "
                              "it as a break): OPENING_BALANCE_MISMATCH.")
class BankStatementWarning:
    code: str
    statement_id: str
    currency: str
    message: str
    opening: str
    previous_closing: str
    previous_statement_id: str

    @classmethod
    def of(cls, w: camt.Warning) -> BankStatementWarning:
        return cls(code=w.code, statement_id=w.statement_id, currency=w.currency, message=w.message,
                   opening=str(at_scale(w.opening, w.currency)),
                   previous_closing=str(at_scale(w.previous_closing, w.currency)),
                   previous_statement_id=w.previous_statement_id)


@strawberry.type
class ImportClientMoneyStatementPayload:
    statements: list[BankStatement] | None = None
    warnings: list[BankStatementWarning] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="One currency's line of the monthly client money return (CMAR-like).")
class ClientMoneyReturnLine:
    month: str
    currency: str
    month_end_close: date = strawberry.field(description="The last close of the month with this currency.")
    requirement: str
    resource: str
    difference: str
    highest_requirement: str
    highest_on: date
    lowest_requirement: str
    lowest_on: date
    days_reconciled: int
    shortfall_days: int
    breaks: int = strawberry.field(description="Client-money and bank breaks of the month's closes.")
    shortfall_breaks: int
    resolved_breaks: int = strawberry.field(description="Resolved or explained.")
    open_breaks: int
    first_resolved_at: datetime | None
    last_resolved_at: datetime | None
    signed_off_days: int
    last_signed_off_at: datetime | None
    last_signed_off_by_staff_user_id: strawberry.ID | None

    @classmethod
    def of(cls, r: ReturnLine) -> ClientMoneyReturnLine:
        return cls(month=r.month, currency=r.currency, month_end_close=r.month_end_close,
                   requirement=str(r.requirement), resource=str(r.resource),
                   difference=str(r.difference), highest_requirement=str(r.highest_requirement),
                   highest_on=r.highest_on, lowest_requirement=str(r.lowest_requirement),
                   lowest_on=r.lowest_on, days_reconciled=r.days_reconciled, shortfall_days=r.shortfall_days,
                   breaks=r.breaks, shortfall_breaks=r.shortfall_breaks, resolved_breaks=r.resolved_breaks,
                   open_breaks=r.open_breaks, first_resolved_at=r.first_resolved_at,
                   last_resolved_at=r.last_resolved_at, signed_off_days=r.signed_off_days,
                   last_signed_off_at=r.last_signed_off_at,
                   last_signed_off_by_staff_user_id=optional_global_id("StaffUser", r.last_signed_off_by))


@strawberry.enum
class ClientMoneyReturnFormat(Enum):
    CSV = "csv"
    XLSX = "xlsx"


@strawberry.type
class ClientMoneyReturnLinkPayload:
    link: DocumentViewLink | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
