from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.file_uploads import Upload
from strawberry.types import Info

from domain.reconciliation import breaks, camt, client_money, runs, settlement
from domain.reconciliation import client_money_return as cmar
from domain.reconciliation.errors import AdjustmentEntryNotFound, StatementInvalid
from domain.shared.actor import ActorKind
from domain.shared.errors import DomainError, InvalidId
from domain.shared.money import parse_decimal
from domain.shared.pagination import cursor_decoder
from schema.clients.staff import DocumentViewLink
from schema.context import Context
from schema.errors import declares_errors, payload_or_errors
from schema.node import AnyId, key_of, node_type
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires
from schema.reconciliation.types import (
    BankStatement,
    BankStatementEntry,
    BankStatementWarning,
    BreakComment,
    BreakPayload,
    BreakResolutionInput,
    ClientMoneyResource,
    ClientMoneyResourceInput,
    ClientMoneyReturnFormat,
    ClientMoneyReturnLine,
    ClientMoneyReturnLinkPayload,
    ClientMoneySignOff,
    CommentOnBreakPayload,
    ImportClientMoneyStatementPayload,
    ImportSettlementReportPayload,
    ReconciliationBreak,
    ReconciliationBreakFilter,
    ReconciliationRun,
    RecordClientMoneyResourcePayload,
    RunReconciliationPayload,
    SettlementReport,
    SignOffClientMoneyPayload,
)

MANAGE = "reconciliation.manage"
_ENTRY_CURSOR = cursor_decoder(int, int)  # (statement, line)
SIGN_OFF = "reconciliation.sign_off"
UPLOAD_CHUNK = 1 << 20


def _id(value: strawberry.ID | str, error: type[DomainError], field: str) -> int:
    """A ledger entry's id (entries are not Nodes): a malformed one is not found."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise error("no such object", field=field) from None


def _staff(ctx: Context) -> bool:
    return ctx.actor.kind is ActorKind.STAFF and ctx.actor.has(MANAGE)


@node_type("ReconciliationRun")
async def _run_nodes(ctx: Context, keys: Sequence[int]) -> list[ReconciliationRun | None]:
    """Staff with reconciliation.manage, as reconciliationRun."""
    if not _staff(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await runs.runs_by_ids(session, list(keys))
    return [ReconciliationRun.of(r) if (r := found.get(k)) else None for k in keys]


@node_type("ReconciliationBreak")
async def _break_nodes(ctx: Context, keys: Sequence[int]) -> list[ReconciliationBreak | None]:
    """Staff with reconciliation.manage, as reconciliationBreaks (with their comments)."""
    if not _staff(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await breaks.breaks_by_ids(session, list(keys))
        converted = {b.database_id: b for b in await _with_comments(session, list(found.values()))}
    return [converted.get(strawberry.ID(str(k))) for k in keys]


@node_type("SettlementReport")
async def _settlement_report_nodes(ctx: Context, keys: Sequence[int]) -> list[SettlementReport | None]:
    """Staff with reconciliation.manage, as importSettlementReport."""
    if not _staff(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await settlement.reports_by_ids(session, keys)
    return [SettlementReport.of(r) if (r := found.get(k)) else None for k in keys]


@node_type("BreakComment")
async def _comment_nodes(ctx: Context, keys: Sequence[int]) -> list[BreakComment | None]:
    """Staff with reconciliation.manage, as ReconciliationBreak.comments."""
    if not _staff(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await breaks.comments_by_ids(session, list(keys))
    return [BreakComment.of(c) if (c := found.get(k)) else None for k in keys]


def _run_key(r: runs.RunView) -> tuple[datetime, int]:
    return r.created_at, r.id


def _break_key(b: breaks.BreakView) -> tuple[datetime, int]:
    return b.created_at, b.id


async def _with_comments(session: AsyncSession, items: list[breaks.BreakView]) -> list[ReconciliationBreak]:
    comments = await breaks.comments_of(session, [b.id for b in items])
    return [ReconciliationBreak.of(b, comments[b.id]) for b in items]


@strawberry.type
class ReconciliationQueries:
    @strawberry.field(permission_classes=[Requires(MANAGE)], description="Reconciliation runs, newest first.")
    async def reconciliation_runs(
        self, info: Info[Context, Any], first: int | None = None,
        after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[ReconciliationRun]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await runs.list_runs(session, page=req)
        return to_connection(page, ReconciliationRun.of, _run_key)

    @strawberry.field(permission_classes=[Requires(MANAGE)], description="One run with its summary.")
    async def reconciliation_run(self, info: Info[Context, Any], id: AnyId) -> ReconciliationRun:
        async with info.context.session() as session:
            return ReconciliationRun.of(await runs.get_run(session, key_of(id, "ReconciliationRun")))

    @strawberry.field(permission_classes=[Requires(MANAGE)], description="Breaks, newest first, with comments.")
    async def reconciliation_breaks(
        self, info: Info[Context, Any], filter: ReconciliationBreakFilter | None = None, first: int | None = None,
        after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[ReconciliationBreak]:
        req = page_request(info, first, after, last, before)
        f = filter or ReconciliationBreakFilter()
        async with info.context.session() as session:
            run_id = key_of(f.run_id, "ReconciliationRun", field="filter.runId") if f.run_id is not None else None
            if run_id is not None:
                await runs.get_run(session, run_id)
            page = await breaks.list_breaks(
                session, run_id=run_id, status=breaks.BreakStatus(f.status.value) if f.status else None,
                kind=breaks.BreakKind(f.kind.value) if f.kind else None,
                section=f.section.value if f.section else None, page=req)
            converted = dict(zip([b.id for b in page.items], await _with_comments(session, list(page.items)),
                                 strict=True))
        return to_connection(page, lambda b: converted[b.id], _break_key)

    @strawberry.field(permission_classes=[Requires(MANAGE)],
                      description="Recorded client-money resources (segregated bank and PSP balances), newest first.")
    async def client_money_resources(
        self, info: Info[Context, Any], as_of: date | None = None, currency: str | None = None,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[ClientMoneyResource]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await client_money.list_resources(session, as_of=as_of, currency=currency, page=req)
        return to_connection(page, ClientMoneyResource.of, lambda r: (r.recorded_at, r.id))

    @strawberry.field(permission_classes=[Requires(MANAGE)],
                      description="Imported camt.053 bank statements, newest import first (optionally one IBAN's).")
    async def bank_statements(
        self, info: Info[Context, Any], iban: str | None = None,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[BankStatement]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await camt.list_statements(session, iban=iban, page=req)
        return to_connection(page, BankStatement.of, lambda v: (v.imported_at, v.id))

    @strawberry.field(permission_classes=[Requires(MANAGE)],
                      description="An imported statement's entries in the bank's order (none for an unknown "
                                  "statement).")
    async def bank_statement_entries(
        self, info: Info[Context, Any], statement_id: strawberry.ID,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[BankStatementEntry]:
        req = page_request(info, first, after, last, before, decode=_ENTRY_CURSOR)
        sid = str(statement_id).strip()
        if not sid.isdigit() or len(sid) > 18:
            raise InvalidId("statementId is a bank statement's databaseId", field="statementId")
        async with info.context.session() as session:
            page = await camt.list_entries(session, statement_id=int(sid), page=req)
        return to_connection(page, BankStatementEntry.of, lambda e: (e.statement_id, e.line_no))

    @strawberry.field(permission_classes=[Requires(MANAGE)],
                      description="The monthly client money return (CMAR-like) for a month (YYYY-MM): one line per "
                                  "currency from the month's daily closes; clientMoneyReturnLink downloads it.")
    async def client_money_return(self, info: Info[Context, Any], month: str) -> list[ClientMoneyReturnLine]:
        async with info.context.session() as session:
            return [ClientMoneyReturnLine.of(x) for x in await cmar.return_lines(session, month)]


@strawberry.type
class ReconciliationMutations:
    @declares_errors("INVALID_CUTOFF")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Reconcile as of a cutoff (default: the latest midnight UTC); re-running "
                                     "a cutoff updates its breaks in place.")
    async def run_reconciliation(
        self, info: Info[Context, Any], cutoff: datetime | None = None,
    ) -> RunReconciliationPayload:
        ctx = info.context

        async def work() -> RunReconciliationPayload:
            cut = cutoff or runs.latest_midnight()
            view = await ctx.transaction(lambda s: runs.run_reconciliation(s, ctx.actor, cut))
            return RunReconciliationPayload(run=ReconciliationRun.of(view))

        return await payload_or_errors(work, lambda errors: RunReconciliationPayload(errors=errors))

    @declares_errors("ASSIGNEE_NOT_FOUND", "BREAK_ALREADY_CLOSED", "INVALID_ID", "RECONCILIATION_BREAK_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)], description="Assign a break to a staff user.")
    async def assign_break(self, info: Info[Context, Any], id: AnyId, user_id: AnyId) -> BreakPayload:
        ctx = info.context

        async def work() -> BreakPayload:
            bid, uid = key_of(id, "ReconciliationBreak"), key_of(user_id, "StaffUser", field="userId")

            async def txn(s: AsyncSession) -> ReconciliationBreak:
                return (await _with_comments(s, [await breaks.assign_break(s, ctx.actor, bid, uid)]))[0]

            return BreakPayload(reconciliation_break=await ctx.transaction(txn))

        return await payload_or_errors(work, lambda errors: BreakPayload(errors=errors))

    @declares_errors("INVALID_ID", "INVALID_RESOLUTION", "RECONCILIATION_BREAK_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)], description="Add a comment to a break.")
    async def comment_on_break(self, info: Info[Context, Any], id: AnyId, text: str) -> CommentOnBreakPayload:
        ctx = info.context

        async def work() -> CommentOnBreakPayload:
            bid = key_of(id, "ReconciliationBreak")
            made = await ctx.transaction(lambda s: breaks.comment_on_break(s, ctx.actor, bid, text))
            return CommentOnBreakPayload(comment=BreakComment.of(made))

        return await payload_or_errors(work, lambda errors: CommentOnBreakPayload(errors=errors))

    @declares_errors(
        "ADJUSTMENT_ENTRY_NOT_FOUND", "BREAK_ALREADY_CLOSED", "INVALID_ID", "INVALID_RESOLUTION",
        "RECONCILIATION_BREAK_NOT_FOUND",
    )
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Close a break with the adjustment entry that fixed it, or an explanation.")
    async def resolve_break(
        self, info: Info[Context, Any], id: AnyId, resolution: BreakResolutionInput,
    ) -> BreakPayload:
        ctx = info.context

        async def work() -> BreakPayload:
            bid = key_of(id, "ReconciliationBreak")
            entry = (_id(resolution.adjustment_entry_id, AdjustmentEntryNotFound, "resolution.adjustmentEntryId")
                     if resolution.adjustment_entry_id is not None else None)

            async def txn(s: AsyncSession) -> ReconciliationBreak:
                done = await breaks.resolve_break(s, ctx.actor, bid, adjustment_entry_id=entry,
                                                  explanation=resolution.explanation)
                return (await _with_comments(s, [done]))[0]

            return BreakPayload(reconciliation_break=await ctx.transaction(txn))

        return await payload_or_errors(work, lambda errors: BreakPayload(errors=errors))

    @declares_errors("AMOUNT_PRECISION", "INVALID_AMOUNT", "INVALID_SETTLEMENT_REPORT", "UNKNOWN_CURRENCY")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Import a PSP settlement report (CSV: provider, reference, amount, currency, "
                                     "fee, settled_at, status); the same file twice is stored once.")
    async def import_settlement_report(
        self, info: Info[Context, Any], provider: str, csv: str,
    ) -> ImportSettlementReportPayload:
        ctx = info.context

        async def work() -> ImportSettlementReportPayload:
            report = await ctx.transaction(lambda s: settlement.import_csv(s, ctx.actor, provider, csv))
            return ImportSettlementReportPayload(report=SettlementReport.of(report))

        return await payload_or_errors(work, lambda errors: ImportSettlementReportPayload(errors=errors))


    @declares_errors("AMOUNT_PRECISION", "CLIENT_MONEY_BALANCE_FROM_STATEMENT", "INVALID_AMOUNT",
                     "INVALID_CLIENT_MONEY_BALANCE", "UNKNOWN_CURRENCY")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Record a segregated client-money balance (bank or PSP statement) for a day's "
                                     "close; the run of that close counts it in the client-money resource.")
    async def record_client_money_resource(
        self, info: Info[Context, Any], input: ClientMoneyResourceInput,
    ) -> RecordClientMoneyResourcePayload:
        ctx = info.context

        async def work() -> RecordClientMoneyResourcePayload:
            amount = parse_decimal(input.balance, field="balance")
            made = await ctx.transaction(lambda s: client_money.record_resource(
                s, ctx.actor, as_of=input.as_of, kind=client_money.ResourceKind(input.kind.value),
                account=input.account, currency=input.currency, balance=amount))
            return RecordClientMoneyResourcePayload(resource=ClientMoneyResource.of(made))

        return await payload_or_errors(work, lambda errors: RecordClientMoneyResourcePayload(errors=errors))

    @declares_errors("CLIENT_MONEY_ALREADY_SIGNED_OFF", "CLIENT_MONEY_FOUR_EYES", "CLIENT_MONEY_NOT_SIGNABLE",
                     "INVALID_ID", "INVALID_RESOLUTION", "RECONCILIATION_RUN_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(SIGN_OFF)],
                         description="Sign off a run's client-money result (once per run, by the signed-in staff "
                                     "member, who must not have prepared the close: recorded one of its resources, "
                                     "imported its statement or resolved one of its breaks); its breaks are worked "
                                     "with assignBreak / resolveBreak.")
    async def sign_off_client_money(
        self, info: Info[Context, Any], run_id: AnyId, note: str | None = None,
    ) -> SignOffClientMoneyPayload:
        ctx = info.context

        async def work() -> SignOffClientMoneyPayload:
            rid = key_of(run_id, "ReconciliationRun", field="runId")
            done = await ctx.transaction(lambda s: client_money.sign_off(s, ctx.actor, rid, note))
            return SignOffClientMoneyPayload(sign_off=ClientMoneySignOff.of(done))

        return await payload_or_errors(work, lambda errors: SignOffClientMoneyPayload(errors=errors))


    @declares_errors("BANK_STATEMENT_DUPLICATE", "BANK_STATEMENT_INVALID", "UNKNOWN_CURRENCY")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="Import a segregated client bank account's statement, ISO 20022 camt.053 "
                                     "(camt.053.001.02 or .08; GraphQL multipart request), validated against the "
                                     "XSD: its entries are reconciled with the ledger's wire postings by the runs "
                                     "(bank section) and each closing booked balance becomes the account's client "
                                     "money resource for its date. The same statement (account and statement id) "
                                     "twice is refused; a refused file changes nothing.")
    async def import_client_money_statement(
        self, info: Info[Context, Any], file: Upload,
    ) -> ImportClientMoneyStatementPayload:
        ctx = info.context
        limit = ctx.settings.max_upload_bytes

        async def work() -> ImportClientMoneyStatementPayload:
            with tempfile.TemporaryDirectory(prefix="camt-") as folder:
                path = Path(folder) / "statement.xml"
                size = 0
                with path.open("wb") as out:
                    while chunk := await file.read(UPLOAD_CHUNK):  # type: ignore[attr-defined]
                        size += len(chunk)
                        if size > limit:
                            raise StatementInvalid(f"a statement is at most {limit} bytes", field="file")
                        out.write(chunk)
                done = await ctx.transaction(lambda s: camt.import_file(s, ctx.actor, path))
            return ImportClientMoneyStatementPayload(statements=[BankStatement.of(v) for v in done.statements],
                                              warnings=[BankStatementWarning.of(w) for w in done.warnings])

        return await payload_or_errors(work, lambda errors: ImportClientMoneyStatementPayload(errors=errors))

    @declares_errors("CLIENT_MONEY_RETURN_NOT_FOUND", "INVALID_CLIENT_MONEY_RETURN_PERIOD")
    @strawberry.mutation(permission_classes=[Requires(MANAGE)],
                         description="A link (GET, about 60 s, this session only) that downloads a month's client "
                                     "money return as CSV or XLSX; issuing and every download are audited.")
    async def client_money_return_link(
        self, info: Info[Context, Any], month: str, format: ClientMoneyReturnFormat,
    ) -> ClientMoneyReturnLinkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> ClientMoneyReturnLinkPayload:
            issued = await cmar.issue(session, ctx.settings, ctx.actor, month, format.value)
            return ClientMoneyReturnLinkPayload(link=DocumentViewLink(
                url=issued.url, expires_at=datetime.fromtimestamp(issued.expires_at, UTC)))

        return await payload_or_errors(lambda: ctx.transaction(txn),
                                       lambda e: ClientMoneyReturnLinkPayload(errors=e))


QUERIES = (ReconciliationQueries,)
MUTATIONS = (ReconciliationMutations,)
SUBSCRIPTIONS = ()
